"""Forked workers start with the desktop block modules imported; the supervisor does not.

An image search imports most of its stages inside functions, so the fork
server imports them once for all its children (``_import_desktop_modules``).
Each check runs in a fresh interpreter: this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import os
import pkgutil
import socket
import subprocess
import sys

import automation.blocks.desktop as desktop

#: Runs the real fork server; its child reports its modules instead of becoming a worker.
PROBE = """
import json, os, sys
import supervisor.worker as worker

def report(sock, fds, registry, interval):
    os.write(fds[1], json.dumps(sorted(sys.modules)).encode())
    os._exit(0)

worker._forked_worker = report
worker.fork_server(int(sys.argv[1]))
"""


def _modules_of_a_forked_child() -> set[str]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stderr=subprocess.DEVNULL,
    )
    theirs.close()
    ours.settimeout(120)
    try:
        assert json.loads(ours.recv(65536))["type"] == "ready"
        stdin_read, stdin_write = os.pipe()
        out_read, out_write = os.pipe()
        log = os.open(os.devnull, os.O_WRONLY)
        socket.send_fds(ours, [json.dumps({"id": 1}).encode()], [stdin_read, out_write, log])
        for fd in (stdin_read, out_write, log):
            os.close(fd)
        chunks = []
        while chunk := os.read(out_read, 1 << 16):  # until the child exits
            chunks.append(chunk)
        os.close(out_read)
        os.close(stdin_write)
    finally:
        ours.close()  # the server exits when its socket closes
        server.wait(timeout=60)
    return set(json.loads(b"".join(chunks)))


def test_a_forked_worker_starts_with_the_desktop_modules_and_without_numpy() -> None:
    loaded = _modules_of_a_forked_child()
    expected = {f"{desktop.__name__}.{m.name}" for m in pkgutil.iter_modules(desktop.__path__)}
    assert f"{desktop.__name__}.labels" in expected  # what a search imports inside functions
    assert expected - loaded == set()
    # numpy starts an OpenBLAS thread on import: the server must stay single-threaded to fork.
    assert "numpy" not in loaded and "cv2" not in loaded


def test_the_supervisor_does_not_import_the_search_stages() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, supervisor.daemon, supervisor.client\n"
            "from automation.blocks.registry import BlockRegistry\n"
            "BlockRegistry.with_builtins(plugins=False)\n"
            "assert 'automation.blocks.desktop.labels' not in sys.modules\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
