"""A run's failure screenshot is readable through another machine's API, also once the
machine that made it is down and its file is gone.

Two real supervisors (each with its own home, worker processes and API
socket) share one PostgreSQL history; the run fails a real image search on a
real Xvfb display, so the screenshot is the one a user would look at.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from PIL import Image

from supervisor.client import SupervisorApiError
from supervisor.store import HistoryStore
from supervisor.store import artifacts as artifact_store
from tests.helpers.daemon import RunningDaemon, short_home, write_workflow
from tests.helpers.xvfb import XDisplay

MISSING_BUTTON = """\
deskpilot: 1
name: approve-missing
nodes:
  find_button:
    block: image.wait
    with: {template: approve.png, timeout: 0.3, interval: 0.1}
"""


@pytest.fixture
def two_machines(
    xvfb_display: XDisplay, postgres_migrated_url: str
) -> Iterator[tuple[RunningDaemon, RunningDaemon]]:
    url = postgres_migrated_url  # a fleet shares PostgreSQL: a SQLite file takes one supervisor
    HistoryStore.open(url).close()  # migrated once, not by both supervisors at start
    homes = [short_home("dp-a-"), short_home("dp-b-")]
    daemons: list[RunningDaemon] = []
    try:
        for home in homes:
            daemons.append(RunningDaemon(home, database_url=url).start())
        yield daemons[0], daemons[1]
    finally:
        for daemon in daemons:
            daemon.stop()
        for folder in homes:
            shutil.rmtree(folder, ignore_errors=True)


def _noise_template(folder: Path) -> None:
    # Busy enough that it matches nowhere on an empty screen.
    image = Image.effect_noise((48, 24), 90).convert("RGB")
    image.save(folder / "approve.png")


def test_a_failure_screenshot_is_served_by_another_machine_after_the_first_is_gone(
    two_machines: tuple[RunningDaemon, RunningDaemon], tmp_path: Path
) -> None:
    first, second = two_machines
    _noise_template(tmp_path)
    flow = tmp_path / "approve-missing.yaml"
    flow.write_text(MISSING_BUTTON, encoding="utf-8")
    with first.client() as client:
        run_id = client.submit(flow).run_id
        assert client.wait(run_id, timeout=60).run.status == "failed"
        shots = [a for a in client.get_run(run_id).artifacts if a.kind == "screenshot"]
    assert shots, "the failed search left no screenshot"
    shot = shots[0]
    # both supervisors share this machine's host name, so either may have claimed the run:
    # the one whose folder holds the file made it, and the other must serve it once it is gone
    made_it, other = (
        (first, second)
        if Path(shot.path).is_relative_to(first.paths.artifacts_dir)
        else (second, first)
    )
    assert shot.stored and shot.size and Path(shot.path).is_relative_to(made_it.paths.artifacts_dir)
    on_disk = Path(shot.path).read_bytes()

    made_it.stop()
    shutil.rmtree(made_it.paths.artifacts_dir)

    with other.client() as client:
        [listed] = [a for a in client.get_run(run_id).artifacts if a.id == shot.id]
        assert listed.stored
        data = client.artifact(run_id, shot.id)
        assert data == on_disk
        assert Image.open(io.BytesIO(data)).format == "PNG"
        with other.http() as http:
            answer = http.get(f"/runs/{run_id}/artifacts/{shot.id}")
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["content-disposition"].startswith("inline; filename=")

        with pytest.raises(SupervisorApiError) as missing:
            client.artifact(run_id, shot.id + 10_000)
        assert missing.value.status == 404
        assert f"run {run_id} has no artifact" in str(missing.value)


def test_without_a_copy_only_the_machine_that_made_the_file_serves_it(
    api_daemon: RunningDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files over the size limit keep no copy: this machine serves its own, and only from its
    artifacts folder; the answer for the others says where the file is."""
    monkeypatch.setattr(artifact_store, "MAX_STORED_BYTES", 10)
    with api_daemon.client() as client:
        run_id = client.submit(write_workflow(tmp_path, "evidence-kept")).run_id
        assert client.wait(run_id, timeout=30).finished
        own = api_daemon.paths.artifacts_dir / run_id / "worker-9-hung.json"
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_text('{"reason": "hung", "pid": 4242}', encoding="utf-8")
        elsewhere = tmp_path / "not-an-artifact.txt"
        elsewhere.write_text("private notes", encoding="utf-8")
        store = api_daemon.parts.store
        kept = store.add_artifact(run_id, own, kind="evidence")
        foreign = store.add_artifact(run_id, elsewhere, kind="evidence")
        assert not kept.stored and not foreign.stored

        assert client.artifact(run_id, kept.id) == own.read_bytes()
        with pytest.raises(SupervisorApiError) as refused:
            client.artifact(run_id, foreign.id)
        assert refused.value.status == 404
        assert "has no copy in the history" in str(refused.value)
        assert str(elsewhere) in str(refused.value)


def test_the_command_line_lists_and_saves_artifacts_through_the_api(
    api_daemon: RunningDaemon,
    tmp_path: Path,
    deskpilot_cli: Callable[..., CompletedProcess[str]],
) -> None:
    with api_daemon.client() as client:
        run_id = client.submit(write_workflow(tmp_path, "evidence-saved")).run_id
        assert client.wait(run_id, timeout=30).finished
    evidence = tmp_path / "worker-2-hung.json"
    evidence.write_text('{"reason": "hung"}', encoding="utf-8")
    added = api_daemon.parts.store.add_artifact(run_id, evidence, kind="evidence")
    evidence.unlink()

    shown = deskpilot_cli(api_daemon.home, "runs", "show", run_id[:10])
    assert shown.returncode == 0, shown.stderr
    assert f"[{added.id}] evidence: {evidence}" in shown.stdout
    saved = tmp_path / "copy.json"
    result = deskpilot_cli(
        api_daemon.home, "runs", "artifact", run_id[:10], str(added.id), "-o", str(saved)
    )
    assert result.returncode == 0, result.stderr
    assert saved.read_text(encoding="utf-8") == '{"reason": "hung"}'
    piped = deskpilot_cli(api_daemon.home, "runs", "artifact", run_id, str(added.id))
    assert piped.stdout == '{"reason": "hung"}'
