"""How signals change the watched session state, and how the dispatch gate holds desktop runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor.config import SupervisorConfig
from supervisor.core import QueuedRun
from supervisor.desktop_gate import DesktopGate
from supervisor.protocol import Hold, Release, ToWorker
from supervisor.session import SessionState
from supervisor.session_watch import WatchedState, apply_signal
from supervisor.store.records import SessionWait

FREEDESKTOP = "org.freedesktop.ScreenSaver"
GNOME = "org.gnome.ScreenSaver"
SESSION = "org.freedesktop.login1.Session"


def test_screen_savers_lock_and_unlock_on_their_own() -> None:
    state = apply_signal(WatchedState(), FREEDESKTOP, "ActiveChanged", (True,))
    state = apply_signal(state, GNOME, "ActiveChanged", (True,))
    assert state.session_state().locked_by == f"{FREEDESKTOP} ActiveChanged"
    state = apply_signal(state, FREEDESKTOP, "ActiveChanged", (False,))
    # GNOME's lock is still on: the session is still locked
    assert state.session_state() == SessionState(locked_by=f"{GNOME} ActiveChanged")
    state = apply_signal(state, GNOME, "ActiveChanged", (False,))
    assert state.session_state() == SessionState()


def test_logind_lock_hint_and_sleep() -> None:
    state = apply_signal(WatchedState(), SESSION, "Lock", ())
    # the LockedHint that follows a Lock keeps the first word on it
    state = apply_signal(
        state,
        "org.freedesktop.DBus.Properties",
        "PropertiesChanged",
        (SESSION, {"LockedHint": ("b", True)}, []),
    )
    assert state.session_state().locked_by == "logind Lock"
    state = apply_signal(state, SESSION, "Unlock", ())
    assert state.session_state().locked_by is None
    state = apply_signal(state, "org.freedesktop.login1.Manager", "PrepareForSleep", (True,))
    assert state.session_state().sleeping
    state = apply_signal(state, "org.freedesktop.login1.Manager", "PrepareForSleep", (False,))
    assert state.session_state() == SessionState()


def test_signals_about_other_things_change_nothing() -> None:
    state = WatchedState(locks={"logind": "logind Lock"})
    assert apply_signal(state, SESSION, "PauseDevice", (1, 2, "x")) is state
    props = ("org.freedesktop.login1.Session", {"IdleHint": ("b", True)}, [])
    assert (
        apply_signal(state, "org.freedesktop.DBus.Properties", "PropertiesChanged", props) is state
    )


def test_a_whole_read_replaces_what_signals_said() -> None:
    read = SessionState(locked_by="logind LockedHint", sleeping=False)
    assert WatchedState.from_read(read).locks == {"logind": "logind LockedHint"}
    assert WatchedState.from_read(SessionState()).locks == {}


class FakeWatch:
    """The gate's side of a SessionWatch: a reason set by the test."""

    def __init__(self) -> None:
        self.now: str | None = None
        self.callbacks: list[Callable[[str | None], None]] = []

    def reason(self) -> str | None:
        return self.now

    def subscribe(self, callback: Callable[[str | None], None]) -> None:
        self.callbacks.append(callback)

    def set(self, reason: str | None) -> None:
        self.now = reason
        for callback in self.callbacks:
            callback(reason)


@dataclass
class FakeWorker:
    sent: list[ToWorker] = field(default_factory=list)
    hard_deadline: float = 0.0

    async def send(self, message: ToWorker) -> bool:
        self.sent.append(message)
        return True


@dataclass
class FakeActive:
    entry: QueuedRun
    worker: FakeWorker = field(default_factory=FakeWorker)
    cancel_requested: bool = False


