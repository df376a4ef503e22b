"""Every thread's Python stack of a worker, read from outside the process with py-spy.

A worker found hung may be SIGSTOPped, or stuck in C holding the GIL: it
cannot run its own faulthandler then (the signal waits, undelivered, until
the process is killed), so the stack it would write never appears.  py-spy
reads the interpreter's memory from outside (``py-spy dump --nonblocking``,
about 10 ms), which works on a stopped process too.  The faulthandler dump
in the worker's log stays as a second source.

Reading another process's memory needs ptrace rights: CAP_SYS_PTRACE, or the
same user and ``kernel.yama.ptrace_scope`` 0 (at 1, the default on Debian,
only an ancestor may trace, and workers are the fork server's children, not
the supervisor's).  When py-spy is refused, the evidence says so and what
to change, instead of holding an empty stack.

Locals are never read: they may hold secrets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: py-spy normally answers in 10-60 ms; a process it cannot read must not hold up the kill.
DUMP_TIMEOUT = 5.0

_NO_PTRACE = (
    "py-spy may not read the worker's memory: it needs CAP_SYS_PTRACE (run the supervisor "
    "with it, e.g. 'setcap cap_sys_ptrace+ep {exe}'), or kernel.yama.ptrace_scope=0 for "
    "processes of the same user"
)


def py_spy_path() -> str | None:
    """The py-spy executable: the one installed beside this Python first, then on PATH."""
    beside = Path(sys.executable).parent / ("py-spy.exe" if os.name == "nt" else "py-spy")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def python_stacks(pid: int, *, timeout: float = DUMP_TIMEOUT) -> dict[str, Any]:
    """``{"source", "threads": [...], "seconds"}``, or ``{"source", "error"}`` saying why not.

    Each thread is ``{"name", "os_thread_id", "active", "owns_gil", "frames"}``,
    frames innermost first as ``"function (file:line)"``.  Blocking (a
    subprocess): call it from a thread, not the event loop.
    """
    exe = py_spy_path()
    if exe is None:
        return {
            "source": "py-spy",
            "error": "py-spy is not installed (pip install py-spy); only the faulthandler "
            "dump in the worker log may show the stacks",
        }
    started = time.monotonic()
    try:
        done = subprocess.run(
            [exe, "dump", "--pid", str(pid), "--nonblocking", "--json"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"source": exe, "error": f"py-spy did not answer within {timeout:g} s"}
    except OSError as exc:
        return {"source": exe, "error": f"py-spy could not be started: {exc}"}
    seconds = round(time.monotonic() - started, 4)
    if done.returncode != 0:
        return {"source": exe, "error": _why(done.stderr or done.stdout, exe), "seconds": seconds}
    try:
        raw = json.loads(done.stdout)
    except ValueError:
        return {"source": exe, "error": f"py-spy printed no JSON: {done.stdout[:200]!r}"}
    threads = [_thread(item) for item in raw if isinstance(item, dict)]
    return {"source": exe, "threads": threads, "seconds": seconds}


def _thread(item: dict[str, Any]) -> dict[str, Any]:
    frames = []
    for frame in item.get("frames") or []:
        where = frame.get("filename") or frame.get("short_filename") or "?"
        frames.append(f"{frame.get('name', '?')} ({where}:{frame.get('line', '?')})")
    return {
        "name": item.get("thread_name"),
        "os_thread_id": item.get("os_thread_id"),
        "active": item.get("active"),
        "owns_gil": item.get("owns_gil"),
        "frames": frames,
    }


def _why(output: str, exe: str) -> str:
    text = " ".join(output.split())[:500]
    lowered = text.lower()
    if "permission denied" in lowered or "operation not permitted" in lowered:
        return f"{_NO_PTRACE.format(exe=exe)} (py-spy said: {text})"
    if "no such process" in lowered or "failed to find process" in lowered:
        return f"the worker was gone before its stack could be read (py-spy said: {text})"
    return f"py-spy failed: {text or 'no message'}"
