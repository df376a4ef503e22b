"""Loading the desktop blocks stays light: image libraries come in only when a block runs.

The supervisor loads the whole block registry to validate workflow files but
never grabs or matches a screen; OpenCV and numpy alone add about 28 MiB to
its resident memory.  Each check runs in a fresh interpreter, because this
test process has long since imported them for other tests.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import numpy as np

from automation.blocks.desktop import display

EXAMPLES = Path(__file__).resolve().parents[4] / "resources" / "examples"
HEAVY = ("cv2", "numpy", "mss", "pyautogui", "pyscreeze", "PIL", "Xlib")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def _assert_not_loaded() -> str:
    return (
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not loaded, f'imported at load time: {loaded}'\n"
    )


def test_loading_the_registry_imports_no_image_libraries() -> None:
    done = _run(
        "import sys\n"
        "from automation.blocks.registry import BlockRegistry\n"
        "registry = BlockRegistry.with_builtins(plugins=False)\n"
        "ids = set(registry.ids())\n"
        "assert {'image.find', 'image.click', 'screen.screenshot', 'mouse.click'} <= ids, ids\n"
        'assert "cv2" not in sys.modules and "numpy" not in sys.modules\n' + _assert_not_loaded()
    )
    assert done.returncode == 0, done.stderr


def test_validating_a_desktop_workflow_imports_no_image_libraries() -> None:
    example = EXAMPLES / "desktop_click_image.yaml"
    assert example.is_file()
    done = _run(
        "import sys\n"
        "from pathlib import Path\n"
        "from automation.blocks.registry import BlockRegistry\n"
        "from automation.validation import load_valid\n"
        f"loaded = load_valid(Path({str(example)!r}), BlockRegistry.with_builtins(plugins=False))\n"
        "assert loaded.workflow.nodes['click'].block == 'image.click'\n" + _assert_not_loaded()
    )
    assert done.returncode == 0, done.stderr


def test_image_blocks_bring_opencv_in_when_they_run() -> None:
    done = _run(
        "import sys\n"
        "import numpy\n"
        "from automation.blocks.desktop import matching\n"
        "assert 'cv2' not in sys.modules\n"
        "screen = numpy.zeros((40, 60, 3), numpy.uint8)\n"
        "screen[10:20, 30:45] = (0, 0, 255)\n"
        "screen[12:18, 33:42] = (255, 255, 255)\n"
        "template = screen[8:22, 28:47].copy()\n"
        "result = matching.find(screen, template, scales=[1.0])\n"
        "assert result.found and (result.matches[0].x, result.matches[0].y) == (28, 8), result\n"
        "assert 'cv2' in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_the_image_type_alias_still_resolves_at_run_time() -> None:
    """The GUI imports ``Image`` from the display module at run time."""
    from automation.blocks.desktop.display import Image

    assert typing.get_origin(Image) is np.ndarray
    assert display.Image is Image
