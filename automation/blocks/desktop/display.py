"""The one place that touches the display: pyautogui, screen grabs, pause and abort.

pyautogui opens a connection to the X server when it is imported, so it is
imported here, lazily, the first time a block actually moves the mouse —
never when the registry loads the module (a supervisor without a display
must still list the desktop blocks).  OpenCV, numpy and mss are imported on
first use for the same reason: loading the block registry (which the
supervisor does to validate workflow files) would otherwise pull ~35 MiB of
image libraries into a process that never touches the screen.  ``Image`` is
therefore a type-checking alias, resolved lazily for code that imports it at
run time.

Screens are grabbed with mss, which reads the X server's framebuffer in a few
milliseconds; pyscreeze's path shells out or goes through Pillow and is several
times slower.  mss handles are not thread-safe, so each thread keeps its own.

Pause and abort, reachable from outside a run:

* ``abort()`` in this process (the supervisor or a hotkey handler calls it)
  makes every desktop action fail at once with a non-retryable error until
  ``resume()``;
* the file ``<DESKPILOT_HOME>/state/desktop.pause`` (or the platform state
  folder when ``DESKPILOT_HOME`` is unset) pauses every desktop action while it
  exists — any tool can create or delete it, e.g. ``touch`` from a shell;
* the file ``desktop.abort`` in the same folder aborts like ``abort()``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from platformdirs import user_state_dir

from automation.blocks.context import BlockContext
from automation.errors import BlockError

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]
else:

    def __getattr__(name: str) -> Any:
        # ``Image`` is imported at run time by code that annotates with it; build it
        # (and import numpy) only then, and keep it so later lookups skip this hook.
        if name == "Image":
            import numpy.typing as npt

            globals()["Image"] = alias = npt.NDArray[Any]
            return alias
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


logger = logging.getLogger(__name__)

_abort = threading.Event()
_local = threading.local()
T = TypeVar("T")
CLICK_GAP = 0.05
"""Seconds between the clicks of a double or triple click.

X stamps input in whole milliseconds, and Qt does not count a second press
with the same stamp as the first as a double-click: clicks sent back to back
became two single clicks whenever both landed in one millisecond, which on a
busy machine was often.  50 ms is far inside every toolkit's double-click time
(Qt and GTK 400 ms, Windows 500 ms) and still quicker than a person.
"""

_gui_lock = threading.Lock()
_gui: ModuleType | None = None
_PAUSE_POLL = 0.1


class DesktopAborted(BlockError):
    """Desktop automation was aborted from outside the run (abort() or the abort file)."""

    retryable = False


class DisplayUnavailable(BlockError):
    """There is no display to drive (no DISPLAY, or the X server refused us)."""

    retryable = False


# -- is this a session we can drive? ------------------------------------------------------

_X11_ONLY = (
    "Deskpilot's desktop blocks drive X11: log in to an X11 session (such as "
    "'GNOME on Xorg' or 'Plasma (X11)' on the login screen), or run where XWayland "
    "accepts X clients (DISPLAY set, e.g. DISPLAY=:0, with its XAUTHORITY)"
)


def _wayland() -> bool:
    return (
        bool(os.environ.get("WAYLAND_DISPLAY")) or os.environ.get("XDG_SESSION_TYPE") == "wayland"
    )


def explain(message: str) -> str:
    """``message`` about a display failure, plus what works when this is a Wayland session."""
    if sys.platform.startswith("linux") and _wayland():
        return f"{message}; this is a Wayland session. {_X11_ONLY}"
    return message


def session_problem(*, connect: bool = False) -> str | None:
    """Why desktop blocks cannot drive this session, saying what works; None if they can.

    Only the environment is read, unless ``connect`` asks to open (and close)
    a connection to the X server too: a worker does that once before a
    desktop run, so a refused XWayland fails the run with this sentence
    instead of a library's traceback in the middle of a step.
    """
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        if _wayland():
            return (
                "this is a Wayland session without X access (WAYLAND_DISPLAY is set, "
                f"DISPLAY is not). {_X11_ONLY}"
            )
        return "no display: DISPLAY is not set; run under an X11 desktop session or Xvfb"
    if connect:
        refused = _x_refusal()
        if refused is not None:
            return explain(f"cannot connect to the X display {display} ({refused})")
    return None


def _x_refusal() -> str | None:
    try:
        from Xlib import display as xdisplay  # type: ignore[import-untyped]
    except ImportError as exc:
        return f"python-xlib is missing: {exc}"
    try:
        xdisplay.Display().close()
    except Exception as exc:  # DisplayConnectionError, ConnectionRefusedError, auth errors
        return str(exc).strip() or type(exc).__name__
    return None


# -- pause / abort ----------------------------------------------------------------------


def abort() -> None:
    """Stop all desktop automation in this process until ``resume()`` is called."""
    logger.warning("desktop automation aborted")
    _abort.set()


def resume() -> None:
    """Undo ``abort()``."""
    _abort.clear()


def control_dir() -> Path:
    """The folder holding the ``desktop.pause`` / ``desktop.abort`` flag files."""
    home = os.environ.get("DESKPILOT_HOME")
    if home:
        return Path(home).expanduser() / "state"
    return Path(user_state_dir("deskpilot", appauthor=False))


def checkpoint(ctx: BlockContext) -> None:
    """Called before every action: honours abort, waits while paused or the screen is locked,
    and cancellation."""
    ctx.input_pause()
    problem = session_problem()
    if problem is not None:
        raise DisplayUnavailable(problem)
    folder = control_dir()
    if _abort.is_set() or (folder / "desktop.abort").exists():
        raise DesktopAborted(
            "desktop automation was aborted; remove the abort flag "
            f"({folder / 'desktop.abort'}) or call automation.blocks.desktop.resume()"
        )
    pause_file = folder / "desktop.pause"
    if pause_file.exists():
        ctx.log(f"desktop automation paused while {pause_file} exists", "warning")
        while pause_file.exists():
            ctx.sleep(_PAUSE_POLL)  # raises at the step deadline or on cancel
            if _abort.is_set():
                raise DesktopAborted("desktop automation was aborted while paused")


# -- pyautogui ----------------------------------------------------------------------------


def gui() -> ModuleType:
    """pyautogui, imported on first use with the fail-safe on and no per-call pause."""
    global _gui
    with _gui_lock:
        if _gui is None:
            problem = session_problem()
            if problem is not None:
                raise DisplayUnavailable(problem)
            try:
                with warnings.catch_warnings():
                    # pyscreeze probes for scrot with a Popen it never closes
                    warnings.simplefilter("ignore", ResourceWarning)
                    import pyautogui  # type: ignore[import-untyped]
                    import pyscreeze  # type: ignore[import-untyped]

                    gc.collect()
            except Exception as exc:  # Xlib raises its own errors on a bad display
                raise DisplayUnavailable(explain(f"cannot connect to the display: {exc}")) from None
            # Pillow grabs the X screen itself; pyscreeze only needs to be told so.
            pyscreeze.GNOMESCREENSHOT_EXISTS = True
            pyautogui.FAILSAFE = True
            # the per-call 0.1 s pause only slows workflows down; steps pace themselves
            pyautogui.PAUSE = 0.0
            pyautogui.MINIMUM_DURATION = 0.0
            _gui = pyautogui
        return _gui


def failsafe_error(exc: BaseException) -> BlockError | None:
    """pyautogui's fail-safe as a clear, non-retryable step error (None if it is not one)."""
    if type(exc).__name__ != "FailSafeException":
        return None
    return DesktopAborted(
        "stopped by the fail-safe: the mouse was moved to a corner of the screen. "
        "Move it away from the corner and run again"
    )


