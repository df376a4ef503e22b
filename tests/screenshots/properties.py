"""``python -m tests.screenshots.properties OUTDIR``: every block's form in the real window.

For each screen size (1366x768 and 1920x1080 unless ``--size`` says), in a
process of its own with a private Xvfb of that size: the main window at the
size it opens at on that screen, one workflow holding a node of every
built-in block, and each node selected in turn.  It prints the blocks whose
form sticks out past the property panel's right edge (cut off, as 18 of them
were), and saves the whole X screen with the forms of ``--block`` (default: a
few with long check box texts and the capture buttons) as
``properties-BLOCK-WxH.png``.  Exit 1 if any form sticks out.

Runs from a checkout: ``PYTHONPATH=. python -m tests.screenshots.properties shots/``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.screenshots.sizes import shoot_each_size, size_parser

SIZES = ("1366x768", "1920x1080")
SHOWN = ("data.regex_match", "file.read", "image.click")


def main(argv: Sequence[str] | None = None) -> int:
    parser = size_parser("tests.screenshots.properties", SIZES)
    parser.add_argument("--block", action="append", help="save this block's form; repeat")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    sizes = args.size or list(SIZES)
    blocks = args.block or list(SHOWN)
    if args.child:
        return _shoot(args.outdir, sizes[0], blocks)
    options = [f"--block={b}" for b in blocks]
    return shoot_each_size("tests.screenshots.properties", args.outdir, sizes, *options)


def _shoot(outdir: Path, size: str, blocks: list[str]) -> int:
    from tests.helpers.xvfb import start_xvfb

    width, height = (int(v) for v in size.lower().split("x"))
    display = start_xvfb(((width, height),))
    home = Path(tempfile.mkdtemp(prefix="dp-props-"))
    os.environ.update(
        DISPLAY=display.name, XAUTHORITY=str(display.xauthority), QT_QPA_PLATFORM="xcb"
    )
    try:
        return _forms(outdir, f"{width}x{height}", home, blocks)
    finally:
        display.stop()
        shutil.rmtree(home, ignore_errors=True)


def _forms(outdir: Path, size: str, home: Path, blocks: list[str]) -> int:
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QWidget

    from app import theme as themes
    from app.main_window import MainWindow
    from automation.blocks.registry import BlockRegistry
    from supervisor.paths import DeskpilotPaths
    from tests.screenshots.first_run import poller

    app = QApplication(["deskpilot"])
    themes.apply(app)
    until = poller(app, size)
    registry = BlockRegistry.with_builtins()
    paths = DeskpilotPaths.under(home).ensure()
    ids = registry.ids()
    lines = ["deskpilot: 1", "name: every-block", "nodes:"]
    for index, block_id in enumerate(ids):
        place = f"[{(index % 10) * 300}, {(index // 10) * 220}]"
        lines += [f"  n{index}:", f"    block: {block_id}", f"    position: {place}"]
    flow = paths.workflows_dir / "every_block.yaml"
    flow.write_text("\n".join(lines) + "\n", encoding="utf-8")
    window = MainWindow(registry, paths, theme=themes.LIGHT)
    window.show()
    until("the window", window.isVisible)
    editor = window.open_workflow(flow)
    assert editor is not None
    panel = editor.properties

    def settle() -> None:
        for _ in range(10):
            app.processEvents()

    def sticking_out() -> list[str]:
        viewport = panel.viewport()
        right = viewport.mapToGlobal(QPoint(viewport.width(), 0)).x()
        out = []
        for child in panel.widget().findChildren(QWidget):
            if child.isVisibleTo(panel.widget()) and child.width() > 0:
                edge = child.mapToGlobal(QPoint(child.width(), 0)).x()
                if edge > right + 1:
                    out.append(f"{type(child).__name__} +{edge - right}px")
        return out

    print(  # noqa: T201 - the tool's output
        f"{size}: window {window.width()}x{window.height()}, property panel {panel.width()} px"
    )
    cut = 0
    for index, block_id in enumerate(ids):
        editor.scene.select_nodes([f"n{index}"])
        settle()
        out = sticking_out()
        if out:
            cut += 1
            print(f"  {block_id}: {', '.join(out[:4])}")  # noqa: T201 - the tool's output
        if block_id in blocks:
            editor.view.centerOn(editor.scene.node_items[f"n{index}"])
            settle()
            target = outdir / f"properties-{block_id}-{size}.png"
            app.primaryScreen().grabWindow(0).save(str(target))
            print(f"  {target}")  # noqa: T201 - the tool's output
    print(f"{size}: {cut} of {len(ids)} forms stick out of the panel")  # noqa: T201
    editor.undo_stack.setClean()
    window.close()
    return 1 if cut else 0


if __name__ == "__main__":
    sys.exit(main())
