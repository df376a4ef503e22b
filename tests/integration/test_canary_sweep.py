"""The canary sweep: a secret used by every block that can carry one never reaches a file we own.

One canary value, chosen so that re-encoding changes it (``+``, ``/``, ``=``,
a space and a non-ASCII letter), is stored in a real keyring (gnome-keyring
on a private D-Bus) and used by a family of workflows: HTTP in the URL, a
header and the body against a real local server that echoes it back in many
encodings; a command's command line and output; a file write; a log line, a
caught error, a failed run's error and a subflow; run outputs; a desktop
step's failure screenshot (real Xvfb); and a run whose worker hangs
(SIGSTOP) while its child process holds the secret in its command line and
its log has seen it in httpx's request line.

The family runs twice: through a real supervisor (fork server, worker
processes, the API) and in-process with ``deskpilot run``.  Then everything
Deskpilot wrote or sent is searched for every form of the canary: each file
under both DESKPILOT_HOMEs (history database and its WAL, logs of the
supervisor, the workers and the fork server, evidence, artifacts), the
``/events`` stream, the API's run answers, ``runs show --json`` and
``runs list --json``, and a backup archive (opened).  The user's own file
may hold the secret (writing it there is the workflow's choice) and is
outside those places.

It replaces the first canary test, which ran one workflow in-process and
searched for five forms; this one would have caught the worker log, the
hang evidence and the cut messages that leaked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import tarfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import psutil
import pytest

from automation.secrets import KeyringSecretStore
from supervisor.config import SupervisorConfig
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, short_home
from tests.helpers.http_server import ScriptedServer
from tests.helpers.xvfb import XDisplay
from tests.integration.test_cli import deskpilot

pytestmark = pytest.mark.keyring

CANARY = "Can/ary+Val=ue wörd-7f3a"


# -- every form the canary can take ------------------------------------------------------


def _base64_forms(raw: bytes) -> set[str]:
    """The canary's base64 alone and inside longer base64, at each alignment, both alphabets."""
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode())  # padded
        for offset in range(3):
            # the characters that depend on the canary alone, found by encoding
            # it behind two different prefixes and keeping what both share
            one = encode(b"\0" * offset + raw + b"\0\0").decode()
            two = encode(b"\xff" * offset + raw + b"\xff\xff").decode()
            same = [i for i, (a, b) in enumerate(zip(one, two, strict=True)) if a == b]
            forms.add(one[same[0] : same[-1] + 1])
    return forms


def _hex_case(text: str, upper: bool) -> str:
    """``text`` with the hex digits of its %XX escapes in one case."""
    return re.sub(
        r"%[0-9A-Fa-f]{2}", lambda m: m.group(0).upper() if upper else m.group(0).lower(), text
    )


def canary_forms(secret: str = CANARY) -> dict[str, bytes]:
    raw = secret.encode()
    text_forms = {
        "plain": secret,
        "prefix": secret[:10],  # a message cut before it was masked
        "quote": quote(secret, safe=""),
        "quote, lower-case hex": _hex_case(quote(secret, safe=""), upper=False),
        "quote keeping /": quote(secret),
        "quote_plus": quote_plus(secret),
        "quote_plus, lower-case hex": _hex_case(quote_plus(secret), upper=False),
        "httpx query": quote(secret, safe="!$&'()*+,;=:@/?"),
        "json": json.dumps(secret)[1:-1],
        "json, non-ascii kept": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json, upper-case escapes": json.dumps(secret)[1:-1].replace("\\u00f6", "\\u00F6"),
        "repr of bytes": repr(raw)[2:-1],
        "regex-escaped": re.escape(secret),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for i, form in enumerate(sorted(_base64_forms(raw))):
        text_forms[f"base64 form {i} ({form[:6]}...)"] = form
        text_forms[f"base64 form {i}, url-quoted"] = quote(form, safe="")
    return {name: form.encode() for name, form in text_forms.items()}


FORMS = canary_forms()


def read_back(home: Path, run_ids: list[str]) -> list[tuple[str, str]]:
    """What ``runs show --json`` (each run), ``runs list --json`` and ``backup --archive`` print.

    Run in this process with click's runner: the commands are the same code,
    without an interpreter start-up each (seconds on a loaded machine).
    """
    from click.testing import CliRunner

    from supervisor.cli.main import cli

    runner = CliRunner()
    env = {"DESKPILOT_HOME": str(home)}
    commands = [["runs", "show", run_id, "--json"] for run_id in run_ids]
    commands += [["runs", "list", "--json"], ["backup", "--archive"]]
    printed = []
    for command in commands:
        result = runner.invoke(cli, command, env=env, catch_exceptions=False)
        assert result.exit_code == 0, (command, result.output)
        printed.append((" ".join(command), result.stdout + result.stderr))
    return printed


def leaks(where: str, data: bytes) -> list[str]:
    return [f"{name} in {where}" for name, form in FORMS.items() if form in data]


def sweep_files(root: Path) -> tuple[list[str], int]:
    """Every file under ``root`` (archives opened), searched; returns the leaks and the count."""
    found: list[str] = []
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        count += 1
        data = path.read_bytes()
        found += leaks(str(path.relative_to(root)), data)
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path) as archive:
                for member in archive.getmembers():
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found += leaks(f"{path.name}:{member.name}", handle.read())
    return found, count


