"""kill -9 a process while it records a run: whatever it reported committed is still there.

The child records an endless synthetic run through a ``Recorder`` and prints
``committed <step>`` from ``on_committed``, which is how the GUI and the API
learn that a step finished.  The test kills it at a random point, reopens the
file and checks that it is intact and holds every step that was reported.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from automation.engine.events import StepStatus
from supervisor.store import HistoryStore

RECORDING_CHILD = r"""
import sys
from datetime import UTC, datetime

from automation.engine.events import LogEmitted, NodeFinished, NodeStarted, RunStarted
from supervisor.store import HistoryStore, Recorder

url, run_id, pace = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = HistoryStore.open(url)


def report(batch):
    lines = [f"committed {e.step}\n" for e in batch if isinstance(e, NodeFinished)]
    if lines:
        sys.stdout.write("".join(lines))
        sys.stdout.flush()


recorder = Recorder(store, on_committed=report)
seq = 0


def base():
    global seq
    seq += 1
    return {"run_id": run_id, "seq": seq, "at": datetime.now(UTC)}


recorder(RunStarted(**base(), workflow="endless"))
step = 0
while True:
    step += 1
    recorder(NodeStarted(**base(), node_id=f"n{step}", block="control.pass", step=step, attempt=1))
    if step % 7 == 0:
        recorder(LogEmitted(**base(), node_id=f"n{step}", level="info", message="x" * 300, step=step))
    recorder(
        NodeFinished(
            **base(), node_id=f"n{step}", step=step, attempt=1, duration=0.001,
            emissions=[{"value": step, "text": "y" * (step % 500)}], vars_set={"last": step},
        )
    )
    if step % pace == 0:
        recorder.flush(timeout=60)
"""


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_steps_reported_committed_survive_kill_9(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    database = tmp_path / "history.sqlite3"
    run_id = f"{seed:032x}"
    # Vary how events reach the writer: steady small commits, or big piled-up ones.
    pace = rng.choice([1, 13, 200])
    wanted = rng.randint(1, 600)
    stderr_path = tmp_path / "child.stderr"
    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", RECORDING_CHILD, f"sqlite:///{database}", run_id, str(pace)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        reported: list[int] = []
        try:
            assert child.stdout is not None
            while len(reported) < wanted:
                line = child.stdout.readline()
                if not line:
                    pytest.fail(f"the child stopped early:\n{stderr_path.read_text()}")
                reported.append(int(line.split()[1]))
            os.kill(child.pid, signal.SIGKILL)
        finally:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            if child.stdout is not None:
                child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    store = HistoryStore.open(f"sqlite:///{database}")
    try:
        assert store.integrity_check() == "ok"
        checkpoint = store.checkpoint(run_id)
        steps = store.steps(run_id)
    finally:
        store.close()

    assert reported == list(range(1, len(reported) + 1))
    missing = [step for step in reported if step not in checkpoint]
    assert missing == [], f"seed {seed}: steps reported committed but lost: {missing[:10]}"
    for step in reported:
        record = checkpoint[step]
        assert record.status is StepStatus.SUCCEEDED
        assert record.emissions == [{"value": step, "text": "y" * (step % 500)}]
        assert record.vars_set == {"last": step}
    # Nothing beyond the commits is half-written: every row is a whole step attempt.
    assert all(s.status in (StepStatus.RUNNING, StepStatus.SUCCEEDED) for s in steps)
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
