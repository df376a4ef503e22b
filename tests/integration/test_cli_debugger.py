"""``deskpilot run --break``: the step debugger on a terminal (a real pty) and with piped commands."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from automation.secrets import KeyringSecretStore
from tests.integration.test_cli import EXAMPLES, ROOT, deskpilot

HELLO = str(EXAMPLES / "hello.yaml")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_piped_commands_print_edit_step_and_continue(home: Path) -> None:
    commands = "p\nset text='Hi there'\np text\ns\nc\n"
    result = deskpilot(
        "run", HELLO, "--break", "greet", "--break-timeout", "30", "--json",
        home=home, stdin=commands,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"]["greeting"] == "Hi there"
    err = result.stderr
    assert "paused before node 'greet' (data.template), step 1 [breakpoint]" in err
    assert 'text = "Hello, world!"' in err  # the rendered input, not its template
    assert 'inputs.text = "Hi there"' in err
    assert "paused before node 'say' (notify.log), step 2 [step]" in err
    database = next(home.rglob("history.sqlite3"))
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "select kind, node_id, data from events where kind in ('node_paused', 'node_resumed')"
            " order by seq"
        ).fetchall()
    assert [(kind, node) for kind, node, _ in rows] == [
        ("node_paused", "greet"),
        ("node_resumed", "greet"),
        ("node_paused", "say"),
        ("node_resumed", "say"),
    ]
    assert json.loads(rows[1][2])["edited"] == ["inputs.text"]


def test_quit_cancels_the_run_at_the_paused_node(home: Path) -> None:
    result = deskpilot(
        "run", HELLO, "--break", "say", "--break-timeout", "30", "--json", home=home, stdin="q\n"
    )
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["failed_node"]) == ("cancelled", "say")


def test_refuses_without_a_terminal_unless_a_timeout_is_given(home: Path) -> None:
    result = deskpilot("run", HELLO, "--break", "greet", home=home, stdin="c\n")
    assert result.returncode == 2
    assert "stdin is not one" in result.stderr and "--break-timeout" in result.stderr


def test_an_unknown_breakpoint_names_the_nodes(home: Path) -> None:
    result = deskpilot("run", HELLO, "--break", "nope", "--break-timeout", "5", home=home, stdin="")
    assert result.returncode != 0
    assert "--break names no node of this workflow: nope" in result.stderr
    assert "greet" in result.stderr


def _read_until(fd: int, marker: bytes, seen: bytearray, deadline: float) -> None:
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} in {bytes(seen)[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"terminal closed before {marker!r}: {bytes(seen)[-2000:]!r}"
            seen += chunk


def _read_to_end(fd: int, seen: bytearray, deadline: float) -> None:
    """Everything the child writes until it closes the terminal (EIO on Linux)."""
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the terminal stayed open: {bytes(seen)[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen += chunk


def _on_terminal(home: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli.main", "run", HELLO, *args],
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, close_fds=True,
        env={**os.environ, "DESKPILOT_HOME": str(home), "TERM": "dumb"},
    )  # fmt: skip
    os.close(slave)
    return process, master


def test_on_a_terminal_the_prompt_takes_typed_commands(home: Path) -> None:
    process, master = _on_terminal(home, "--break", "check")
    seen = bytearray()
    try:
        deadline = time.monotonic() + 60
        _read_until(master, b"(debug) ", seen, deadline)
        assert b"paused before node 'check'" in seen
        assert b"total = 6" in seen  # the vars, as the loop left them
        os.write(master, b"set vars.total=100\n")
        _read_until(master, b"vars.total = 100", seen, deadline)
        os.write(master, b"c\n")
        _read_to_end(master, seen, deadline)
        assert process.wait(timeout=30) == 0
        assert b"total: 100" in seen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def test_an_unanswered_pause_times_out_and_the_run_goes_on(home: Path) -> None:
    process, master = _on_terminal(
        home, "--break", "greet", "--break", "say", "--break-timeout", "1"
    )
    seen = bytearray()
    try:
        _read_to_end(master, seen, time.monotonic() + 60)
        assert process.wait(timeout=30) == 0
        assert b"no command in 1 s: continuing without breakpoints" in seen
        assert b"paused before node 'say'" not in seen  # the timeout dropped it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    database = next(home.rglob("history.sqlite3"))
    with sqlite3.connect(database) as connection:
        [(level, message)] = connection.execute(
            "select level, message from events where kind = 'node_resumed'"
        ).fetchall()
    assert level == "warning" and "nobody answered the pause" in message


def test_run_from_here_reuses_the_last_runs_upstream_outputs(home: Path, tmp_path: Path) -> None:
    flow = tmp_path / "hello.yaml"
    flow.write_text(Path(HELLO).read_text(encoding="utf-8"), encoding="utf-8")
    first = json.loads(deskpilot("run", str(flow), "-i", "who=Ada", "--json", home=home).stdout)
    # 'greet' changes in the file; running from 'say' keeps what 'greet' said last time
    flow.write_text(flow.read_text(encoding="utf-8").replace("Hello,", "Bye,"), encoding="utf-8")
    result = deskpilot("run", str(flow), "--from", "say", "--json", home=home, stdin="")
    assert result.returncode == 0, result.stderr
    again = json.loads(result.stdout)
    assert again["trigger"] == f"rerun:{first['run_id']}"
    assert again["inputs"] == first["inputs"]  # the earlier run's inputs
    assert again["outputs"]["greeting"] == "Hello, Ada!"
    assert "greet" not in again["nodes"] and again["nodes"]["say"]["status"] == "succeeded"
    assert "greet already done in an earlier attempt or run" in result.stderr

    # --of picks the run (by a prefix of its id); --input overrides one of its inputs
    picked = deskpilot(
        "run", str(flow), "--from", "greet", "--of", first["run_id"][:8], "-i", "who=Bo", "--json",
        home=home, stdin="",
    )  # fmt: skip
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["outputs"]["greeting"] == "Bye, Bo!"

    assert "--of goes with --from" in deskpilot("run", str(flow), "--of", "ab", home=home).stderr
    unknown = deskpilot("run", str(flow), "--from", "nowhere", home=home, stdin="")
    assert (
        unknown.returncode == 1
        and "--from names no node of this workflow: nowhere" in unknown.stderr
    )


def test_run_from_here_needs_an_earlier_run(home: Path) -> None:
    result = deskpilot("run", HELLO, "--from", "say", home=home, stdin="")
    assert result.returncode == 1
    assert "'hello' has no finished run to reuse the outputs of" in result.stderr


def test_breakpoints_saved_in_the_file_pause_run_unless_nobody_can_answer(
    home: Path, tmp_path: Path
) -> None:
    flow = tmp_path / "hello.yaml"
    flow.write_text(
        Path(HELLO)
        .read_text(encoding="utf-8")
        .replace(
            "  say:\n    block: notify.log\n", "  say:\n    block: notify.log\n    break: true\n"
        ),
        encoding="utf-8",
    )
    piped = deskpilot(
        "run", str(flow), "--break-timeout", "30", "--json", home=home, stdin="set message=hi\nc\n"
    )
    assert piped.returncode == 0, piped.stderr
    assert "paused before node 'say' (notify.log), step 2 [breakpoint]" in piped.stderr
    assert json.loads(piped.stdout)["nodes"]["say"]["outputs"] == {"message": "hi"}

    # unattended (stdin is no terminal, no --break-timeout): it runs through, and says so
    unattended = deskpilot("run", str(flow), "--json", home=home, stdin="")
    assert unattended.returncode == 0, unattended.stderr
    assert "has breakpoints on say; stdin is not a terminal" in unattended.stderr
    assert "paused" not in unattended.stderr
    ignored = deskpilot("run", str(flow), "--ignore-breakpoints", home=home, stdin="")
    assert ignored.returncode == 0 and "breakpoints" not in ignored.stderr


CHAIN = """\
deskpilot: 1
name: {name}
inputs:
  word: {{type: string, default: hello}}
  count: {{type: integer, default: 1}}