# -- the workflow family -----------------------------------------------------------------

ECHOED = {
    "plain": CANARY,
    "quoted": quote(CANARY, safe=""),
    "plus": quote_plus(CANARY),
    "b64": base64.b64encode(CANARY.encode()).decode(),
    "basic": base64.b64encode(f"user:{CANARY}".encode()).decode(),
    "hex": CANARY.encode().hex(),
}


def write_family(folder: Path, url: str, user_file: Path) -> dict[str, Path]:
    """The workflows, written as JSON (a workflow file may be JSON, and quoting stays simple)."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = "{{ secrets.canary }}"
    shell = (
        'printf "%s\\n" "$1"; printf "%s\\n" "$1" >&2; printf "%s" "$1" | base64; '
        'printf "%s" "$1" | od -An -tx1 | tr -d " \\n"; echo'
    )
    flows: dict[str, dict[str, Any]] = {
        "canary-sub": {
            "deskpilot": 1,
            "name": "canary-sub",
            "nodes": {"tell": {"block": "notify.log", "with": {"message": f"sub sees {secret}"}}},
            "outputs": {"echo": secret},
        },
        "canary-main": {
            "deskpilot": 1,
            "name": "canary-main",
            "nodes": {
                "say": {"block": "notify.log", "with": {"message": f"the token is {secret}"}},
                "call": {
                    "block": "http.request",
                    "with": {
                        "method": "POST",
                        "url": f"{url}?token={secret}&q={{{{ secrets.canary | urlencode }}}}",
                        "headers": {"X-Token": "{{ secrets.canary | urlencode }}"},
                        "json": {"token": secret},
                    },
                },
                "shell": {
                    "block": "process.run",
                    "with": {"args": ["sh", "-c", shell, "canary", secret]},
                },
                "keep": {
                    "block": "file.write",
                    "with": {"path": str(user_file), "content": f"mine: {secret}"},
                },
                "parse": {
                    "block": "data.from_json",
                    "with": {"text": '{"token": "' + secret + '"'},
                },
                "caught": {
                    "block": "notify.log",
                    "with": {"message": "parse failed: {{ nodes.parse.error.message }}"},
                },
                "sub": {"block": "control.subflow", "with": {"path": "canary-sub.yaml"}},
            },
            "links": [
                "say -> call",
                "call -> shell",
                "shell -> keep",
                "keep -> parse",
                "parse.error -> caught",
                "caught -> sub",
            ],
            "outputs": {
                "leaked": secret,
                "echoed": "{{ nodes.call.json }}",
                "printed": "{{ nodes.shell.stdout }}",
                "from_sub": "{{ nodes.sub.outputs.echo }}",
            },
        },
        "canary-boom": {
            "deskpilot": 1,
            "name": "canary-boom",
            "nodes": {
                "boom": {
                    "block": "control.fail",
                    "with": {"message": f"giving up with {secret} in hand"},
                }
            },
        },
        "canary-screen": {
            "deskpilot": 1,
            "name": "canary-screen",
            "nodes": {
                "find": {
                    "block": "window.focus",
                    # not a valid pattern: the step fails before it asks the X server
                    # anything, with the canary in its message, and a screenshot is saved
                    "with": {"title": f"({secret}", "timeout": 0.3},
                }
            },
        },
        "canary-hang": {
            "deskpilot": 1,
            "name": "canary-hang",
            "nodes": {
                "call": {"block": "http.request", "with": {"url": f"{url}?token={secret}"}},
                "hold": {
                    "block": "process.run",
                    "with": {"args": ["sh", "-c", "sleep 60", "hold", secret], "timeout": 120},
                },
            },
            "links": ["call -> hold"],
        },
    }
    paths = {}
    for name, flow in flows.items():
        path = folder / f"{name}.yaml"
        path.write_text(json.dumps(flow, indent=2, ensure_ascii=False), encoding="utf-8")
        paths[name] = path
    return paths


@pytest.fixture
def canary_setup(
    secret_store: KeyringSecretStore,
    http_server: ScriptedServer,
    xvfb_display: XDisplay,
    tmp_path: Path,
) -> Iterator[tuple[dict[str, Path], Path]]:
    secret_store.set("canary", CANARY)
    url = http_server.add("/echo", json=ECHOED)
    user_dir = tmp_path / "users-own-files"
    user_dir.mkdir()
    yield write_family(tmp_path / "flows", url, user_dir / "mine.txt"), user_dir


# -- through the supervisor --------------------------------------------------------------


class EventTap(threading.Thread):
    """Reads the whole ``/events`` stream until the server closes it."""

    def __init__(self, daemon: RunningDaemon) -> None:
        super().__init__(daemon=True, name="event-tap")
        self._daemon = daemon
        self.data = bytearray()
        self.subscribed = threading.Event()

    def run(self) -> None:
        with (
            self._daemon.http(timeout=120) as http,
            http.stream("GET", "/events", params={"heartbeat": 0.5}) as answer,
        ):
            for chunk in answer.iter_bytes():
                self.data += chunk
                self.subscribed.set()


def _hang_the_worker(daemon: RunningDaemon, run_id: str) -> int:
    """SIGSTOP the run's worker once its child holds the canary in its command line."""

    def holder() -> int | None:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if CANARY in cmdline and "sleep 60" in cmdline:
                return int(proc.pid)
        return None

    child = eventually(holder, timeout=30)
    worker = psutil.Process(child).parent()
    while worker is not None and "supervisor.worker" not in " ".join(worker.cmdline()):
        worker = worker.parent()
    assert worker is not None, "the command's worker was not found"
    os.kill(worker.pid, signal.SIGSTOP)
    return worker.pid


