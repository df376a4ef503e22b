"""Image targeting on a real display: scale, theme, healing and failure evidence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from automation.blocks.desktop.display import Box, grab
from automation.blocks.desktop.image import ImageClick, ImageFind, ImageWait
from automation.blocks.desktop.refine import REFINE_STEP
from automation.blocks.desktop.screen import (
    ScreenPixel,
    ScreenShot,
    ScreenSize,
    ScreenWaitForColour,
)
from automation.errors import BlockError, BlockInputError
from automation.testing import run_block
from tests.integration.desktop.conftest import Flows


def capture(box: list[int], path: Path) -> Path:
    image, _ = grab(Box.of(box))
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def save_template(open_window, tmp_path: Path) -> Path:
    """The 'Save report' button's label and face, captured at 100 % in the light theme."""
    window = open_window(name="template")
    x, y, w, h = window.box("save")
    cx, cy = x + w // 2, y + h // 2
    path = capture([cx - 60, cy - 14, 120, 28], tmp_path / "save.png")
    window.close()
    return path


def inside(point: tuple[int, int], box: list[int]) -> bool:
    x, y, w, h = box
    return x <= point[0] < x + w and y <= point[1] < y + h


@pytest.mark.parametrize(
    ("scale", "args"),
    [(1.25, ()), (1.5, ()), (1.0, ("--dark",)), (1.25, ("--dark",))],
    ids=["125%", "150%", "dark", "125%-dark"],
)
def test_template_from_100_percent_light_is_found_at_other_scales_and_themes(
    save_template: Path, open_window, tmp_path: Path, scale: float, args: tuple[str, ...]
) -> None:
    window = open_window(*args, scale=scale, name="scaled")
    result = run_block(ImageFind, {"template": str(save_template)}, workflow_dir=tmp_path).last
    assert result["found"], result
    assert inside((result["x"], result["y"]), window.box("save")), (result, window.box("save"))
    # a near miss is refined in steps of REFINE_STEP: the best fit may be one step off
    assert result["scale"] == pytest.approx(scale, abs=REFINE_STEP + 0.005)
    assert isinstance(result["x"], int) and isinstance(result["box"][0], int)


CLICK_FLOW = """
deskpilot: 1
name: click-save
inputs:
  template: {type: string}
nodes:
  click:
    block: image.click
    with: {template: "{{ inputs.template }}", timeout: 5}
outputs:
  scale: "{{ nodes.click.scale }}"
"""


def test_image_click_presses_the_button_at_150_percent(
    save_template: Path, open_window, flows: Flows
) -> None:
    window = open_window(scale=1.5)
    result = flows.run(CLICK_FLOW, {"template": str(save_template)})
    assert result.ok, result.error
    window.wait_for(lambda s: s["save_clicks"] == 1)
    assert result.outputs["scale"] == 1.5


def test_missing_image_fails_with_a_linked_screenshot(
    save_template: Path, open_window, flows: Flows, tmp_path: Path
) -> None:
    open_window()
    absent = np.full((30, 60, 3), 250, np.uint8)
    cv2.putText(absent, "Nope", (4, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 200), 2)
    cv2.imwrite(str(tmp_path / "absent.png"), absent)
    result = flows.run(
        CLICK_FLOW.replace("timeout: 5", "timeout: 0.3"), {"template": str(tmp_path / "absent.png")}
    )
    assert not result.ok
    assert "was not found on screen" in (result.error or "")
    artifacts = flows.artifacts()
    assert len(artifacts) == 1 and artifacts[0].artifact_kind == "screenshot"
    path = Path(artifacts[0].path)
    assert path.exists() and str(path) in (result.error or "")
    shot = cv2.imread(str(path))
    assert shot is not None
    assert shot.shape[:2] == (1080, 1920)
    # the best candidate is drawn in red
    assert ((shot[:, :, 2] == 255) & (shot[:, :, 1] == 0) & (shot[:, :, 0] == 0)).sum() > 100


def test_self_healing_target_uses_the_next_anchor_and_refreshes(
    save_template: Path, open_window, tmp_path: Path
) -> None:
    window = open_window("--dark")
    drifted = tmp_path / "drifted.png"
    drifted_image = np.full((28, 120, 3), 250, np.uint8)
    cv2.putText(
        drifted_image, "Save rpt v2", (2, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 0, 0), 2
    )
    cv2.imwrite(str(drifted), drifted_image)
    target = {
        "anchors": [
            {"image": str(drifted)},
            {"image": str(save_template), "name": "light template"},
        ],
        "refresh_template": True,
    }
    first = run_block(ImageFind, {"target": target}, workflow_dir=tmp_path)
    out = first.last
    assert out["found"] and out["healed"] and out["anchor"] == "light template"
    assert inside((out["x"], out["y"]), window.box("save"))
    assert any(data.get("healed") for _, _, data in first.logs)
    refreshed = tmp_path / "drifted.refreshed.png"
    assert out["refreshed"] == str(refreshed) and refreshed.exists()
    kept = cv2.imread(str(drifted))
    assert kept is not None and kept.tolist() == drifted_image.tolist()  # the original is kept
    # next time the refreshed copy of the first anchor matches directly
    again = run_block(
        ImageFind, {"target": {"anchors": [{"image": str(drifted)}]}}, workflow_dir=tmp_path
    ).last
    assert (
        again["found"]
        and again["score"] > 0.95
        and again["anchor"] == "image:drifted.refreshed.png"
    )


