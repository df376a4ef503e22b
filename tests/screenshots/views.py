"""``python -m tests.screenshots.views OUTDIR``: render the GUI's views to PNG files.

The main window and editor first; then a fresh install at 1366x768 and
1920x1080 (welcome page, example gallery, an example opened from it); then,
unless ``--no-runs``, the runs views
with real runs (``tests.screenshots.runs``: live run, run detail with a failure
screenshot, trends, triggers).

Runs offscreen (no display needed) in a throw-away ``DESKPILOT_HOME`` filled
with the example workflows plus one broken workflow, so the pictures show
the validation states too.  Each view is rendered with ``QWidget.grab()``,
which paints exactly what the window would show, in both themes.  The
capture overlay and the "Test target" dialog are shown over a rendering of
the main window standing in for the desktop, so no display is needed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from app import theme as themes  # noqa: E402
from app.editor.capture import Shot  # noqa: E402
from app.editor.capture_overlay import CaptureOverlay, from_qimage  # noqa: E402
from app.editor.target_dialog import TargetTestDialog  # noqa: E402
from app.editor.target_test import TargetTest, search  # noqa: E402
from app.editor.widget import EditorWidget  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.resources import examples_dir  # noqa: E402
from automation.blocks.desktop.display import Box  # noqa: E402
from automation.blocks.desktop.targets import Anchor, SearchOptions, Target  # noqa: E402
from automation.blocks.registry import BlockRegistry  # noqa: E402
from supervisor.paths import DeskpilotPaths  # noqa: E402

log = logging.getLogger(__name__)

BROKEN = """\
# A workflow with mistakes, to show how the editor reports them.
deskpilot: 1
name: broken-report
nodes:
  fetch:
    block: http.request
    with:
      method: FETCH
      timeout: soon
  save:
    block: file.write
    with:
      path: "{{ nodes.fetch.body }}"
  notify:
    block: notify.log
    with:
      message: "{{ inputs.recipient }}"
links:
  - fetch.status -> notify.message
