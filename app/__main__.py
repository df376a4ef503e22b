"""``python -m app [FILE...]``: start the GUI (``deskpilot gui`` runs this as a subprocess).

The CLI lives in ``supervisor/``, which must never import Qt, so it starts
the GUI as a separate process rather than calling into this package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app import theme as themes
from app.resources import icon
from app.supervisor_link import SupervisorLink
from app.tray import DesktopShell
from automation.blocks.registry import BlockRegistry
from automation.redaction import redact_logging
from supervisor.paths import DeskpilotPaths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deskpilot gui", description="Deskpilot's window")
    parser.add_argument("files", nargs="*", type=Path, help="workflow files to open")
    parser.add_argument("--debug", action="store_true", help="log debug messages")
    parser.add_argument(
        "--tray", action="store_true", help="start in the tray without opening the window"
    )
    parser.add_argument(
        "--gallery",
        action="store_true",
        help="show the welcome page and its example gallery, even when workflows are open",
    )
    parser.add_argument(
        "--no-supervisor",
        action="store_true",
        help="do not start the supervisor when it is not running (wait for it instead)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact_logging()
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Deskpilot")
    app.setOrganizationName("deskpilot")
    app.setDesktopFileName("deskpilot")
    app.setWindowIcon(icon("deskpilot"))
    theme = themes.apply(app)
    paths = DeskpilotPaths.from_env()
    paths.workflows_dir.mkdir(parents=True, exist_ok=True)
    registry = BlockRegistry.with_builtins()
    for problem in registry.load_errors:
        logging.getLogger(__name__).warning("block plugin not loaded: %s", problem)
    link = SupervisorLink(paths, autostart=not args.no_supervisor)
    shell = DesktopShell(app, registry, paths, theme, link=link)
    shell.start(args.files, show_window=not args.tray)
    if args.gallery and shell.window is not None:
        shell.window.show_welcome()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