def test_offset_and_position_anchors(save_template: Path, open_window, tmp_path: Path) -> None:
    window = open_window()
    bx, by = window.center("save")
    px, py = window.center("pad")
    target = {"anchors": [{"image": str(save_template), "offset": [px - bx, py - by]}]}
    out = run_block(ImageFind, {"target": target}, workflow_dir=tmp_path).last
    assert abs(out["x"] - px) <= 2 and abs(out["y"] - py) <= 2
    missing = tmp_path / "missing.png"
    image = np.zeros((20, 40, 3), np.uint8)
    cv2.circle(image, (20, 10), 8, (0, 255, 255), 2)
    cv2.imwrite(str(missing), image)
    last_known = {"anchors": [{"image": str(missing)}, {"position": [px, py]}]}
    out = run_block(ImageFind, {"target": last_known}, workflow_dir=tmp_path).last
    assert (out["x"], out["y"], out["anchor"], out["healed"]) == (
        px,
        py,
        f"position:{[px, py]}",
        True,
    )


def test_near_uniform_template_is_refused(xvfb_display, tmp_path: Path) -> None:
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((30, 60, 3), 239, np.uint8))
    with pytest.raises(BlockInputError, match="almost one flat colour"):
        run_block(ImageFind, {"template": str(flat)}, workflow_dir=tmp_path)


def test_find_all_and_region(save_template: Path, open_window, tmp_path: Path) -> None:
    first = open_window(name="a")
    second = open_window("--x", "900", "--y", "300", name="b")
    out = run_block(
        ImageFind, {"template": str(save_template), "all": True}, workflow_dir=tmp_path
    ).last
    centres = sorted((m["x"], m["y"]) for m in out["matches"])
    assert len(centres) == 2
    assert inside(centres[0], first.box("save")) and inside(centres[1], second.box("save"))
    only_second = run_block(
        ImageFind,
        {"template": str(save_template), "region": [800, 200, 800, 600]},
        workflow_dir=tmp_path,
    ).last
    assert inside((only_second["x"], only_second["y"]), second.box("save"))


def test_wait_for_vanish_and_screen_blocks(
    save_template: Path, open_window, tmp_path: Path
) -> None:
    window = open_window()
    size = run_block(ScreenSize, {}, workflow_dir=tmp_path).last
    assert (size["width"], size["height"]) == (1920, 1080) and len(size["monitors"]) == 1
    shot = run_block(ScreenShot, {"region": window.box("window")}, workflow_dir=tmp_path)
    assert shot.artifacts and Path(shot.last["path"]).exists()
    saved = cv2.imread(shot.last["path"])
    assert saved is not None
    assert saved.shape[:2] == tuple(window.box("window")[3:1:-1])
    x, y, _, _ = window.box("name")
    colour = run_block(ScreenPixel, {"x": x + 3, "y": y + 3}, workflow_dir=tmp_path).last
    assert colour["hex"].startswith("#")
    run_block(
        ScreenWaitForColour,
        {"x": x + 3, "y": y + 3, "colour": colour["hex"], "timeout": 1},
        workflow_dir=tmp_path,
    )
    window.close()
    out = run_block(
        ImageWait,
        {"template": str(save_template), "until": "vanishes", "timeout": 5},
        workflow_dir=tmp_path,
    ).last
    assert out["found"] is False
    with pytest.raises(BlockError, match="did not go away|did not appear"):
        run_block(
            ScreenWaitForColour,
            {"x": 5, "y": 5, "colour": "#ff00ff", "timeout": 0.3},
            workflow_dir=tmp_path,
        )


def test_image_click_which_match(save_template: Path, open_window, tmp_path: Path) -> None:
    first = open_window(name="a")
    second = open_window("--x", "900", "--y", "300", name="b")
    run_block(
        ImageClick, {"template": str(save_template), "all": True, "which": 1}, workflow_dir=tmp_path
    )
    second.wait_for(lambda s: s["save_clicks"] == 1)
    assert first.state()["save_clicks"] == 0
