"""Keys captured in galculator's light theme, searched in its dark theme: right or refused.

The targeting benchmark once found the "." key's crop on another key in the
dark theme, and the "3" glyph's crop (captured at 100 %) on the wrong key at
125 % font scaling in the dark theme, both through the edge fallback; the
"*" glyph at 200 % dark matched a smaller look-alike at 80 %.  Every such
answer would have been a wrong click.  Here each crop of the keys involved
(and their neighbours) is searched in those configurations with
``image.find``: the answer is the true key (its box from the accessibility
bus, never from the matcher), or not found, or an ambiguity error; never
another place.

Under font-only scaling (``GDK_DPI_SCALE``: labels grow, borders do not) a
whole-key crop no longer fits as a whole; the label stage must find the
digit keys there, in the light and the dark theme, while their look-alikes
("3", "8" beside "0" and "5") stay right or refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from automation.blocks.desktop.display import grab
from automation.blocks.desktop.image import ImageFind
from automation.blocks.desktop.targets import AmbiguousTarget
from automation.testing import run_block
from tests.helpers.desktop_apps import Button, DesktopSession
from tests.helpers.xvfb import start_xvfb

KEYS = (".", "3", "*", "-", "2", "7", "5", "0", "8")
#: Whole-key crops found by their label under font-only scaling, light and dark.
BY_LABEL = ("7", "5", "0")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopSession]:
    """galculator alone on a display of its own.

    The search covers the whole screen, as ``image.find`` does for a user; on
    the display the other test modules share, a window of theirs still
    closing (a calculator among them) would be searched too, and an answer
    there is not this module's question.
    """
    display = start_xvfb(xauthority_dir=tmp_path_factory.mktemp("keypad-xvfb"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", display.name)
        patch.setenv("XAUTHORITY", str(display.xauthority))
        session = DesktopSession(display)
        try:
            yield session
        finally:
            session.stop()
            display.stop()


@pytest.fixture(scope="module")
def light_crops(
    session: DesktopSession, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Path]:
    """Whole-key and glyph-only crops of KEYS, captured at 100 % in the light theme."""
    folder = tmp_path_factory.mktemp("light")
    app = session.launch("galculator")
    try:
        keys = {b.name: b for b in app.buttons()}
        screen, _ = grab(None)
    finally:
        app.close()
    crops = {}
    for name in KEYS:
        key = keys[name]
        mx, my = max(2, key.width // 5), max(2, key.height // 5)
        boxes = {
            "whole": key.box,
            "glyph": (key.x + mx, key.y + my, key.width - 2 * mx, key.height - 2 * my),
        }
        for crop, (x, y, w, h) in boxes.items():
            path = folder / f"{crop}-{ord(name)}.png"
            assert cv2.imwrite(str(path), screen[y : y + h, x : x + w])
            crops[(name, crop)] = path
    return crops


@pytest.mark.parametrize(("scale", "label"), [(1.0, "100% dark"), (1.25, "125% dark")])
def test_light_crops_in_the_dark_theme_are_right_or_refused(
    session: DesktopSession,
    light_crops: dict[tuple[str, str], Path],
    tmp_path: Path,
    scale: float,
    label: str,
) -> None:
    app = session.launch("galculator", scale=scale, dark=True)
    try:
        keys: dict[str, Button] = {b.name: b for b in app.buttons()}
        outcomes = []
        for (name, crop), template in light_crops.items():
            try:
                out = run_block(ImageFind, {"template": str(template)}, workflow_dir=tmp_path).last
            except AmbiguousTarget:
                outcomes.append((name, crop, "ambiguous"))
                continue
            if not out["found"]:
                outcomes.append((name, crop, "not found"))
                continue
            point = (out["x"], out["y"])
            assert keys[name].contains(*point), (
                f"{label}: the {crop} crop of {name!r} was found at {point} "
                f"({out['method']}, scale {out['scale']}, score {out['score']}), "
                f"but the key is at {list(keys[name].box)}"
            )
            outcomes.append((name, crop, out["method"]))
        # the check above must be able to fail: some crops are found (inverted or edges)
        assert any(o not in ("ambiguous", "not found") for _, _, o in outcomes), outcomes
    finally:
        app.close()


@pytest.mark.parametrize(
    ("dark", "label"), [(False, "150% fonts light"), (True, "150% fonts dark")]
)
def test_whole_keys_are_found_by_their_label_under_font_scaling(
    session: DesktopSession,
    light_crops: dict[tuple[str, str], Path],
    tmp_path: Path,
    dark: bool,
    label: str,
) -> None:
    app = session.launch("galculator", font_scale=1.5, dark=dark)
    try:
        keys: dict[str, Button] = {b.name: b for b in app.buttons()}
        for (name, crop), template in light_crops.items():
            if crop != "whole":
                continue
            try:
                out = run_block(ImageFind, {"template": str(template)}, workflow_dir=tmp_path).last
            except AmbiguousTarget:
                assert name not in BY_LABEL, f"{label}: {name!r} was reported ambiguous"
                continue
            if name in BY_LABEL:
                assert out["found"] and out["method"] == "label", (label, name, out)
            if out["found"]:
                assert keys[name].contains(out["x"], out["y"]), (
                    f"{label}: {name!r} was found at {(out['x'], out['y'])} ({out['method']}, "
                    f"scale {out['scale']}), but the key is at {list(keys[name].box)}"
                )
    finally:
        app.close()