nodes:
  first:
    block: control.pass
    with: {{value: "{{{{ inputs.word }}}}"}}
  second:
    block: control.pass
    with: {{value: "second saw {{{{ nodes.first.value }}}}"}}
  third:
    block: control.pass
    with: {{value: "third saw {{{{ nodes.second.value }}}}"}}
links:
  - first -> second
  - second -> third
outputs:
  echoed: "{{{{ nodes.third.value }}}}"
"""


def test_run_from_here_of_a_run_from_here_reuses_what_both_reused(
    home: Path, tmp_path: Path
) -> None:
    """The second run from here reuses 'first' (which the first one reused) and 'second'
    (which it computed): nothing upstream runs again, even with other inputs."""
    flow = tmp_path / "chain.yaml"
    flow.write_text(CHAIN.format(name="chain"), encoding="utf-8")
    start = json.loads(deskpilot("run", str(flow), "-i", "word=one", "--json", home=home).stdout)
    middle = json.loads(
        deskpilot(
            "run", str(flow), "--from", "second", "-i", "word=two", "--json", home=home, stdin=""
        ).stdout
    )
    assert middle["trigger"] == f"rerun:{start['run_id']}" and list(middle["nodes"]) == [
        "second",
        "third",
    ]
    last = deskpilot(
        "run", str(flow), "--from", "third", "-i", "word=three", "--json", home=home, stdin=""
    )
    assert last.returncode == 0, last.stderr
    report = json.loads(last.stdout)
    assert report["trigger"] == f"rerun:{middle['run_id']}"
    assert list(report["nodes"]) == ["third"], "'first' and 'second' are reused, not run"
    assert report["outputs"] == {"echoed": "third saw second saw one"}


SHOWN_VALUES = """\
deskpilot: 1
name: shown-values
inputs:
  blob: {type: string}
