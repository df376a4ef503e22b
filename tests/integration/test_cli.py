"""The ``deskpilot`` command line as users run it: real subprocesses, a real history file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "resources" / "examples"


def python(
    *args: str,
    home: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """This interpreter run afresh with ``args``, in ``home``; its output as text."""
    environment = {**os.environ, "DESKPILOT_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=environment,
        timeout=timeout,
        cwd=ROOT,
    )


def deskpilot(*args: str, home: Path, **options: Any) -> subprocess.CompletedProcess[str]:
    return python("-m", "supervisor.cli.main", *args, home=home, **options)


#: A probe's start: ``deskpilot ARGV`` in the probe's own interpreter, then its last lines
#: report on what that left in ``sys.modules``.
CLI_IN_PROBE = (
    "import sys\n"
    "from supervisor.cli.main import cli\n"
    "try:\n"
    "    cli(sys.argv[1:], prog_name='deskpilot')\n"
    "except SystemExit:\n"
    "    pass\n"
)


def completion(home: Path, words: str, cword: int) -> subprocess.CompletedProcess[str]:
    """Bash completion of word ``cword`` of ``words``: click prints one ``TYPE,VALUE`` a line."""
    env = {"_DESKPILOT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    run_cli = "from supervisor.cli.main import cli; cli(prog_name='deskpilot')"
    return python("-c", run_cli, home=home, env=env)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_run_hello_succeeds_records_history_and_prints_json(home: Path) -> None:
    result = deskpilot(
        "run",
        str(EXAMPLES / "hello.yaml"),
        "--input",
        "who=Ada",
        "--input",
        "count=4",
        "--json",
        home=home,
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    assert summary["outputs"] == {"greeting": "Hello, Ada!", "total": 10}
    assert summary["nodes"]["tally"]["executions"] == 4
    assert summary["nodes"]["greet"]["outputs"] == {"text": "Hello, Ada!"}
    # progress went to stderr, one plain line per event (not a TTY)
    assert "greet succeeded" in result.stderr

    listed = deskpilot("runs", "list", "--json", home=home)
    runs = json.loads(listed.stdout)
    assert [r["id"] for r in runs] == [summary["run_id"]]
    assert runs[0]["status"] == "succeeded"

    shown = deskpilot("runs", "show", summary["run_id"][:8], home=home)
    assert shown.returncode == 0, shown.stderr
    assert "tally" in shown.stdout and "Hello, Ada!" in shown.stdout


def test_failed_run_exits_one_and_names_the_node(home: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "fails.yaml"
    workflow.write_text(
        textwrap.dedent(
            """
            name: fails
            nodes:
              read:
                block: file.read
                with: {path: does-not-exist.txt}
            """
        )
    )
    result = deskpilot("run", str(workflow), "--json", home=home)

    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert summary["failed_node"] == "read"
    assert "does-not-exist.txt" in summary["error"]
    assert "Traceback" not in result.stderr


def test_invalid_file_is_one_clear_message_not_a_traceback(home: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "bad.yaml"
    workflow.write_text(
        "name: bad\nnodes:\n  a:\n    block: no.such_block\n  b:\n    block: control.pass\n    timeout: soon\n"
    )
    result = deskpilot("run", str(workflow), home=home)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{workflow}:7:5: b.timeout: 'soon' is not a duration" in result.stderr


def test_validate_reports_every_problem_and_exit_codes(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent(
            """
            name: bad
            nodes:
              fetch:
                block: http.reqest
              save:
                block: file.write
                with: {pathh: x}
            links:
              - fetch.body -> nowhere.content
            """
        )
    )
    good = deskpilot("validate", *[str(p) for p in sorted(EXAMPLES.glob("*.yaml"))], home=home)
    assert good.returncode == 0, good.stdout + good.stderr

    result = deskpilot("validate", str(bad), "--json", home=home)
    assert result.returncode == 1
    issues = json.loads(result.stdout)[str(bad)]
    messages = " | ".join(i["message"] for i in issues)
    assert "unknown block 'http.reqest'" in messages
    assert "no input 'pathh'" in messages
    assert "unknown target node 'nowhere'" in messages
    assert "required input 'content'" in messages
    by_node = {i["node"] for i in issues}
    assert {"fetch", "save", "nowhere"} <= by_node
    assert all(i["file"] == str(bad) for i in issues)
    assert any(i["line"] == 5 for i in issues if i["node"] == "fetch")
    assert any("http.request" in (i["hint"] or "") for i in issues)


def test_validate_prints_clickable_lines_and_warnings_do_not_fail(
    home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nnodes:\n  a:\n    block: control.pass\n    timeout: soon\n")
    warned = tmp_path / "warned.yaml"
    warned.write_text(
        "name: warned\ninputs:\n  n: {type: integer, default: 3}\nnodes:\n"
        "  say:\n    block: notify.log\n    with:\n      message: '{{ inputs.n }}'\n"
    )
    result = deskpilot("validate", str(bad), str(warned), home=home)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{bad}:5:5: a.timeout: 'soon' is not a duration")
    assert lines[1] == f"{bad}: 1 error"
    assert lines[2].startswith(f"{warned}:8:7: warning: say.message: '{{{{ inputs.n }}}}' gives")
    assert lines[3] == f"{warned}: ok, 1 warning"

    only_warnings = deskpilot("validate", str(warned), "--format", "json", home=home)
    assert only_warnings.returncode == 0, "warnings never fail the check"
    (issue,) = json.loads(only_warnings.stdout)[str(warned)]
    assert issue == {
        "file": str(warned),
        "line": 8,
        "column": 7,
        "node": "say",
        "field": "message",
        "message": "'{{ inputs.n }}' gives a whole number, but notify.log takes text for "
        "'message'; it is passed on as text",
        "hint": "if that is meant, say so: '{{ inputs.n | string }}'",
        "severity": "warning",
    }


def test_blocks_list_show_and_schema(home: Path) -> None:
    listed = deskpilot("blocks", "list", "--json", home=home)
    ids = {b["id"] for b in json.loads(listed.stdout)}
    assert {"http.request", "file.write", "control.for_each", "process.run", "notify.email"} <= ids

    shown = deskpilot("blocks", "show", "http.request", home=home)
    assert "url" in shown.stdout and "(required)" in shown.stdout

    unknown = deskpilot("blocks", "show", "http.reqest", home=home)
    assert unknown.returncode != 0 and "http.request" in unknown.stderr

    schema = json.loads(deskpilot("schema", home=home).stdout)
    assert schema["title"] == "Workflow" and "nodes" in schema["properties"]


def test_bad_input_value_is_rejected_before_running(home: Path) -> None:
    result = deskpilot("run", str(EXAMPLES / "hello.yaml"), "--input", "count=many", home=home)
    assert result.returncode == 1
    assert "count" in result.stderr and "integer" in result.stderr
    assert "Traceback" not in result.stderr


PLUGIN = '''
from automation.blocks.base import Block, BlockInput, BlockOutput


class ShoutInput(BlockInput):
    text: str


class ShoutOutput(BlockOutput):
    text: str


class Shout(Block[ShoutInput]):
    """Upper-case a text."""

    id = "demo.shout"
    category = "data"
    Input = ShoutInput
    Output = ShoutOutput

    def run(self, inputs, ctx):
        return ShoutOutput(text=inputs.text.upper())
'''


def test_third_party_block_from_an_installed_distribution(home: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "deskpilot_demo_plugin.py").write_text(PLUGIN)
    dist = site / "deskpilot_demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: deskpilot-demo-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[deskpilot.blocks]\nshout = deskpilot_demo_plugin:Shout\n"
    )
    workflow = tmp_path / "shout.yaml"
    workflow.write_text(
        "name: shout\nnodes:\n  s:\n    block: demo.shout\n    with: {text: hi}\noutputs:\n  out: '{{ nodes.s.text }}'\n"
    )
    env = {"PYTHONPATH": str(site)}

    listed = deskpilot("blocks", "list", "--json", home=home, env=env)
    assert "demo.shout" in {b["id"] for b in json.loads(listed.stdout)}
    ran = deskpilot("run", str(workflow), "--json", home=home, env=env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"] == {"out": "HI"}


def test_history_database_is_wal_and_intact_after_runs(home: Path) -> None:
    for _ in range(2):
        assert deskpilot("run", str(EXAMPLES / "hello.yaml"), "--quiet", home=home).returncode == 0
    database = next(home.rglob("history.sqlite3"))
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("select count(*) from runs").fetchone()[0] == 2
        started, finished = connection.execute(
            "select count(started_at), count(finished_at) from step_runs"
        ).fetchone()
        assert started == finished == 16


def test_help_imports_no_subcommand() -> None:
    """``deskpilot --help`` (and shell completion) must not pay for SQLAlchemy, httpx or blocks."""
    probe = (
        "import sys\n"
        "from supervisor.cli.main import cli\n"
        "try:\n"
        "    cli(['--help'], prog_name='deskpilot')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('sqlalchemy', 'httpx', 'rich', 'automation.blocks', 'supervisor.store', 'alembic')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout, done.stdout[-500:]
    for command in ("run", "runs", "workflows", "breakers", "validate", "submit"):
        assert f"  {command} " in done.stdout


def test_every_subcommand_loads_and_has_help(home: Path) -> None:
    """Each command's ``--help`` answers without loading the HTTP client, the store, rich, the
    blocks, the redaction patterns or asyncio: those load when the command runs (issue:
    ``run --help`` took 3 s)."""
    from supervisor.cli.main import COMMANDS

    probe = CLI_IN_PROBE + (
        "heavy = ('sqlalchemy', 'httpx', 'rich', 'fastapi', 'automation.blocks', 'supervisor.store',"
        " 'alembic', 'automation.redaction', 'asyncio', 'pydantic', 'yaml')\n"
        "print('LOADED', sorted({m for m in sys.modules if m.startswith(heavy)}))\n"
    )
    nested = [["runs", "rerun"], ["runs", "show"], ["triggers", "list"], ["secrets", "set"]]
    for argv in [[name] for name in COMMANDS] + nested:
        name = " ".join(argv)
        shown = python("-c", probe, *argv, "--help", home=home)
        assert shown.returncode == 0, (name, shown.stderr)
        assert "Usage: deskpilot" in shown.stdout
        assert "LOADED []" in shown.stdout, (name, shown.stdout[-300:])


def test_run_and_submit_help_leave_the_engine_events_for_the_run(home: Path) -> None:
    """``run --help`` and ``submit --help`` do not import the engine's events, the history
    commands or the paths: those cost a third of their --help time and load when they run."""
    probe = CLI_IN_PROBE + (
        "later = ('automation.engine.events', 'supervisor.cli.history_cmd', "
        "'supervisor.cli.debug_prompt', 'supervisor.paths')\n"
        "print('LOADED', sorted(m for m in sys.modules if m in later))\n"
    )
    for name in ("run", "submit"):
        shown = python("-c", probe, name, "--help", home=home)
        assert shown.returncode == 0, (name, shown.stderr)
        assert "--break" in shown.stdout
        assert "LOADED []" in shown.stdout, (name, shown.stdout[-300:])


def test_completion_offers_run_ids_by_prefix(home: Path) -> None:
    ran = deskpilot("run", str(EXAMPLES / "hello.yaml"), "--json", home=home)
    run_id = json.loads(ran.stdout)["run_id"]
    done = completion(home, f"deskpilot runs show {run_id[:3]}", 3)
    assert f"plain,{run_id}" in done.stdout.splitlines(), done.stdout + done.stderr

    blocks = completion(home, "deskpilot blocks show data.t", 3)
    assert "plain,data.template" in blocks.stdout.splitlines(), blocks.stdout + blocks.stderr

    nodes = completion(home, f"deskpilot run {EXAMPLES / 'hello.yaml'} --break g", 4)
    assert nodes.stdout.splitlines() == ["plain,greet"], nodes.stdout + nodes.stderr


NUMBERS_IN_A_COMMAND = """\
deskpilot: 1
name: numbers-in-a-command
inputs:
  n: {type: integer, required: true}
  ratio: {type: number, default: 0.5}
