"""Hostile files dropped into the watched workflows folder of a real ``deskpilotd``.

Each was once enough to stall the supervisor's event loop for 40 s (``/health``
did not answer, heartbeats were not checked).  Now each is listed as invalid
with its reason within a few seconds, the last valid version of a file keeps
its place, and ``/health`` keeps answering: its p99 latency while the files
are read stays under 100 ms.  ``tests/benchmarks/bench_hostile.py`` measures
the same over more rounds and prints a table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from supervisor.triggers.catalog import check_file
from tests.helpers.common import eventually
from tests.helpers.hostile import HOSTILE_FILES, DaemonProcess, HealthProbe, billion_laughs

logger = logging.getLogger(__name__)

REASONS = {
    "laughs.yaml": "once its YAML aliases are expanded",
    "power.yaml": "over the template limit",
    "huge.yaml": "larger than 2 MiB",
    "deep.yaml": "nest",
    "deepjson.json": "nest",
    "digits.json": "at most 4300 digits",
}

KEEPER = """\
name: keeper
nodes:
  only:
    block: control.pass
"""


@pytest.fixture
def deskpilotd() -> Iterator[DaemonProcess]:
    daemon = DaemonProcess()
    (daemon.paths.workflows_dir / "keeper.yaml").write_text(KEEPER)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def test_hostile_files_are_invalid_with_reasons_and_health_stays_responsive(
    deskpilotd: DaemonProcess,
) -> None:
    assert deskpilotd.workflows()["keeper.yaml"]["valid"] is True
    with HealthProbe(deskpilotd) as quiet:
        eventually(lambda: quiet.count() >= 100, timeout=60)
    baseline = quiet.lag()
    with HealthProbe(deskpilotd) as probe:
        eventually(lambda: probe.count() >= 100, timeout=60)
        for name, text in HOSTILE_FILES.items():
            deskpilotd.drop(name, text)
        deskpilotd.drop("keeper.yaml", billion_laughs("keeper"))
        listed = eventually(
            lambda: (
                (w := deskpilotd.workflows()).keys() >= {*HOSTILE_FILES, "keeper.yaml"}
                and not w["keeper.yaml"]["valid"]
                and w
            ),
            timeout=60,
        )
        settled = probe.count()
        eventually(lambda: probe.count() >= settled + 100, timeout=60)
    for name, reason in REASONS.items():
        entry = listed[name]
        assert entry["valid"] is False, name
        assert any(reason in issue for issue in entry["issues"]), (name, entry["issues"])
    keeper = listed["keeper.yaml"]
    assert keeper["using_last_valid"] is True and keeper["active"] is True
    assert probe.failures == []
    lag = probe.lag()
    logger.info("/health quiet: %s; with hostile files: %s", baseline, lag)
    # 100 ms is the target on a quiet machine (bench_hostile measures it); a test only
    # guards against stalls, which were 40 s: on a loaded machine the quiet p99 is the floor
    assert lag.p99_ms < 250 + 2 * baseline.p99_ms, (lag, baseline)
    assert lag.max_ms < 1000, (lag, baseline)


def test_a_file_over_its_time_budget_is_invalid_with_the_reason(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(KEEPER)
    checked = check_file(path, registry, None, budget=0.0)
    assert checked.loaded is None
    (issue,) = checked.issues
    assert str(path) in issue and "longer than its budget of 0 s" in issue
    assert check_file(path, registry, None, budget=5.0).issues == []