"""

SIZE = (1600, 980)


def _settle(app: QApplication) -> None:
    for _ in range(5):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def save_png(widget: QWidget, path: Path) -> Path:
    """Grab ``widget`` as it is painted now; a write that fails must not pass unnoticed."""
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    log.info("wrote %s", path)
    return path


def _prepare_home(home: Path) -> DeskpilotPaths:
    os.environ["DESKPILOT_HOME"] = str(home)
    paths = DeskpilotPaths.from_env()
    shutil.copytree(examples_dir(), paths.workflows_dir)
    (paths.workflows_dir / "broken_report.yaml").write_text(BROKEN, encoding="utf-8")
    return paths


def _open_fitted(window: MainWindow, path: Path, node: str, app: QApplication) -> EditorWidget:
    """Open ``path`` in an editor tab, validated, fitted to view, with ``node`` selected."""
    editor = window.open_workflow(path)
    assert editor is not None
    editor.splitter.setSizes([180, SIZE[0] - 320 - 180 - 310, 310])
    window.workflows.select_path(path)
    _settle(app)
    editor.validate_now()
    editor.view.fit_all()
    editor.scene.select_nodes([node])
    _settle(app)
    return editor


def take(outdir: Path, app: QApplication, registry: BlockRegistry) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for theme in (themes.LIGHT, themes.DARK):
        suffix = "" if theme is themes.LIGHT else "-dark"
        themes.apply(app, theme)
        with tempfile.TemporaryDirectory(prefix="deskpilot-shots-") as temp:
            paths = _prepare_home(Path(temp))
            window = MainWindow(registry, paths, theme=theme)
            window.resize(*SIZE)
            window.splitter.setSizes([320, SIZE[0] - 320])
            window.show()
            editor = _open_fitted(window, paths.workflows_dir / "http_to_file.yaml", "fetch", app)
            written.append(save_png(window, outdir / f"main-window{suffix}.png"))
            if theme is themes.LIGHT:
                editor.scene.clearSelection()
                editor.view.set_zoom(1.0)
                editor.view.centerOn(editor.scene.node_items["fetch"].sceneBoundingRect().center())
                editor.scene.select_nodes(["save"])
                _settle(app)
                written.append(save_png(editor, outdir / "editor-http-to-file.png"))
                broken = _open_fitted(
                    window, paths.workflows_dir / "broken_report.yaml", "fetch", app
                )
                written.append(save_png(window, outdir / "editor-problems.png"))
                broken.undo_stack.setClean()
                written += _capture_shots(window, paths.workflows_dir, outdir, app)
            window.close()
            window.deleteLater()
            _settle(app)
    return written


#: common laptop and desktop screens: the first-run views must fit both
FIRST_RUN_SIZES = ((1366, 768), (1920, 1080))


def take_first_run(outdir: Path, app: QApplication, registry: BlockRegistry) -> list[Path]:
    """A fresh install: the welcome page, the gallery, and an example opened from it."""
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    themes.apply(app, themes.LIGHT)
    for width, height in FIRST_RUN_SIZES:
        size = f"{width}x{height}"
        with tempfile.TemporaryDirectory(prefix="deskpilot-shots-") as temp:
            os.environ["DESKPILOT_HOME"] = temp
            paths = DeskpilotPaths.from_env()  # nothing in it yet, as after an install
            window = MainWindow(registry, paths, theme=themes.LIGHT)
            window.resize(width, height)
            window.show()
            _settle(app)
            page = window.empty
            written.append(save_png(window, outdir / f"welcome-{size}.png"))
            page.ensureWidgetVisible(page.cards[-1])
            _settle(app)
            written.append(save_png(window, outdir / f"gallery-{size}.png"))
            example = next(
                c for c in page.cards if c.sample.path.name == "desktop_click_image.yaml"
            )
            example.open_button.click()
            _settle(app)
            editor = window.current_editor()
            assert editor is not None
            editor.view.fit_all()
            _settle(app)
            written.append(save_png(window, outdir / f"example-copy-{size}.png"))
            window.close()
            window.deleteLater()
            _settle(app)
    return written


def _capture_shots(window: MainWindow, folder: Path, outdir: Path, app: QApplication) -> list[Path]:
    """The capture helpers: their panel section, the overlay and the test-target dialog."""
    written: list[Path] = []
    editor = _open_fitted(window, folder / "desktop_click_image.yaml", "click", app)
    written.append(save_png(window, outdir / "editor-capture-tools.png"))
    # the rendered window stands in for the desktop
    image = from_qimage(window.grab().toImage())
    shot = Shot(image, Box(0, 0, image.shape[1], image.shape[0]))
    item = editor.scene.node_items["click"]
    header = editor.view.mapFromScene(item.sceneBoundingRect().topLeft())
    origin = editor.view.viewport().mapTo(window, header)
    selection = Box(origin.x() + 2, origin.y() + 4, 150, 40)
    overlay = CaptureOverlay(shot, "region", hint="Capture a template for 'click' (Click image): "
                             "drag around it, release or Enter to keep it, Esc to cancel.")  # fmt: skip
    overlay.set_selection(selection)
    overlay.set_pointer(selection.x + selection.width - 1, selection.y + selection.height - 1)
    overlay.resize(image.shape[1], image.shape[0])
    _settle(app)
    written.append(save_png(overlay, outdir / "capture-overlay.png"))
    overlay.deleteLater()
    images = folder / "images"
    images.mkdir(exist_ok=True)
    template = images / "click-1.png"
    cv2.imwrite(str(template), shot.crop(selection))
    elsewhere = np.full((40, 90, 3), 250, np.uint8)  # something the window does not show
    cv2.circle(elsewhere, (45, 20), 14, (40, 40, 200), 3)
    cv2.imwrite(str(images / "elsewhere.png"), elsewhere)
    for name, anchors in (
        ("test-target.png", [Anchor(image=str(template), name="captured")]),
        ("test-target-missing.png", [Anchor(image=str(images / "elsewhere.png"))]),
    ):
        test = TargetTest(
            node_id="click",
            block_id="image.click",
            target=Target(anchors=anchors),
            options=SearchOptions(0.85, False, (1.0, 1.25, 1.5, 0.8), True, False),
            region=None,
            workflow_dir=folder,
        )
        dialog = TargetTestDialog(search(test, image, shot.origin), themes.LIGHT, window)
        dialog.show()
        _settle(app)
        written.append(save_png(dialog, outdir / name))
        dialog.close()
        dialog.deleteLater()
    editor.undo_stack.setClean()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.screenshots.views", description=__doc__)
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    parser.add_argument(
        "--no-runs",
        action="store_true",
        help="skip the runs views (they start a supervisor and a private Xvfb display)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    QCoreApplication.setApplicationName("Deskpilot")
    registry = BlockRegistry.with_builtins(plugins=False)
    paths = take(args.outdir, app, registry)
    paths += take_first_run(args.outdir, app, registry)
    if not args.no_runs:
        from tests.screenshots import runs as runs_screenshots

        paths += runs_screenshots.take(args.outdir, app, registry)
    log.info("%d screenshots in %s", len(paths), args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
