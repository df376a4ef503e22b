"""A secret a step produced reaches the steps after it as itself on resume and "run from here".

History stores step outputs masked (``***``).  The canary, from the real
keyring (gnome-keyring on a private D-Bus), flows out of two steps (an
output and a run variable); the worker is SIGKILLed while the run waits at a
gate after them, and the supervisor resumes the run.  Then the run is run
again from the node after the gate, through the supervisor, and once more
in-process (``deskpilot run --from``, ``run_file``) on the same history.
Every time the last node hashes what it received into a file: the hash must
be the canary's, never the mask's.  The history database and everything
else under the home are then searched for every form of the canary.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from automation.redaction import MASK
from automation.secrets import SERVICE_ENV, KeyringSecretStore
from supervisor.debugging import DebugOptions
from supervisor.local import run_file
from supervisor.paths import DeskpilotPaths, sqlite_url
from tests.helpers.keyring_session import RealKeyring
from tests.integration.supervisor.harness import worker_env
from tests.integration.test_canary_sweep import CANARY, sweep_files

pytestmark = pytest.mark.keyring

FLOW = """\
deskpilot: 1
name: replay-secret
nodes:
  login:
    block: data.template
    with: {text: "token {{ secrets.canary }}"}
  remember:
    block: data.set_var
    with: {name: tok, value: "{{ secrets.canary }}"}
  gate:
    block: file.wait
    with: {path: gate, timeout: 60, poll_interval: 0.05}
  use:
    block: process.run
    with:
      args: [sh, -c, "sha256sum | cut -c1-64 > received.txt"]
      stdin: "{{ nodes.login.text }}|{{ vars.tok }}"
links:
  - login -> remember
  - remember -> gate
  - gate -> use
"""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


REAL = digest(f"token {CANARY}|{CANARY}")
MASKED = digest(f"token {MASK}|{MASK}")


def received(folder: Path) -> str:
    text = (folder / "received.txt").read_text(encoding="utf-8").strip()
    assert text != MASKED, "the downstream node received the mask, not the secret"
    return text


def decisions(harness, run_id: str) -> dict[str, str]:
    return {
        str(e.node_id): str((e.data or {})["replay_check"])
        for e in harness.store.events(run_id, limit=None)
        if (e.data or {}).get("replay_check")
    }


def test_a_secret_output_is_run_again_not_replayed_as_its_mask(
    start_supervisor,
    plugin_path: Path,
    real_keyring: RealKeyring,
    secret_store: KeyringSecretStore,
    tmp_path: Path,
) -> None:
    secret_store.set("canary", CANARY)
    env = {
        **real_keyring.env,
        **worker_env(plugin_path),
        SERVICE_ENV: os.environ[SERVICE_ENV],
    }
    harness = start_supervisor(env=env)
    path = harness.workflow("replay-secret", FLOW)
    folder = path.parent

    # resumed after a real SIGKILL of the worker, while it waits at the gate
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    os.kill(harness.busy_pid(run_id), signal.SIGKILL)
    harness.wait_event("run_interrupted", run_id=run_id)
    (folder / "gate").write_text("open", encoding="utf-8")
    record = harness.wait_terminal(run_id)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert record.resumes == 1
    assert received(folder) == REAL
    assert decisions(harness, run_id) == {"login": "run_again", "remember": "run_again"}

    # run from here (the node after the gate), through the supervisor
    (folder / "received.txt").unlink()
    debug = DebugOptions(run_from="use")
    again = harness.call(lambda: harness.sup.rerun(run_id, mode="from_node", debug=debug))
    record = harness.wait_terminal(again)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert received(folder) == REAL
    assert decisions(harness, again) == {"login": "run_again", "remember": "run_again"}
    replayed = {e.node_id for e in harness.store.events(again) if e.kind == "node_replayed"}
    assert replayed == {"gate"}

    # and in-process, on the same history, reusing the supervisor's re-run
    (folder / "received.txt").unlink()
    paths = DeskpilotPaths.under(
        tmp_path / "local", database_url=sqlite_url(harness.home / "history.sqlite3")
    )
    local = run_file(path, {}, paths=paths, secrets=secret_store, run_from="use", earlier_run=again)
    assert local.result.status is RunStatus.SUCCEEDED, local.result.error
    assert received(folder) == REAL
    assert decisions(harness, local.result.run_id) == {
        "login": "run_again",
        "remember": "run_again",
    }

    harness.settle()
    found, count = sweep_files(harness.home)
    assert count and not found, found
    found, _ = sweep_files(tmp_path / "local")
    assert not found, found
