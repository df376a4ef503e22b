"""The GUI's live link to the supervisor: the real ``SupervisorConnection``.

Three things happen off the GUI thread, because any of them can block for
as long as a client timeout when the supervisor is busy or gone:

* a health poller asks ``/health`` and ``/workflows`` every couple of
  seconds; its answer is the truth about ``connected``.  When nothing
  answers at start-up it starts the supervisor (once: a supervisor the user
  stopped on purpose is not started again behind their back; the banner
  offers a button instead);
* an event follower keeps one ``GET /events`` stream open and reconnects
  with a growing pause when it breaks (the supervisor restarting);
* ``run_job`` (``app.jobs``) runs short API calls for views (history pages, run details).

Each thread talks to the GUI through queued Qt signals only, so every
listener runs on the GUI thread.  The GUI never opens the database.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx
import shiboken6
from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.connection import SupervisorConnection
from app.jobs import job_pool as job_pool
from app.jobs import run_job as run_job
from app.shared_client import SharedClient
from automation.errors import DeskpilotError
from supervisor.api.models import Health, WorkflowInfo
from supervisor.client import (
    START_LOG,
    SupervisorApiError,
    SupervisorClient,
    SupervisorUnavailable,
    endpoint_answers,
    is_running,
    start_log_tail,
)
from supervisor.paths import DATABASE_URL_VARIABLE, HOME_VARIABLE, DeskpilotPaths
from supervisor.remote import RemoteApi, resolve
from supervisor.starting import ANSWER_SECONDS, lock_holder, start_unless_running
from supervisor.stop_marker import stopped_by_user

log = logging.getLogger(__name__)

#: Events kept per run so a view that starts following a run late misses nothing.
RECENT_EVENTS_PER_RUN = 5000
RECENT_RUNS = 20
#: Triggers that mean somebody was watching (the GUI, the CLI, a re-run from either).
ATTENDED_TRIGGERS = ("api", "manual", "cli")


def is_unattended(trigger: str | None) -> bool:
    """Whether a run was started by a schedule, a file, a webhook or another workflow."""
    if not trigger:
        return False
    return trigger not in ATTENDED_TRIGGERS and not trigger.startswith("rerun:")


# -- starting the supervisor ----------------------------------------------------------------


def launch_supervisor(paths: DeskpilotPaths) -> subprocess.Popen[bytes] | None:
    """Start ``deskpilotd`` detached from the GUI, so it outlives the window and the tray.

    None when a supervisor already holds this home's lock: it is starting
    (or serving), and the poller waits for its API instead of starting a
    second one (``supervisor.starting``).  The poller reads the tail of the
    start log when the one started here exits at once (a broken database) so
    the banner can say why.
    """
    process = start_unless_running(
        paths, daemon_environment(paths, os.environ), requested_by="the Deskpilot window"
    )
    if process is None:
        log.info("a supervisor is starting already (pid %s); waiting for it", lock_holder(paths))
        return None
    log.info(
        "started the supervisor (pid %s); its output goes to %s",
        process.pid,
        paths.log_dir / START_LOG,
    )
    return process


def daemon_environment(paths: DeskpilotPaths, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment that makes a new ``deskpilotd`` use exactly ``paths``.

    The daemon finds its folders from ``DESKPILOT_HOME`` (or the platform's
    defaults), so the GUI's folders must be one of those two layouts.
    """
    env = dict(environ)
    home = paths.data_dir.parent
    if paths == DeskpilotPaths.under(home, database_url=paths.database_url):
        env[HOME_VARIABLE] = str(home)  # absolute: the daemon runs from '/'
        default_url = DeskpilotPaths.under(home).database_url
    elif paths == DeskpilotPaths.platform_default(database_url=paths.database_url):
        env.pop(HOME_VARIABLE, None)
        default_url = DeskpilotPaths.platform_default().database_url
    else:
        raise DeskpilotError(
            f"cannot start a supervisor for the folders under {paths.data_dir}: they are "
            "neither a DESKPILOT_HOME nor the default folders; start it with "
            "'deskpilot supervisor start' in the same environment as the GUI"
        )
    if paths.database_url != default_url:
        env[DATABASE_URL_VARIABLE] = paths.database_url
    else:
        env.pop(DATABASE_URL_VARIABLE, None)
    return env


