"""``python -m tests.screenshots.runs OUTDIR``: pictures of the runs views, with real runs.

Beside ``python -m tests.screenshots.views`` (main window and editor), this one needs
the supervisor: it makes a throw-away ``DESKPILOT_HOME``, lets the window
start a supervisor there, and runs real workflows.  The window itself is
rendered offscreen; the runs' desktop steps get a private Xvfb display
(with a small window on it) so that a failed image search leaves a real
failure screenshot.  Written: ``live-run.png`` (a run in progress on its
canvas), ``run-detail-failure.png`` (a failed run with its failure
screenshot), ``history-trends.png``, ``triggers.png``, and
``debugger-1366x768.png`` / ``debugger-1920x1080.png`` (the editor paused at a
breakpoint, with the debug panel).  ``--only debugger`` takes one group.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app import theme as themes  # noqa: E402
from app.editor.widget import EditorWidget  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.resources import examples_dir  # noqa: E402
from app.runs.panels import RunPanels  # noqa: E402
from app.supervisor_link import SupervisorLink  # noqa: E402
from automation.blocks.registry import BlockRegistry  # noqa: E402
from supervisor.paths import DeskpilotPaths  # noqa: E402
from tests.screenshots.views import save_png  # noqa: E402

log = logging.getLogger(__name__)

SIZE = (1600, 1000)

NIGHTLY = """\
# Builds the nightly sales summary and posts it.
deskpilot: 1
name: nightly-sales
nodes:
  collect:
    block: data.template
    with: {text: "orders: 1284, returns: 17"}
    position: [0, 0]
  settle:
    block: control.delay
    with: {seconds: 6, value: "{{ nodes.collect.text }}"}
    position: [300, 0]
  summarise:
    block: data.template
    with: {text: "Nightly sales: {{ nodes.settle.value }}"}
    position: [600, 0]
  post:
    block: notify.log
    with: {message: "{{ nodes.summarise.text }}"}
    position: [900, 0]
links:
  - collect -> settle
  - settle -> summarise
  - summarise -> post
triggers:
  - type: schedule
    cron: "30 2 * * mon-fri"
    timezone: Europe/Berlin
"""

APPROVE = """\
# Approves the day's invoices in the accounting tool by clicking its button.
deskpilot: 1
name: approve-invoices
nodes:
  start:
    block: notify.log
    with: {message: "looking for the Approve button"}
    position: [0, 0]
  find_button:
    block: image.wait
    with: {template: approve.png, timeout: 2, interval: 0.3}
    retry: {max_attempts: 2, delay: 0.2}
    position: [300, 0]
  click:
    block: image.click
    with: {template: approve.png}
    position: [600, 0]
links:
  - start -> find_button
  - find_button -> click
triggers:
  - type: schedule
    interval: 1h
"""

QUICK = """\
deskpilot: 1
name: {name}
inputs:
  n: {{type: integer, default: 0}}
nodes:
  check:
    block: control.if
    with: {{condition: "{{{{ inputs.n != 3 }}}}"}}
  work:
    block: control.delay
    with: {{seconds: "{{{{ (inputs.n + 1) / 10 }}}}"}}
  fail_on_three:
    block: control.fail
    with: {{message: "the third invoice of the batch was rejected"}}
links:
  - check.yes -> work
  - check.no -> fail_on_three