@pytest.fixture
def home() -> Iterator[Path]:
    """A short DESKPILOT_HOME (the API socket path must fit), removed afterwards."""
    path = short_home("dp-canary-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_canary_never_leaves_the_keyring_through_the_supervisor(
    canary_setup: tuple[dict[str, Path], Path], http_server: ScriptedServer, home: Path
) -> None:
    flows, user_dir = canary_setup
    config = SupervisorConfig(worker_limit=2, spare_workers=1, heartbeat_interval=0.2)
    daemon = RunningDaemon(home, config).start()
    tap = EventTap(daemon)
    answers = bytearray()
    with contextlib.ExitStack() as stack:
        stack.callback(daemon.stop)
        tap.start()
        assert tap.subscribed.wait(10)
        client = stack.enter_context(daemon.client(timeout=30))
        runs = {
            name: client.submit(flows[name], run_id=uuid.uuid4().hex).run_id
            for name in ("canary-boom", "canary-screen", "canary-hang")
        }
        # paused before 'call', whose rendered inputs hold the canary: nobody answers, the
        # pause times out; its node_paused event is streamed and stored like the others
        runs["canary-main"] = client.submit(
            flows["canary-main"], run_id=uuid.uuid4().hex, breakpoints=["call"], pause_timeout=0.5
        ).run_id
        hung_pid = _hang_the_worker(daemon, runs["canary-hang"])

        def evidence() -> list[Any] | None:
            found = [a for a in client.get_run(runs["canary-hang"]).artifacts]
            return [a for a in found if a.kind == "evidence"] or None

        [saved] = eventually(evidence, timeout=30)
        assert eventually(lambda: not psutil.pid_exists(hung_pid) or None, timeout=10)
        client.cancel(runs["canary-hang"])  # resumed after the hang, it would hold again

        def ended(run_id: str) -> Any:
            detail = client.get_run(run_id)
            return detail if detail.run.status.terminal else None

        details = {
            name: eventually(lambda r=run_id: ended(r), timeout=60) for name, run_id in runs.items()
        }
        with daemon.http() as http:
            for run_id in runs.values():
                answers += http.get(f"/runs/{run_id}").content
                answers += http.get(f"/runs/{run_id}/events").content
            answers += http.get("/runs").content
        printed = read_back(home, list(runs.values()))
    tap.join(10)

    # the workflows really carried the canary where they were meant to
    order = ("canary-main", "canary-boom", "canary-screen", "canary-hang")
    main, boom, screen, hang = (details[n] for n in order)
    assert b"node_paused" in tap.data and b"node_paused" in answers
    assert main.run.status == "succeeded", main.run.error
    assert main.run.outputs is not None and main.run.outputs["leaked"] == "***"
    assert boom.run.status == "failed" and "***" in (boom.run.error or "")
    assert screen.run.status == "failed" and "***" in (screen.run.error or "")
    assert any(a.kind == "screenshot" for a in screen.artifacts)
    assert hang.run.status == "cancelled"
    evidence_text = Path(saved.path).read_text(encoding="utf-8")
    assert "sleep 60" in evidence_text and "***" in evidence_text  # the child's masked cmdline
    _assert_the_server_saw_the_canary(http_server)
    assert (user_dir / "mine.txt").read_text(encoding="utf-8") == f"mine: {CANARY}"

    found, count = sweep_files(home)
    assert count >= 10 and any(
        p.name.endswith("-wal") or p.suffix == ".sqlite3" for p in home.rglob("*")
    )
    assert list(home.rglob("deskpilotd.log"))
    worker_logs = b"".join(p.read_bytes() for p in home.rglob("worker-*.log"))
    # httpx logged each request line, URL and all, in the workers' logs: masked there
    assert b'"logger": "httpx"' in worker_logs and b"token=***" in worker_logs
    assert any(p.name.endswith(".tar.gz") for p in home.rglob("*"))
    for command, text in printed:
        found += leaks(f"the output of {command}", text.encode())
    found += leaks("/events", bytes(tap.data))
    found += leaks("API answers", bytes(answers))
    assert b"run_finished" in tap.data
    assert found == []