# -- the threads ----------------------------------------------------------------------------


class _HealthPoller(QThread):
    polled = Signal(object, object)  # Health, list[WorkflowInfo]
    unreachable = Signal(str)
    starting = Signal()
    start_failed = Signal(str)

    def __init__(
        self,
        paths: DeskpilotPaths,
        interval: float,
        autostart: bool,
        launcher: Callable[[DeskpilotPaths], subprocess.Popen[bytes] | None],
        remote: RemoteApi | None = None,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.interval = interval
        self.remote = remote
        self.autostart = autostart and remote is None  # another machine's is not ours to start
        self.launcher = launcher
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.start_requested = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        #: since when this poller waits for a supervisor it did not start (which holds the lock)
        self._awaiting: tuple[int, float] | None = None

    def run(self) -> None:
        client: SupervisorClient | None = None
        # Start a missing supervisor once, when the window opens, unless a person stopped
        # it; one that goes away later was stopped on purpose or crashed (systemd restarts
        # those): the banner offers to start it instead.
        tried_autostart = False
        seen_running = False
        while not self.stopping.is_set():
            try:
                if self.remote is None and not endpoint_answers(self.paths):
                    raise SupervisorUnavailable(
                        "the Deskpilot supervisor is not running (nothing answers in "
                        f"{self.paths.state_dir})"
                    )
                client = client or SharedClient(
                    self.paths, timeout=max(2.0, self.interval), remote=self.remote
                )
                health = client.health()
                workflows = client.workflows()
            except DeskpilotError as exc:
                if client is not None:
                    client.close()  # re-read the socket and token next time
                client = None
                self.unreachable.emit(str(exc))
                if (
                    self.autostart
                    and not tried_autostart
                    and not seen_running
                    and stopped_by_user(self.paths.state_dir) is None
                ):
                    tried_autostart = True
                    self.start_requested.set()
                self._maybe_start()
            else:
                seen_running = True
                self._forget_process()
                self.polled.emit(health, workflows)
            self.wake.wait(self.interval)
            self.wake.clear()
        if client is not None:
            client.close()

    def _maybe_start(self) -> None:
        if self.process is not None:
            code = self.process.poll()
            if code is None:
                if time.monotonic() - self._started_at > ANSWER_SECONDS:
                    self.start_failed.emit(
                        f"the supervisor (pid {self.process.pid}) started but does not answer; "
                        f"see {self.paths.log_dir / 'deskpilotd.log'}"
                    )
                    self._forget_process()
                return
            self.process = None
            holder = lock_holder(self.paths)
            if holder is not None:  # another launcher's (systemd's, a terminal's) was first
                self._awaiting = (holder, time.monotonic())
                return
            detail = start_log_tail(self.paths, lines=6)
            self.start_failed.emit(
                f"the supervisor exited while starting (code {code})"
                + (f":\n{detail}" if detail else "")
            )
            return
        if self._awaiting is not None:
            if self._await_other():
                self._launch()
            return
        if not self.start_requested.is_set():
            return
        self.start_requested.clear()
        self._launch()

    def _launch(self) -> None:
        if is_running(self.paths, timeout=1.0):
            return  # it came up in between (another window, systemd)
        self.starting.emit()
        try:
            self.process = self.launcher(self.paths)
        except (OSError, DeskpilotError) as exc:
            self.start_failed.emit(f"cannot start the supervisor: {exc}")
            return
        self._started_at = time.monotonic()
        if self.process is None:  # one holds the lock: starting, so wait for its API
            self._awaiting = (lock_holder(self.paths) or -1, self._started_at)

    def _await_other(self) -> bool:
        """A supervisor this poller did not start holds the lock: wait for its API, with a
        deadline, and never start another.  True once the lock is free without it having
        answered (it was stopping, or failed while starting): start one now."""
        assert self._awaiting is not None
        pid, since = self._awaiting
        if lock_holder(self.paths) is None:
            self._awaiting = None
            return True
        if time.monotonic() - since > ANSWER_SECONDS:
            self._awaiting = None
            who = f"pid {pid}" if pid > 0 else "pid unknown"
            self.start_failed.emit(
                f"the supervisor ({who}) holds its lock but did not answer within "
                f"{ANSWER_SECONDS:g}s; see {self.paths.log_dir / 'deskpilotd.log'}"
            )
        return False

    def _forget_process(self) -> None:
        self._awaiting = None
        if self.process is not None:
            # detached on purpose: it outlives us, so neither reap it nor warn about it
            self.process.returncode = 0
            self.process = None


def _sse_items(response: httpx.Response) -> Iterator[dict[str, Any] | None]:
    """The stream's items; None for each keep-alive, so the reader can check for stop."""
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield None
            continue
        if line == "":
            if data:
                try:
                    item = json.loads("\n".join(data))
                except ValueError:
                    log.warning("unreadable event from the supervisor: %.200s", data)
                    item = None
                data = []
                if isinstance(item, dict):
                    yield item
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)