"""


def _settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def _wait(app: QApplication, check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:g}s")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def _approve_button(path: Path) -> None:
    """The template the failing search looks for: a green 'Approve' button."""
    image = QImage(132, 40, QImage.Format.Format_RGB32)
    image.fill(QColor("#f3f4f6"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor("#2e7d32"))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(2, 2, 128, 36, 6, 6)
    painter.setPen(QColor("#ffffff"))
    font = QFont()
    font.setPixelSize(17)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(image.rect(), Qt.AlignmentFlag.AlignCenter, "Approve")
    painter.end()
    image.save(str(path))


@contextlib.contextmanager
def _desktop(folder: Path) -> Iterator[str]:
    """A private X display with a small window on it, for the runs' desktop steps."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise RuntimeError("Xvfb is needed for the failure screenshot (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 10
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([read_fd], [], [], 0.2)[0]:
            number += os.read(read_fd, 16) or b"\n"
    os.close(read_fd)
    display = f":{number.decode().strip()}"
    xauthority = folder / "Xauthority"
    xauthority.touch()
    env = {**os.environ, "DISPLAY": display, "XAUTHORITY": str(xauthority)}
    window = None
    if shutil.which("xmessage"):
        window = subprocess.Popen(
            [
                "xmessage",
                "-geometry",
                "520x160+380+260",
                "-buttons",
                "Reject,Later",
                "Invoices waiting for approval: 42\nTotal: 18,240.00 EUR",
            ],  # fmt: skip
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        yield display
    finally:
        for process in (window, xvfb):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=5)


def _prepare(home: Path) -> DeskpilotPaths:
    paths = DeskpilotPaths.under(home).ensure()
    shutil.copytree(examples_dir(), paths.workflows_dir, dirs_exist_ok=True)
    (paths.workflows_dir / "nightly_sales.yaml").write_text(NIGHTLY, encoding="utf-8")
    (paths.workflows_dir / "approve_invoices.yaml").write_text(APPROVE, encoding="utf-8")
    _approve_button(paths.workflows_dir / "approve.png")
    return paths


def _inputs_as_declared(document: object) -> dict[str, object]:
    return {}


VIEWS = ("live", "failure", "trends", "debugger")


def take(
    outdir: Path, app: QApplication, registry: BlockRegistry, only: Sequence[str] = VIEWS
) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    theme = themes.apply(app, themes.LIGHT)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="dp-shots-", dir="/tmp") as temp:
        home = Path(temp)
        paths = _prepare(home)
        with _desktop(home) as display:
            os.environ["DISPLAY"] = display  # the supervisor and its workers draw there
            os.environ["XAUTHORITY"] = str(home / "Xauthority")
            link = SupervisorLink(paths, poll_interval=0.3)
            window = MainWindow(registry, paths, theme=theme, connection=link)
            panels = RunPanels.install(window, link)
            window.resize(*SIZE)
            window.splitter.setSizes([300, SIZE[0] - 300])
            window.show()
            link.start()
            try:
                _wait(app, lambda: link.connected and link.stream_open, 60, "the supervisor")
                if "live" in only:
                    written += _live_run(app, window, panels, outdir)
                if "failure" in only:
                    written += _failure(app, window, panels, link, paths, outdir)
                if "trends" in only:
                    written += _trends_and_triggers(app, window, panels, link, paths, outdir)
                if "debugger" in only:
                    written += _debugger(app, window, panels, outdir)
            finally:
                for editor in window.editors():
                    editor.undo_stack.setClean()
                window.close()
                health = link.health
                link.stop()
                if health is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(health.pid, signal.SIGTERM)
                    _wait(app, lambda: not (home / "state" / "api.sock").exists(), 30, "stop")
    return written


def _live_run(app: QApplication, window: MainWindow, panels: RunPanels, outdir: Path) -> list[Path]:
    editor = window.open_workflow(window.paths.workflows_dir / "nightly_sales.yaml")
    assert isinstance(editor, EditorWidget)
    editor.ask_inputs = _inputs_as_declared
    window.splitter.setSizes([260, SIZE[0] - 260])
    editor.splitter.setSizes([170, SIZE[0] - 260 - 170 - 300, 300])
    window.resizeDocks([panels.docks["live"]], [330], Qt.Orientation.Vertical)
    _settle(app)
    editor.view.fit_all()
    run_id = editor.run()
    assert run_id is not None
    live = panels.live
    _wait(
        app,
        lambda: live.record is not None and live.record.nodes.get("settle") is not None
        and live.record.nodes["settle"].status == "running",
        30,
        "the run to reach its delay",
    )  # fmt: skip
    started = time.monotonic()
    _wait(app, lambda: time.monotonic() - started > 2.2, 5, "the run to be under way")
    editor.scene.select_nodes(["collect"])
    _settle(app)
    shots = [save_png(window, outdir / "live-run.png")]
    _wait(app, lambda: live.record is not None and live.record.finished, 30, "the run to end")
    return shots