def _assert_the_server_saw_the_canary(server: ScriptedServer) -> None:
    hits = server.hits("/echo")
    # unquoted in the query, its '+' reads as a space: the URL-encoded 'q' is the canary
    assert any(hit.query.get("q") == [CANARY] for hit in hits)
    posted = [hit for hit in hits if hit.method == "POST"]
    assert posted and posted[-1].json() == {"token": CANARY}
    assert posted[-1].headers["x-token"] == quote(CANARY, safe="/")


# -- in-process: deskpilot run ------------------------------------------------------------


def test_canary_never_leaves_the_keyring_in_deskpilot_run(
    canary_setup: tuple[dict[str, Path], Path], http_server: ScriptedServer, tmp_path: Path
) -> None:
    flows, user_dir = canary_setup
    home = tmp_path / "home"
    home.mkdir()
    names = ("canary-main", "canary-boom", "canary-screen")
    # canary-main pauses before 'call' (its rendered inputs hold the canary), prints the
    # values ('p') and goes on: the prompt's output and the stored pause are swept too
    pause = ("--break", "call", "--break-timeout", "30")
    with ThreadPoolExecutor(len(names)) as pool:
        started = {
            name: pool.submit(
                deskpilot,
                "run",
                str(flows[name]),
                "--json",
                *(pause if name == "canary-main" else ()),
                home=home,
                stdin="p\nc\n" if name == "canary-main" else None,
            )  # fmt: skip
            for name in names
        }
        results = {name: future.result() for name, future in started.items()}
    # python-xlib prints a warning on stdout before the JSON (no xauthority entries)
    summaries = {
        name: json.loads(result.stdout[result.stdout.index("{") :])
        for name, result in results.items()
    }
    assert results["canary-main"].returncode == 0, results["canary-main"].stderr
    assert "paused before node 'call'" in results["canary-main"].stderr
    assert "***" in results["canary-main"].stderr  # the inputs were printed, masked
    assert summaries["canary-boom"]["failed_node"] == "boom"
    assert "***" in summaries["canary-screen"]["error"]
    _assert_the_server_saw_the_canary(http_server)
    assert (user_dir / "mine.txt").read_text(encoding="utf-8") == f"mine: {CANARY}"
    printed = read_back(home, [summary["run_id"] for summary in summaries.values()])

    found, count = sweep_files(home)
    assert count >= 4
    [log] = home.rglob("deskpilot.log")
    assert b"httpx: HTTP Request: POST" in log.read_bytes() and b"token=***" in log.read_bytes()
    for name, result in results.items():
        found += leaks(
            f"the output of deskpilot run {name}", (result.stdout + result.stderr).encode()
        )
    for command, text in printed:
        found += leaks(f"the output of {command}", text.encode())
    assert found == []


