"""The packaged app's single program: the window, the tray, the CLI, the supervisor, its workers.

PyInstaller builds one executable, but Deskpilot is several programs, and
the supervisor starts its own (``<sys.executable> -m supervisor.daemon``,
``-m supervisor.worker``), where ``sys.executable`` is this program once
frozen.  So it answers like a Python interpreter for ``-m`` and dispatches
the rest::

    deskpilot                      the window (as ``python -m app``)
    deskpilot --tray               only the tray icon (the autostart entry)
    deskpilot cli ARGS...          the ``deskpilot`` command line
    deskpilot -m MODULE ARGS...    run a bundled module as ``python -m`` does
    deskpilot --version            print the version and exit
    deskpilot --self-check         headless check of the bundle (see ``self_check``)
"""

from __future__ import annotations

import json
import multiprocessing
import os
import runpy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("deskpilot")
    except PackageNotFoundError:
        return "unknown"


def run_module(argv: list[str]) -> int:
    """``-m MODULE ARGS``: what the supervisor asks of ``sys.executable``."""
    if not argv:
        sys.stderr.write("-m needs a module name\n")
        return 2
    module, rest = argv[0], argv[1:]
    sys.argv = [module, *rest]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def native_libraries() -> dict[str, object]:
    """Load what a trimmed bundle could have lost: OpenCV matching a template in an image
    and writing a PNG, Tesseract's bindings, and AT-SPI through PyGObject."""
    import cv2
    import numpy as np

    found: dict[str, object] = {}
    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    template = image[40:70, 50:90].copy()
    scores = cv2.matchTemplate(cv2.GaussianBlur(image, (3, 3), 0), template, cv2.TM_CCOEFF_NORMED)
    found["opencv_match"] = list(cv2.minMaxLoc(scores)[3]) == [50, 40]
    # a PNG round trip: targets are read with imread, screenshots written with imwrite
    encoded, png = cv2.imencode(".png", image)
    decoded = cv2.imdecode(png, cv2.IMREAD_COLOR) if encoded else None
    found["opencv_png"] = decoded is not None and bool((decoded == image).all())
    found["opencv_modules"] = _opencv_modules(cv2)
    # numpy's dot product runs in the stub that stands in for OpenBLAS (stub_libraries.py)
    vector = np.arange(1, 5, dtype=np.float32)
    found["numpy_dot"] = float(vector.dot(vector)) == 30.0
    try:
        import tesserocr

        found["tesseract"] = str(tesserocr.tesseract_version()).split()[1]
        found["ocr"] = _read_text(tesserocr, cv2, np)
    except Exception as exc:  # reported, not raised: the check shows every failure at once
        found["tesseract"] = f"error: {exc}"
    try:
        import gi

        gi.require_version("Atspi", "2.0")
        from gi.repository import Atspi

        found["atspi"] = "ok" if Atspi.Accessible.__gtype__.name == "AtspiAccessible" else "?"
    except Exception as exc:
        found["atspi"] = f"error: {exc}"
    return found


def _opencv_modules(cv2: Any) -> str:
    """The OpenCV modules built into cv2 (build_app.sh bundles a build of only those used)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("To be built:"):
            return line.split(":", 1)[1].strip()
    return "?"


def _read_text(tesserocr: Any, cv2: Any, np: Any) -> str:
    """Tesseract reading a word drawn with OpenCV, where language data is installed."""
    from automation.blocks.desktop.ocr import OcrUnavailable, tessdata_dir

    try:
        folder = tessdata_dir()
    except OcrUnavailable:
        return "skipped: no language data (apt-get install tesseract-ocr-eng)"
    canvas = np.full((80, 360), 255, dtype=np.uint8)
    cv2.putText(canvas, "DESKPILOT", (12, 56), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
    from PIL import Image

    with tesserocr.PyTessBaseAPI(path=folder, lang="eng") as api:
        api.SetImage(Image.fromarray(canvas))
        text = api.GetUTF8Text().strip()
    return "ok" if text == "DESKPILOT" else f"error: read {text!r}"


def self_check() -> int:
    """Prove the bundle works without a display: Qt renders the main window offscreen, every
    built-in block loads, and a supervisor started from this executable runs a workflow in a
    worker process (both started through ``-m``) and stops again."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    report: dict[str, object] = {"version": version()}
    with tempfile.TemporaryDirectory(prefix="dp-check-", dir="/tmp") as temp:
        home = Path(temp)
        os.environ["DESKPILOT_HOME"] = str(home)
        from PySide6.QtWidgets import QApplication

        from app import theme as themes
        from app.main_window import MainWindow
        from app.supervisor_link import launch_supervisor
        from automation.blocks.registry import BlockRegistry
        from supervisor.client import SupervisorClient, is_running
        from supervisor.paths import DeskpilotPaths

        report.update(native_libraries())
        app = QApplication(sys.argv[:1])
        theme = themes.apply(app)
        paths = DeskpilotPaths.from_env().ensure()
        registry = BlockRegistry.with_builtins(plugins=False)
        report["blocks"] = len(registry)
        window = MainWindow(registry, paths, theme=theme)
        window.resize(1000, 700)
        report["window_rendered"] = not window.grab().isNull()
        window.close()
        workflow = paths.workflows_dir / "check.yaml"
        workflow.write_text(
            "deskpilot: 1\nname: self-check\nnodes:\n  only:\n    block: control.pass\n"
            "    with: {value: 42}\noutputs:\n  answer: '{{ nodes.only.value }}'\n",
            encoding="utf-8",
        )
        process = launch_supervisor(paths)
        if process is None:  # a fresh home: nothing else can hold its lock
            sys.stderr.write("a supervisor already holds the self-check's fresh home\n")
            return 1
        try:
            deadline = time.monotonic() + 60
            while not is_running(paths, timeout=1.0):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (paths.log_dir / "deskpilotd.out").read_text(errors="replace")
                    sys.stderr.write(f"the supervisor did not start:\n{log[-3000:]}\n")
                    return 1
                time.sleep(0.2)
            with SupervisorClient(paths, remote=None) as client:  # the one just started
                run_id = client.submit(workflow).run_id
                result = client.wait(run_id, timeout=60)
                report["run"] = str(result.run.status)
                report["outputs"] = result.run.outputs
                client.shutdown()
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    sys.stdout.write(json.dumps(report) + "\n")
    ok = (
        report.get("run") == "succeeded"
        and report.get("window_rendered") is True
        and report.get("opencv_match") is True
        and report.get("opencv_png") is True
        and report.get("atspi") == "ok"
        and report.get("numpy_dot") is True
        and not str(report.get("tesseract")).startswith("error")
        and not str(report.get("ocr")).startswith("error")
    )
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    multiprocessing.freeze_support()
    if argv[:1] == ["-m"]:
        return run_module(argv[1:])
    if argv[:1] == ["--version"]:
        sys.stdout.write(f"deskpilot {version()}\n")
        return 0
    if argv[:1] == ["--self-check"]:
        return self_check()
    if argv[:1] == ["cli"]:
        from supervisor.cli.main import main as cli_main

        sys.argv = ["deskpilot", *argv[1:]]
        cli_main()
        return 0
    from app.__main__ import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
