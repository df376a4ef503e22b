"""Time accessibility (AT-SPI) resolution of buttons by name, as a target's anchor does it.

    python -m tests.benchmarks._a11y_timing APP_NAME NAME [NAME ...]

Run by ``bench_targeting`` as a child process in the apps' session (libatspi
binds to one bus for the life of a process).  For each name it times
``accessibility.find("app=APP / button[name=NAME]")``, the call an
``accessibility`` anchor makes, and prints one JSON list of
``[name, outcome, wall_ms, cpu_ms, centre]``; outcome is ``found``,
``ambiguous`` (several buttons carry that name) or ``not found``.  The first
find walks the whole tree cold; every name is found once before timing so the
figures are those of a running workflow.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main(argv: list[str]) -> int:
    from automation.blocks.desktop import accessibility as a11y
    from automation.blocks.desktop.selector import quote

    app, names = argv[0], argv[1:]
    rows: list[list[Any]] = []
    for warm in (True, False):
        for name in names:
            selector = f"app={quote(app)} / button[name={quote(name)}]"
            begin, cpu = time.perf_counter(), time.process_time()
            centre = None
            try:
                element = a11y.find(selector)
                outcome = "found"
                centre = element.center
            except a11y.ElementAmbiguous:
                outcome = "ambiguous"
            except a11y.ElementNotFound:
                outcome = "not found"
            wall_ms = (time.perf_counter() - begin) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            if not warm:
                rows.append([name, outcome, round(wall_ms, 2), round(cpu_ms, 2), centre])
    sys.stdout.write(json.dumps(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
