"""A session watch on a thread of its own, for a run with no supervisor: ``deskpilot run``.

Under the supervisor, the daemon's ``SessionWatch`` (on its loop) tells the
worker of a running desktop run to hold while the screen is locked.  A run
in the CLI's own process has no loop and no supervisor to tell it, yet types
into the same screen; ``hold_while_unusable`` runs the same watch on a
thread with a loop of its own and sets the run's ``SessionHold`` directly,
for as long as the run lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from automation.engine.hold import SessionHold
from supervisor.session_watch import STOP_TIMEOUT, SessionWatch, default_watch

logger = logging.getLogger(__name__)

#: Seconds to wait for the watch's first read before the run starts anyway.
START_TIMEOUT = 5.0


@contextlib.contextmanager
def hold_while_unusable(
    hold: SessionHold,
    make_watch: Callable[[], SessionWatch] = default_watch,
    *,
    start_timeout: float = START_TIMEOUT,
) -> Iterator[None]:
    """Keep ``hold`` set while the session is not usable, until the block ends.

    Returns once the watch has read the session (or ``start_timeout``
    passed), so a run started inside the block starts held if the screen is
    locked already.  A watch that fails is logged, never raised: the run goes
    on as it would have without it.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()  # bound to ``loop`` when first awaited there

    def changed(reason: str | None) -> None:
        if reason is None:
            hold.release()
        else:
            hold.hold(reason)

    async def watch_until_stopped() -> None:
        watch = make_watch()
        watch.subscribe(changed)
        try:
            await watch.start()
            reason = watch.reason()
            if reason is not None:
                changed(reason)
        finally:
            ready.set()
        try:
            await stop.wait()
        finally:
            await watch.stop()

    def run() -> None:
        try:
            loop.run_until_complete(watch_until_stopped())
        except Exception:
            logger.exception("the session watch failed; the run is not held if the screen locks")
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name="session-watch", daemon=True)
    thread.start()
    if not ready.wait(start_timeout):
        logger.warning("the session was not read within %ss; the run starts anyway", start_timeout)
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):  # the loop ended already
            loop.call_soon_threadsafe(stop.set)
        thread.join(STOP_TIMEOUT + 1.0)
        if thread.is_alive():
            logger.warning("the session watch did not stop within %ss", STOP_TIMEOUT + 1.0)