nodes:
  echo:
    block: process.run
    with:
      args: ["PYTHON", "-c", "import sys; print(' '.join(sys.argv[1:]))", "{{ inputs.n }}", "{{ inputs.ratio }}"]
outputs:
  said: "{{ nodes.echo.stdout }}"
"""


def test_numbers_in_a_command_line_render_as_text(home: Path, tmp_path: Path) -> None:
    """A lone expression keeps its type (an integer); a command line wants text, and gets it."""
    workflow = tmp_path / "numbers.yaml"
    workflow.write_text(NUMBERS_IN_A_COMMAND.replace("PYTHON", sys.executable), encoding="utf-8")
    result = deskpilot("run", str(workflow), "--input", "n=7", "--json", home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["outputs"]["said"].strip() == "7 0.5"


def test_json_on_stdout_is_not_broken_by_what_libraries_print(home: Path, tmp_path: Path) -> None:
    """python-xlib prints a warning on stdout when it opens a display; --json must stay JSON."""
    workflow = tmp_path / "prints.yaml"
    workflow.write_text(
        "deskpilot: 1\nname: prints\nnodes:\n  say:\n    block: process.run\n"
        f"    with: {{args: [{sys.executable!r}, -c, 'print(1)']}}\n",
        encoding="utf-8",
    )
    # a block plugin-free way to print from inside the run: a sitecustomize would be
    # heavier; printing from the CLI process's own thread is what Xlib does
    probe = (
        "import builtins, runpy, sys\n"
        "from automation.engine import engine as e\n"
        "real = e.Engine.run\n"
        "def noisy(self, *a, **k):\n"
        "    print('Xlib.xauth: warning, no xauthority details available')\n"
        "    return real(self, *a, **k)\n"
        "e.Engine.run = noisy\n"
        "sys.argv = ['deskpilot', 'run', sys.argv[1], '--json']\n"
        "runpy.run_module('supervisor.cli.main', run_name='__main__')\n"
    )
    done = python("-c", probe, str(workflow), home=home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert "no xauthority details" in done.stderr
