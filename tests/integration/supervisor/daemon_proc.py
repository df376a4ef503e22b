"""The supervisor daemon as a real process the tests can SIGKILL.

    python -m tests.integration.supervisor.daemon_proc HOME CONFIG_JSON [WORKFLOW COUNT]

Serves ``Daemon(paths, config, api=False, triggers=False)`` under ``HOME``
(as ``deskpilotd`` does, without the API and triggers).  With a workflow and
a count it submits that many runs as soon as it is ready, from inside the
process, and writes their ids to ``HOME/submitted.json``; ``HOME/ready`` says
it is serving.  ``CONFIG_JSON`` holds ``SupervisorConfig`` fields, plus
``"launcher": "fork"`` to start workers from the fork server.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from supervisor.breaker import BreakerPolicy
from supervisor.config import SupervisorConfig
from supervisor.daemon import Daemon, DaemonParts
from supervisor.paths import DeskpilotPaths
from supervisor.workers import ForkServerLauncher, WorkerLauncher


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def build(home: Path, options: dict[str, Any]) -> Daemon:
    options = dict(options)
    launcher_kind = options.pop("launcher", "python")
    breaker = options.pop("breaker", None)
    if breaker is not None:
        options["breaker"] = BreakerPolicy(**breaker)
    config = SupervisorConfig(**options)
    paths = DeskpilotPaths.under(home)
    launcher: WorkerLauncher | None = None
    if launcher_kind == "fork":
        launcher = ForkServerLauncher(
            log_dir=paths.log_dir / "workers", heartbeat_interval=config.heartbeat_interval
        )
    return Daemon(paths, config, launcher=launcher, api=False, triggers=False)


def main() -> None:
    home = Path(sys.argv[1])
    daemon = build(home, json.loads(sys.argv[2]))
    workflow = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 0

    def ready(parts: DaemonParts) -> None:
        if workflow is not None:
            sup = parts.supervisor
            loaded = sup.load(workflow)
            ids = [sup.submit(loaded) for _ in range(count)]
            write_atomically(home / "submitted.json", json.dumps(ids))
        write_atomically(home / "ready", str(os.getpid()))

    asyncio.run(daemon.serve(ready=ready))


if __name__ == "__main__":
    main()