def _is_macos() -> bool:
    return sys.platform == "darwin"


# -- screens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A rectangle in virtual-desktop pixels (all monitors together)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]

    @classmethod
    def of(cls, values: list[int] | tuple[int, int, int, int]) -> Box:
        x, y, w, h = (int(v) for v in values)
        return cls(x, y, w, h)


def _using_mss(use: Callable[[Any], T]) -> T:
    """``use(grabber)``, reconnecting once if the cached connection has gone bad.

    The connection can outlive its X server (a session restarted under the same
    display name); it is forgotten and made again before giving up.
    """
    try:
        return use(_mss())
    except DisplayUnavailable:
        raise
    except Exception:
        _forget_mss()
        return use(_mss())


def _forget_mss() -> None:
    grabber = getattr(_local, "mss", None)
    _local.mss = _local.display = None
    if grabber is not None:
        with contextlib.suppress(Exception):
            grabber.close()


def _mss() -> Any:
    display = os.environ.get("DISPLAY", "")
    grabber = getattr(_local, "mss", None)
    if grabber is None or getattr(_local, "display", None) != display:
        if grabber is not None:
            # Forget it before reconnecting: if the new display refuses us, a later call
            # (even for the old display) must not be handed this closed handle.
            _local.mss = _local.display = None
            grabber.close()
        try:
            import mss
        except ImportError as exc:
            raise DisplayUnavailable(f"screen capture needs mss: {exc}") from None
        try:
            grabber = mss.MSS()
        except Exception as exc:
            raise DisplayUnavailable(explain(f"cannot capture the screen: {exc}")) from None
        _local.mss = grabber
        _local.display = display
    return grabber


def monitors() -> list[Box]:
    """Index 0 is the whole virtual desktop; 1.. are the physical monitors (mss order)."""
    return [
        Box(int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))
        for m in _using_mss(lambda grabber: grabber.monitors)
    ]


def virtual_screen() -> Box:
    return monitors()[0]


def grab(region: Box | None = None) -> tuple[Image, Box]:
    """A BGR copy of ``region`` (default: the whole virtual desktop) and the box grabbed.

    The region is clipped to the desktop, so a box partly off-screen still works.
    """
    import cv2

    bgra, box = grab_raw(region)
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR), box


def grab_raw(region: Box | None = None) -> tuple[Image, Box]:
    """Like ``grab`` but BGRA and without a copy: the matcher converts what it needs.

    The fourth byte is X's padding, not transparency: never save this as-is.
    """
    import numpy as np

    screen = virtual_screen()
    box = screen if region is None else clip(region, screen)
    if box.width <= 0 or box.height <= 0:
        raise BlockError(
            f"region {region.as_list() if region else None} lies outside the screen "
            f"{screen.as_list()}",
            retryable=False,
        )
    area = {"left": box.x, "top": box.y, "width": box.width, "height": box.height}
    shot = _using_mss(lambda grabber: grabber.grab(area))
    bgra = np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)
    return bgra, box


def clip(region: Box, screen: Box) -> Box:
    x0 = max(region.x, screen.x)
    y0 = max(region.y, screen.y)
    x1 = min(region.x + region.width, screen.x + screen.width)
    y1 = min(region.y + region.height, screen.y + screen.height)
    return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))