nodes:
  make:
    block: data.template
    with:
      text: "key {{ secrets.canary }} then {{ inputs.blob }}"
  use:
    block: notify.log
    with:
      message: "{{ nodes.make.text }}"
links:
  - make -> use
"""


@pytest.mark.keyring
def test_the_prompt_shows_values_masked_and_bounded_as_the_window_does(
    home: Path, tmp_path: Path, secret_store: KeyringSecretStore
) -> None:
    """A real keyring secret and a 100,000-character value at an in-process pause.

    The prompt shows the pause event's display copies: the secret masked, each
    line cut with the way to see more, and ``show`` printing no more than the
    window would (2048 characters of a text), still masked.
    """
    canary = "Prompt-Can4ry wörd-91c2"
    secret_store.set("canary", canary)
    flow = tmp_path / "shown.yaml"
    flow.write_text(SHOWN_VALUES, encoding="utf-8")
    blob = "z" * 100_000
    result = deskpilot(
        "run", str(flow), "--input", f"blob={blob}", "--break", "use", "--break-timeout", "30",
        "--json", home=home, stdin="p\np make\nshow inputs.message\nshow nodes.make\nc\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    err = result.stderr
    assert canary not in err and canary not in result.stdout
    assert '"key *** then zzz' in err  # masked before it was cut
    assert "… (cut at 200 of " in err and "'show inputs.message')" in err
    assert "'show nodes.make')" in err
    assert "inputs.message =\n" in err and "nodes.make =\n" in err
    assert "… (100013 characters)" in err  # the display copy's own note of the whole size
    assert "a pause shows 2048 characters of a text" in err
    # every value the prompt printed is a display copy: the 100,000 characters never reach
    # the terminal (the node's own log line, after the pause, is the workflow's choice)
    prompt = err.split("[info] use:")[0]
    assert "(debug)" in prompt and "nodes.make =" in prompt
    assert max(len(line) for line in prompt.splitlines()) < 2200
    assert len(prompt) < 12_000
    # the node ran with the whole value
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["status"] == "succeeded"
