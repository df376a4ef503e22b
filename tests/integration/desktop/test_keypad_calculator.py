"""Image targets on a real calculator keypad (galculator from Debian, on Xvfb).

The buttons' boxes come from the accessibility bus (AT-SPI), not from the
matcher under test.  A crop of the "2" key used to match the "1" key through
the edge fallback (score 0.933) and the step succeeded; here every digit is
found on its own key, and a template that fits several keys fails the step
with "ambiguous target" and clicks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from automation.blocks.desktop.display import Box, grab
from automation.blocks.desktop.image import ImageFind
from automation.blocks.desktop.targets import AmbiguousTarget
from automation.testing import run_block
from tests.helpers.common import eventually
from tests.helpers.desktop_apps import App, Button, DesktopSession
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.conftest import Flows


@pytest.fixture(scope="module")
def galculator(xvfb_display: XDisplay) -> Iterator[App]:
    session = DesktopSession(xvfb_display)
    try:
        app = session.launch("galculator")
        yield app
    finally:
        session.stop()


def save(box: tuple[int, int, int, int], path: Path) -> Path:
    image, _ = grab(Box.of(list(box)))
    assert cv2.imwrite(str(path), image)
    return path


def display_of(app: App) -> Box:
    """The calculator's display: everything above its topmost button row."""
    buttons = app.buttons()
    left = min(b.x for b in buttons)
    right = max(b.x + b.width for b in buttons)
    top = min(b.y for b in buttons)
    return Box(left, 0, right - left, top)


@pytest.mark.parametrize("digit", ["2", "1", "5", "0"])
def test_each_digit_crop_is_found_on_its_own_key(galculator: App, tmp_path: Path, digit) -> None:
    keys = {b.name: b for b in galculator.buttons()}
    key = keys[digit]
    template = save(key.box, tmp_path / f"key-{digit}.png")
    out = run_block(ImageFind, {"template": str(template)}, workflow_dir=tmp_path).last
    assert out["found"], out
    assert key.contains(out["x"], out["y"]), (digit, out, key)
    # the direct match wins; fallbacks (edges, inverted, other scales) were not needed
    assert out["method"] == "color" and out["scale"] == 1.0 and out["score"] > 0.99
    others = [b for b in keys.values() if b.name != digit and b.contains(out["x"], out["y"])]
    assert not others


def _ambiguous_template(galculator: App, tmp_path: Path) -> tuple[Path, list[Button]]:
    """The left third of the "7" key: border and face, no glyph; it fits every digit key."""
    keys = {b.name: b for b in galculator.buttons()}
    seven = keys["7"]
    path = save((seven.x, seven.y, seven.width // 3, seven.height), tmp_path / "key-edge.png")
    same_size = [b for b in keys.values() if (b.width, b.height) == (seven.width, seven.height)]
    return path, same_size


def test_a_template_that_fits_several_keys_is_an_ambiguity_naming_them(
    galculator: App, tmp_path: Path
) -> None:
    template, keys = _ambiguous_template(galculator, tmp_path)
    with pytest.raises(AmbiguousTarget) as caught:
        run_block(ImageFind, {"template": str(template)}, workflow_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(f"ambiguous target image:{template}: ")
    named = [b for b in keys if f"[{b.x}, {b.y}, " in message]
    assert len(named) >= 2, message
    assert message.count(" score ") >= 2


CLICK_FLOW = """
deskpilot: 1
name: click-key
inputs:
  template: {type: string}
nodes:
  press:
    block: image.click
    with: {template: "{{ inputs.template }}"}
"""


def test_an_ambiguous_click_clicks_nothing(galculator: App, flows: Flows, tmp_path: Path) -> None:
    display = display_of(galculator)
    before, _ = grab(display)
    template, _ = _ambiguous_template(galculator, tmp_path)
    result = flows.run(CLICK_FLOW, {"template": str(template)})
    assert not result.ok
    assert "ambiguous target" in (result.error or ""), result.error
    after, _ = grab(display)
    assert np.array_equal(before, after), "the calculator's display changed"
    # the failure screenshot draws every close candidate (orange, with its score)
    shots = flows.artifacts()
    assert len(shots) == 1
    drawn = cv2.imread(shots[0].path)
    assert drawn is not None
    orange = (drawn[:, :, 2] == 255) & (drawn[:, :, 1] == 140) & (drawn[:, :, 0] == 0)
    assert orange.sum() > 200
    # the control: a unique key does change the display, so the check above can fail
    seven = galculator.button("7")
    unique = save(seven.box, tmp_path / "key-7.png")
    assert flows.run(CLICK_FLOW, {"template": str(unique)}, name="seven.yaml").ok
    eventually(lambda: not np.array_equal(before, grab(display)[0]), timeout=5)