class _EventFollower(QThread):
    received = Signal(object)
    opened = Signal()
    closed = Signal(str)

    KEEPALIVE = 0.5
    MAX_PAUSE = 3.0

    def __init__(self, paths: DeskpilotPaths, remote: RemoteApi | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.remote = remote
        self.stopping = threading.Event()
        #: set to retry at once (the poller saw the supervisor come back)
        self.wake = threading.Event()

    def _pause(self, seconds: float) -> None:
        self.wake.wait(seconds)
        self.wake.clear()

    def run(self) -> None:
        pause = 0.2
        while not self.stopping.is_set():
            if self.remote is None and not endpoint_answers(self.paths):
                self.closed.emit("nothing answers on the supervisor's socket")
                self._pause(pause)
                pause = min(pause * 2, self.MAX_PAUSE)
                continue
            client = SharedClient(self.paths, timeout=5.0, remote=self.remote)
            try:
                with client.events(heartbeat=self.KEEPALIVE, read_timeout=10.0) as reader:
                    self.opened.emit()
                    pause = 0.2
                    for item in _sse_items(reader.response):
                        if self.stopping.is_set():
                            break
                        if item is not None:
                            self.received.emit(item)
                if not self.stopping.is_set():
                    self.closed.emit("the supervisor closed the event stream")
            except (DeskpilotError, httpx.HTTPError) as exc:
                self.closed.emit(str(exc))
            finally:
                client.close()
            self._pause(pause)
            pause = min(pause * 2, self.MAX_PAUSE)


# -- the link -------------------------------------------------------------------------------


class LinkSignals(QObject):
    """The link's Qt face; every signal is delivered on the GUI thread."""

    #: one live event (an engine event or a supervisor event), as the API sends it
    received = Signal(dict)
    connected_changed = Signal(bool)
    #: the latest Health, or None while the supervisor is unreachable
    health_changed = Signal(object)
    #: text of the banner to show, "" when everything is fine
    banner_changed = Signal(str)
    #: a run this GUI submitted: run id, workflow file
    run_submitted = Signal(str, Path)
    #: the event stream (re)opened: views refresh what they may have missed
    stream_opened = Signal()
    #: the link now talks to another supervisor (``SupervisorLink.target`` describes it)
    target_changed = Signal(str)

    def __init__(self, link: SupervisorLink) -> None:
        super().__init__()
        self._link = link

    @Slot(object, object)
    def _polled(self, health: Health, workflows: list[WorkflowInfo]) -> None:
        self._link._on_polled(health, workflows)

    @Slot(str)
    def _unreachable(self, reason: str) -> None:
        self._link._on_unreachable(reason)

    @Slot()
    def _starting(self) -> None:
        self._link._set_banner("Starting the supervisor…", starting=True)

    @Slot(str)
    def _start_failed(self, reason: str) -> None:
        self._link._on_start_failed(reason)

    @Slot(object)
    def _event(self, item: dict[str, Any]) -> None:
        self._link._on_event(item)

    @Slot()
    def _opened(self) -> None:
        self._link._on_stream_opened()

    @Slot(str)
    def _closed(self, reason: str) -> None:
        log.debug("event stream closed: %s", reason)
        self._link._on_stream_closed()


class SupervisorLink(SupervisorConnection):
    """The GUI's connection to ``deskpilotd``: this machine's local API, or another
    machine's by URL (``remote``; by default the saved connection the CLI uses too).

    ``start()`` begins polling and following; ``stop()`` ends the threads (the
    supervisor keeps running); ``switch()`` points them at another supervisor.
    ``banner`` is the sentence to show while the supervisor is unreachable ("" when
    connected).
    """

    def __init__(
        self,
        paths: DeskpilotPaths,
        *,
        autostart: bool = True,
        poll_interval: float = 2.0,
        launcher: Callable[[DeskpilotPaths], subprocess.Popen[bytes] | None] = launch_supervisor,
        client_timeout: float = 5.0,
        remote: RemoteApi | None | Literal["auto"] = "auto",
    ) -> None:
        super().__init__()
        # every poll is a request: httpx's INFO line per request would drown the GUI's log
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        self.paths = paths
        self.signals = LinkSignals(self)
        self._settings = (poll_interval, autostart, launcher, client_timeout)
        self.last_problem = ""
        if remote == "auto":
            try:
                remote = resolve(paths.config_dir)
            except DeskpilotError as exc:  # a damaged connection.json: this machine, and say so
                log.warning("%s", exc)
                remote, self.last_problem = None, str(exc)
        #: The other machine's API this window talks to; None: this machine's supervisor.
        self.remote: RemoteApi | None = remote
        self.client: SupervisorClient = SharedClient(paths, timeout=client_timeout, remote=remote)
        self.health: Health | None = None
        self.workflows: dict[str, WorkflowInfo] = {}
        self.banner = self._connecting()
        self.starting = False
        #: whether live events arrive now; views reload what they missed when it reopens
        self.stream_open = False
        self._connected = False
        self._recent: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()
        self._secret_names: tuple[float, list[str]] = (0.0, [])
        self._poller, self._follower = self._threads()

    def _threads(self) -> tuple[_HealthPoller, _EventFollower]:
        interval, autostart, launcher, _ = self._settings
        poller = _HealthPoller(self.paths, interval, autostart, launcher, self.remote)
        follower = _EventFollower(self.paths, self.remote)
        self._poller, self._follower = poller, follower
        self._poller.polled.connect(self.signals._polled)
        self._poller.unreachable.connect(self.signals._unreachable)
        self._poller.starting.connect(self.signals._starting)
        self._poller.start_failed.connect(self.signals._start_failed)
        self._follower.received.connect(self.signals._event)
        self._follower.opened.connect(self.signals._opened)
        self._follower.closed.connect(self.signals._closed)
        return poller, follower

    def _connecting(self) -> str:
        return (
            "Connecting to the supervisor…"
            if self.remote is None
            else f"Connecting to {self.target}…"
        )

    @property
    def target(self) -> str:
        """Which supervisor this is, for titles and banners."""
        if self.remote is None:
            return "this machine's supervisor"
        return f"the supervisor on {self.remote.host} ({self.remote.url})"

    def switch(self, remote: RemoteApi | None) -> None:
        """Talk to ``remote`` (None: this machine's supervisor) from now on.

        The threads and the shared client are replaced; views see a disconnect and a
        connect, and reload as they do when the supervisor restarts.
        """
        self.stop()
        self.remote = remote
        self.client = SharedClient(self.paths, timeout=self._settings[3], remote=remote)
        self.health, self.workflows, self.last_problem = None, {}, ""
        self._recent.clear()
        self._secret_names = (0.0, [])
        self._set_connected(False)
        self._set_banner(self._connecting())
        self.signals.target_changed.emit(self.target)
        self._threads()
        self.start()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SupervisorLink:
        self._poller.start()
        self._follower.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following; the supervisor itself keeps running."""
        self._poller.stopping.set()
        self._poller.wake.set()
        self._follower.stopping.set()
        self._follower.wake.set()
        for thread in (self._poller, self._follower):
            if thread.isRunning() and not thread.wait(int(timeout * 1000)):
                log.warning("%s did not stop within %.1fs", type(thread).__name__, timeout)
        self.client.close()

    def refresh(self) -> None:
        """Ask for health now rather than at the next poll."""
        self._poller.wake.set()

    def start_supervisor(self) -> None:
        """The banner's button: start the supervisor now (this machine's only)."""
        if self.remote is not None:
            return
        self._poller.start_requested.set()
        self._poller.wake.set()

    @property
    def supervisor_process(self) -> subprocess.Popen[bytes] | None:
        """The supervisor this link started and is still watching come up, if any."""
        return self._poller.process

    # -- SupervisorConnection --------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def _runnable_there(self, workflow: Path) -> None:
        """Another machine's supervisor reads a path on its own disk, where it may hold
        another file or an older copy: only a file of its own catalog is known to be it."""
        theirs = {info.path for info in self.workflows.values() if info.path}
        if self.remote is None or str(workflow) in theirs:
            return
        raise DeskpilotError(
            f"{workflow} is a file on this machine, but the window talks to {self.target}, "
            "which reads workflow paths on its own disk. Run it here after choosing This "
            "machine (Runs → Machines), or copy it into that machine's workflows folder"
        )

    def start_run(
        self, workflow: Path, inputs: Mapping[str, Any], *, breakpoints: Sequence[str] = ()
    ) -> str:
        self._runnable_there(workflow)
        submitted = self.client.submit(workflow, inputs=dict(inputs), breakpoints=breakpoints)
        self.signals.run_submitted.emit(submitted.run_id, Path(workflow))
        return submitted.run_id

    def run_from(
        self, workflow: Path, name: str, node: str, *, breakpoints: Sequence[str] = ()
    ) -> str:
        self._runnable_there(workflow)
        last = [r for r in self.client.list_runs(workflow=name, limit=20).runs if r.finished_at]
        if not last:
            raise DeskpilotError(
                f"'{name}' has no finished run to reuse; run it once (F5), then run from here"
            )
        submitted = self.client.rerun(
            last[0].id, "from_node", path=workflow, node=node, breakpoints=breakpoints
        )
        self.signals.run_submitted.emit(submitted.run_id, Path(workflow))
        return submitted.run_id

    def cancel_run(self, run_id: str) -> bool:
        return self.client.cancel(run_id).cancelled

    def set_breakpoints(self, run_id: str, nodes: Sequence[str]) -> bool:
        try:
            self.client.set_breakpoints(run_id, nodes)
        except SupervisorApiError as exc:
            if exc.status == 409 and self.client.get_run(run_id).run.status.terminal:
                return False  # it ended before the change reached it
            raise
        return True

    def secret_names(self) -> Sequence[str]:
        fetched, names = self._secret_names
        if time.monotonic() - fetched > 30:
            from automation.secrets import secret_store_from_env

            try:
                names = secret_store_from_env().names()
            except DeskpilotError as exc:
                log.info("secret names unavailable: %s", exc)
                names = []
            self._secret_names = (time.monotonic(), names)
        return list(names)

    def forget_secret_names(self) -> None:
        """The secrets view changed the keyring: read the names again next time."""
        self._secret_names = (0.0, [])

    def last_run_status(self, workflow_name: str) -> str | None:
        info = self.workflows.get(workflow_name)
        return info.last_run_status if info is not None else None

    def notify(self) -> None:
        """Tell the listeners; those whose widget was deleted (a closed window) are dropped."""
        for listener in list(self._listeners):
            owner = getattr(listener, "__self__", None)
            if isinstance(owner, QObject) and not shiboken6.isValid(owner):
                self.unsubscribe(listener)
                continue
            listener()

    # -- events ----------------------------------------------------------------------------
    def recent_events(self, run_id: str) -> list[dict[str, Any]]:
        """The live events of a recent run seen so far, oldest first."""
        return list(self._recent.get(run_id, ()))

    def _remember(self, item: dict[str, Any]) -> None:
        run_id = item.get("run_id")
        if not isinstance(run_id, str):
            return
        bucket = self._recent.get(run_id)
        if bucket is None:
            bucket = self._recent[run_id] = deque(maxlen=RECENT_EVENTS_PER_RUN)
            while len(self._recent) > RECENT_RUNS:
                self._recent.popitem(last=False)
        bucket.append(item)

    def _on_event(self, item: dict[str, Any]) -> None:
        self._remember(item)
        if not self._connected:
            self._poller.wake.set()
        self.signals.received.emit(item)
        if item.get("kind") in ("run_finished", "breaker_opened", "breaker_closed", "run_queued"):
            self._poller.wake.set()  # the tray's icon and the last-run column follow at once

    def _on_stream_opened(self) -> None:
        self.stream_open = True
        self._poller.wake.set()
        self.signals.stream_opened.emit()

    def _on_stream_closed(self) -> None:
        if self.stream_open:
            self.stream_open = False
            self._poller.wake.set()

    # -- health ----------------------------------------------------------------------------
    def _on_polled(self, health: Health, workflows: list[WorkflowInfo]) -> None:
        self.health = health
        self.workflows = {w.name: w for w in workflows}
        self.starting = False
        self.last_problem = ""
        self._set_connected(True)
        if not health.accepting:
            self._set_banner("The supervisor is shutting down; runs wait until it is back.")
        elif health.status != "ok":
            self._set_banner(f"The supervisor's database needs attention: {health.database}")
        else:
            self._set_banner("")
        self.signals.health_changed.emit(health)
        self.notify()

    def _on_unreachable(self, reason: str) -> None:
        self.health = None
        self.last_problem = reason
        was = self._connected
        self._set_connected(False)
        if self.remote is not None:
            self._set_banner(f"Cannot reach {self.target}: {reason}")
        elif not self.starting:
            stopped = stopped_by_user(self.paths.state_dir)
            if stopped is not None:
                self._set_banner(
                    f"The supervisor was stopped ({stopped}): scheduled and triggered runs "
                    "wait until you start it again."
                )
            else:
                self._set_banner(
                    "The supervisor is not running: runs, history and triggers are "
                    "unavailable until it is back. Deskpilot reconnects by itself."
                )
        if was:
            self.signals.health_changed.emit(None)
            self.notify()

    def _on_start_failed(self, reason: str) -> None:
        self.starting = False
        self.last_problem = reason
        self._set_banner(f"The supervisor could not be started: {reason}")

    def _set_connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            if value and not self.stream_open:
                self._follower.wake.set()  # follow the events now, not after a back-off
            log.info("supervisor %s", "connected" if value else "not reachable")
            self.signals.connected_changed.emit(value)
            self.notify()

    def _set_banner(self, text: str, *, starting: bool = False) -> None:
        if starting:
            self.starting = True
        if text != self.banner:
            self.banner = text
            self.signals.banner_changed.emit(text)