def test_the_sweep_would_see_each_form() -> None:
    """The search itself works: each form, written as it is, is found."""
    assert len(set(FORMS.values())) >= 20
    for name, form in FORMS.items():
        assert f"{name} in x" in leaks("x", b"<" + form + b">")


# -- the API token of a remote connection ------------------------------------------------

#: Long enough for a fleet token, with the characters that change when re-encoded.
API_CANARY = "Api/Can+ary=Tok-7f3a9c1e5b2d4680aa11bb22"


def test_the_api_token_never_leaves_the_keyring_through_the_connection_settings(
    real_keyring: object, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """``connection set --pin`` (token on stdin), commands through the saved connection,
    ``connection show`` and a refused changed certificate: the token is in the keyring
    and in the Authorization header, and in no file, output or log record of either home."""
    import logging

    from click.testing import CliRunner

    from supervisor.cli.main import cli
    from supervisor.pinning import fingerprint
    from tests.helpers.tls import der_of, tls_daemon

    forms = canary_forms(API_CANARY)
    client_home = short_home("dp-canary-client-")
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    env = {
        "DESKPILOT_HOME": str(client_home),
        "DESKPILOT_KEYRING_SERVICE": f"dp-canary-api-{uuid.uuid4().hex[:8]}",
        "DESKPILOT_API_TOKEN": None,
        "DESKPILOT_REMOTE": None,
        "DESKPILOT_API_CA": None,
        "DESKPILOT_API_PIN": None,
    }
    printed: list[str] = []
    try:
        with tls_daemon(API_CANARY) as served:
            pin = fingerprint(der_of(served.cert))
            commands = [
                (["connection", "set", served.url, "--pin", pin, "--token-stdin"], 0),
                (["runs", "list", "--json"], 0),
                (["workers"], 0),
                (["connection", "show", "--json"], 0),
            ]
            for command, code in commands:
                result = runner.invoke(cli, command, env=env, input=API_CANARY + "\n")
                assert result.exit_code == code, (command, result.output)
                printed.append(result.stdout + result.stderr)
            # the machine presents another certificate now: refused, the token unsent
            saved = client_home / "config" / "connection.json"
            body = json.loads(saved.read_text())
            body["pin"] = fingerprint(der_of(served.stranger))
            saved.write_text(json.dumps(body))
            refused = runner.invoke(cli, ["runs", "list"], env=env)
            assert refused.exit_code == 1 and "is not the pinned one" in refused.stderr
            printed.append(refused.stdout + refused.stderr)
            runner.invoke(cli, ["connection", "clear"], env=env)
            found: list[str] = []
            for root in (served.daemon.home, client_home):
                for path in sorted(p for p in root.rglob("*") if p.is_file()):
                    if path.is_socket():
                        continue
                    data = path.read_bytes()
                    found += [f"{n} in {path}" for n, form in forms.items() if form in data]
    finally:
        shutil.rmtree(client_home, ignore_errors=True)
    for where, text in [*(("output", p) for p in printed), ("log records", caplog.text)]:
        found += [f"{n} in {where}" for n, form in forms.items() if form in text.encode()]
    assert found == []