def _debugger(app: QApplication, window: MainWindow, panels: RunPanels, outdir: Path) -> list[Path]:
    """The hello example paused at a breakpoint on 'check', at two common screen sizes."""
    editor = window.open_workflow(window.paths.workflows_dir / "hello.yaml")
    assert isinstance(editor, EditorWidget)
    editor.ask_inputs = _inputs_as_declared
    editor.scene.select_nodes(["check"])
    editor.toggle_breakpoint()
    run_id = editor.run()
    assert run_id is not None
    live = panels.live
    _wait(app, lambda: live.record is not None and live.record.run_id == run_id, 10, "follow")
    _wait(app, lambda: live.debug.paused, 30, "the breakpoint")
    panels.show_panel("live")
    shots: list[Path] = []
    for width, height in ((1366, 768), (1920, 1080)):
        window.resize(width, height)
        _settle(app, 5)
        window.resizeDocks([panels.docks["live"]], [int(height * 0.36)], Qt.Orientation.Vertical)
        _settle(app, 10)
        editor.view.fit_all()
        editor.scene.select_nodes(["check"])
        _settle(app, 10)
        shots.append(save_png(window, outdir / f"debugger-{width}x{height}.png"))
    live.debug.send("continue")
    _wait(app, lambda: live.record is not None and live.record.finished, 30, "the run to end")
    window.resize(*SIZE)
    return shots


def _failure(
    app: QApplication,
    window: MainWindow,
    panels: RunPanels,
    link: SupervisorLink,
    paths: DeskpilotPaths,
    outdir: Path,
) -> list[Path]:
    run_id = link.start_run(paths.workflows_dir / "approve_invoices.yaml", {})
    live = panels.live
    _wait(app, lambda: live.record is not None and live.record.run_id == run_id, 10, "follow")
    _wait(app, lambda: live.record is not None and live.record.finished, 60, "the failure")
    panels.show_panel("history")
    window.resizeDocks([panels.docks["history"]], [620], Qt.Orientation.Vertical)
    history = panels.history
    history.splitter.setSizes([700, SIZE[0] - 700])
    _wait(app, lambda: history.model.row_of(run_id) is not None, 20, "the history row")
    history.show_run(run_id)
    _wait(
        app,
        lambda: history.detail.record is not None and history.detail.record.run_id == run_id,
        20,
        "the run detail",
    )
    _settle(app, 10)
    return [save_png(window, outdir / "run-detail-failure.png")]


def _trends_and_triggers(
    app: QApplication,
    window: MainWindow,
    panels: RunPanels,
    link: SupervisorLink,
    paths: DeskpilotPaths,
    outdir: Path,
) -> list[Path]:
    path = paths.workflows_dir / "batch.yaml"
    path.write_text(QUICK.format(name="invoice-batch"), encoding="utf-8")
    client = link.client
    for number in range(12):
        submitted = client.submit(path, inputs={"n": number % 5})
        client.wait(submitted.run_id, timeout=30)
    history = panels.history
    history.chart("invoice-batch")
    _wait(app, lambda: bool(history.trends.chart.runs), 20, "the chart")
    _settle(app, 10)
    shots = [save_png(window, outdir / "history-trends.png")]
    panels.show_panel("triggers")
    triggers = panels.triggers
    _wait(app, lambda: len(triggers.triggers) >= 2, 20, "the triggers")
    triggers.select("nightly-sales:0")
    _settle(app, 10)
    shots.append(save_png(window, outdir / "triggers.png"))
    return shots


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.screenshots.runs", description=__doc__)
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    parser.add_argument(
        "--only", action="append", choices=VIEWS, help="take only these views (repeatable)"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    QCoreApplication.setApplicationName("Deskpilot")
    registry = BlockRegistry.with_builtins(plugins=False)
    shots = take(args.outdir, app, registry, only=args.only or VIEWS)
    log.info("%d screenshots in %s", len(shots), args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
