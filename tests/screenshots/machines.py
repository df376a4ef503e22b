"""``python -m tests.screenshots.machines OUTDIR``: the Machines panel of a fleet, as PNG files.

For each screen size (1366x768 unless ``--size`` says), in a process of its
own: a private Xvfb of that size, a fresh ``DESKPILOT_HOME``, the real window
with its run panels and the supervisor it starts.  The other machines of the
fleet are rows their supervisors would have written into the shared history
through the same store calls (``register_supervisor``, ``claim_queued``), at
chosen times, so every state shows at once; ``--more N`` adds N idle machines
(a fleet too long for the panel).  Written: ``machines-WxH.png`` (the whole X
screen, the Machines panel raised; ``machines-WxH-M.png`` for M machines with
``--more``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from tests.screenshots.first_run import _stop_supervisor, open_shell, poller
from tests.screenshots.sizes import shoot_each_size, size_parser

SIZES = ("1366x768",)
#: host -> (seconds since its heartbeat, stopped, runs it holds, version)
FLEET = {
    "robot-02": (3.0, False, 1, "1.4.0"),
    "robot-03": (22.0, False, 2, "1.4.0"),
    "accounts-pc": (5400.0, False, 0, "1.3.2"),
    "scheduler-01": (600.0, True, 0, "1.4.0"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = size_parser("tests.screenshots.machines", SIZES)
    parser.add_argument("--dark", action="store_true", help="the dark theme")
    parser.add_argument("--more", type=int, default=0, help="N idle machines more")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    sizes = args.size or list(SIZES)
    if args.child:
        return _shoot(args.outdir, sizes[0], dark=args.dark, more=args.more)
    options = ["--dark"] if args.dark else []
    if args.more:
        options += ["--more", str(args.more)]
    return shoot_each_size("tests.screenshots.machines", args.outdir, sizes, *options)


def _shoot(outdir: Path, size: str, *, dark: bool, more: int) -> int:
    width, height = (int(v) for v in size.lower().split("x"))
    from tests.helpers.xvfb import start_xvfb

    display = start_xvfb(((width, height),))
    home = Path(tempfile.mkdtemp(prefix="dp-shots-"))
    os.environ.update(
        DISPLAY=display.name,
        XAUTHORITY=str(display.xauthority),
        QT_QPA_PLATFORM="xcb",
        DESKPILOT_HOME=str(home),
        DESKPILOT_HOST="robot-01",
    )
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        return _scene(outdir, f"{width}x{height}", home, dark=dark, more=more)
    finally:
        _stop_supervisor(home)
        display.stop()
        shutil.rmtree(home, ignore_errors=True)


def _register_fleet(home: Path, more: int) -> None:
    """The other machines, written as their supervisors write themselves."""
    from supervisor.machine import machine_host, supervisor_id
    from supervisor.paths import DeskpilotPaths
    from supervisor.store import HistoryStore

    paths = DeskpilotPaths.under(home)
    store = HistoryStore.open(paths.database_url)
    try:
        now = store.clock.now()
        store.register_supervisor(
            supervisor_id(paths.data_dir),
            host=machine_host(),
            pid=os.getpid(),
            version="1.4.0",
            resources={"workers": 4, "desktop": True},
        )
        for host, (silent, stopped, holding, version) in FLEET.items():
            machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, host).hex
            store.register_supervisor(
                machine_id,
                host=host,
                pid=4000 + len(host),
                api_url=f"http://{host}.office.lan:8765",
                version=version,
                resources={"workers": 2, "desktop": True, "lease_seconds": 8.0},
                at=now - timedelta(seconds=silent),
            )
            if stopped:
                store.supervisor_stopped(machine_id, at=now - timedelta(seconds=silent))
            for _ in range(holding):
                store.create_run(uuid.uuid4().hex, "invoices", target_host=host, priority=999)
                store.claim_queued(machine_id, host=host, lease_seconds=3600)
        for index in range(more):
            host = f"robot-{index + 10:02d}"
            store.register_supervisor(
                uuid.uuid5(uuid.NAMESPACE_DNS, host).hex,
                host=host,
                pid=5000 + index,
                api_url=f"http://{host}.office.lan:8765",
                version="1.4.0",
                resources={"workers": 2, "desktop": True, "lease_seconds": 8.0},
                at=now - timedelta(seconds=2.0),
            )
    finally:
        store.close()


def _scene(outdir: Path, size: str, home: Path, *, dark: bool, more: int) -> int:
    app, shell, link, paths = open_shell(home, dark=dark)
    window = shell.window
    panels = window.run_panels
    until = poller(app, size)

    until("the window", window.isVisible)
    until("the supervisor", lambda: link.connected and link.stream_open, 90)
    _register_fleet(home, more)
    panels.show_panel("machines")
    machines = panels.machines
    machines.reload()
    count = 1 + len(FLEET) + more
    until("the machines", lambda: machines.loaded_once and len(machines.machines) >= count)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    target = outdir / f"machines-{size}{f'-{count}' if more else ''}{'-dark' if dark else ''}.png"
    app.primaryScreen().grabWindow(0).save(str(target))
    dock = panels.docks["machines"]
    print(f"{target}: Machines panel {dock.width()}x{dock.height()} px")  # noqa: T201
    window.close()
    link.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