class FakeSupervisor:
    def __init__(self) -> None:
        self.queue: dict[str, Any] = {}
        self.active: dict[str, Any] = {}
        self.config = SupervisorConfig(kill_grace=1.0)
        self.notes: list[tuple[str, int, str, dict[str, Any]]] = []
        self.dispatches = 0
        self.now = 100.0
        self.clock = lambda: self.now

    def _spawn_task(self, coro: Any) -> None:
        with contextlib.suppress(StopIteration):  # the fake worker's send never waits
            coro.send(None)

    def _run_deadline(self, active: Any) -> float:
        return 1000.0

    def _arm(self, worker: Any) -> None:
        pass

    def _note(self, run_id: str, seq: int, message: str, data: dict[str, Any]) -> None:
        self.notes.append((run_id, seq, message, data))

    def _dispatch(self) -> None:
        self.dispatches += 1


def test_the_gate_holds_a_desktop_run_notes_why_once_and_lets_it_go_when_usable() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock = [t0]
    watch, supervisor = FakeWatch(), FakeSupervisor()
    gate = DesktopGate(supervisor, watch, now=lambda: clock[0])
    entry = QueuedRun(run_id="r1", workflow="w", text="", path=None, inputs={}, last_seq=4)
    supervisor.queue["r1"] = entry

    assert not gate.holds(entry)  # usable: nothing to say
    watch.set("the screen is locked (x)")
    assert supervisor.dispatches == 0  # locking wakes nobody
    assert gate.holds(entry) and gate.holds(entry)
    assert [n[1:3] for n in supervisor.notes] == [
        (
            5,
            "waiting: the screen is locked (x); desktop runs start when the session is usable again",
        )
    ]
    watch.set("the machine is going to sleep (y)")  # a new reason is a new line
    assert gate.holds(entry)
    assert supervisor.notes[-1][1] == 6 and "going to sleep" in supervisor.notes[-1][2]

    clock[0] = t0 + timedelta(seconds=90)
    watch.set(None)
    assert supervisor.dispatches == 1  # the dispatch is asked again at once
    assert not gate.holds(entry)
    assert supervisor.notes[-1][1:3] == (
        7,
        "the session is usable again: the run starts after waiting 90.0s because the "
        "machine is going to sleep (y)",
    )
    assert entry.last_seq == 7  # the worker numbers its events on from here
    assert not gate.holds(entry) and len(supervisor.notes) == 3


def test_a_run_cancelled_while_it_waited_is_forgotten() -> None:
    watch, supervisor = FakeWatch(), FakeSupervisor()
    gate = DesktopGate(supervisor, watch)
    entry = QueuedRun(run_id="r1", workflow="w", text="", path=None, inputs={})
    watch.set("locked")
    assert gate.holds(entry)
    watch.set(None)  # r1 is not in the queue any more
    assert gate.held == {} and supervisor.dispatches == 0


def test_running_desktop_runs_are_told_to_hold_and_release_and_others_are_not() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    watch, supervisor = FakeWatch(), FakeSupervisor()
    DesktopGate(supervisor, watch, now=lambda: t0)  # it subscribes to the watch
    desktop = FakeActive(
        QueuedRun(
            run_id="d",
            workflow="w",
            text="",
            path=None,
            inputs={},
            resources=frozenset({"desktop"}),
            step_timeouts={"type": 30.0},
        )
    )
    plain = FakeActive(QueuedRun(run_id="p", workflow="w", text="", path=None, inputs={}))
    supervisor.active = {"d": desktop, "p": plain}
    desktop.worker.hard_deadline = 140.0  # its step's kill deadline

    watch.set("the screen is locked (x)")
    watch.set("the screen is locked (x)")  # said again: not sent again
    assert desktop.worker.sent == [Hold(reason="the screen is locked (x)", since=t0)]
    assert desktop.worker.hard_deadline == 1000.0  # only the run's limit while held
    watch.set("the machine is going to sleep (y)")  # a new reason is passed on
    assert desktop.worker.sent[-1] == Hold(reason="the machine is going to sleep (y)", since=t0)

    supervisor.now = 500.0
    watch.set(None)
    assert desktop.worker.sent[-1] == Release()
    assert desktop.worker.hard_deadline == 500.0 + 30.0 + 2 * 1.0 + 1.0  # the step's, from now
    assert plain.worker.sent == []  # a run that does not drive the desktop goes on


def test_a_desktop_run_handed_over_while_locked_holds_at_once() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    watch, supervisor = FakeWatch(), FakeSupervisor()
    gate = DesktopGate(supervisor, watch, now=lambda: t0)
    watch.set("locked")
    run = FakeActive(
        QueuedRun(
            run_id="d",
            workflow="w",
            text="",
            path=None,
            inputs={},
            resources=frozenset({"desktop"}),
        )
    )
    supervisor.active = {"d": run}
    gate.started(run)  # type: ignore[arg-type]
    assert run.worker.sent == [Hold(reason="locked", since=t0)]
    # its worker died and the run went on on another one: that one is told again
    again = FakeActive(run.entry)
    supervisor.active = {"d": again}
    gate.started(again)  # type: ignore[arg-type]
    assert again.worker.sent == [Hold(reason="locked", since=t0)]


def test_a_resumed_run_that_waits_for_the_session_does_not_spend_its_time_limit() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock = [t0]
    watch, supervisor = FakeWatch(), FakeSupervisor()
    gate = DesktopGate(supervisor, watch, now=lambda: clock[0])
    fresh = QueuedRun(run_id="f", workflow="w", text="", path=None, inputs={})
    resumed = QueuedRun(
        run_id="r", workflow="w", text="", path=None, inputs={}, deadline_seconds=60.0
    )
    resumed.first_started = 10.0  # its limit counts from its first start
    supervisor.queue = {"f": fresh, "r": resumed}
    watch.set("the screen is locked (x)")
    assert gate.holds(fresh) and gate.holds(resumed)
    clock[0] = t0 + timedelta(seconds=90)
    watch.set(None)
    assert not gate.holds(fresh) and not gate.holds(resumed)
    assert resumed.paused_seconds == 90.0
    assert fresh.paused_seconds == 0.0  # its limit has not started: nothing to give back


def test_a_wait_recorded_before_a_restart_goes_on_from_when_it_began() -> None:
    """The entry a restarted supervisor loads carries the wait its history shows open."""
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock = [t0 + timedelta(seconds=100)]  # the restart came 100 s into the wait
    watch, supervisor = FakeWatch(), FakeSupervisor()
    gate = DesktopGate(supervisor, watch, now=lambda: clock[0])
    entry = QueuedRun(
        run_id="r", workflow="w", text="", path=None, inputs={}, deadline_seconds=60.0
    )
    entry.first_started = 10.0
    entry.session_wait = SessionWait(reason="the screen is locked (x)", since=t0)
    supervisor.queue["r"] = entry
    watch.set("the screen is locked (x)")
    assert gate.holds(entry) and gate.holds(entry)
    assert supervisor.notes == []  # the same wait: nothing new to say
    assert gate.held["r"].since == t0

    clock[0] = t0 + timedelta(seconds=150)
    watch.set(None)
    assert not gate.holds(entry)
    ((_, _, message, data),) = supervisor.notes
    assert message.startswith("the session is usable again: the run starts after waiting 150.0s")
    assert data == {
        "reason": "session_usable",
        "waited_seconds": 150.0,
        "paused_seconds": 150.0,
        "since": t0.isoformat(),
    }
    assert entry.paused_seconds == 150.0 and entry.session_wait is None


def test_a_wait_recorded_before_a_restart_ends_if_the_session_is_usable_at_load() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    watch, supervisor = FakeWatch(), FakeSupervisor()
    gate = DesktopGate(supervisor, watch, now=lambda: t0 + timedelta(seconds=30))
    fresh = QueuedRun(run_id="f", workflow="w", text="", path=None, inputs={})
    fresh.session_wait = SessionWait(reason="locked", since=t0)
    assert not gate.holds(fresh)
    ((_, _, message, data),) = supervisor.notes
    assert "after waiting 30.0s because locked" in message
    assert data["paused_seconds"] == 0.0  # never started: its time limit has not begun
