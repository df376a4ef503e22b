"""UI elements through AT-SPI on real Debian apps: galculator (GTK 3) and SpeedCrunch (Qt);
galculator's 12 x 34 through accessibility targets and through image targets, each checked
by OCR of its display and by its accessible text; targets mixing anchors.

One galculator and one SpeedCrunch serve the whole module (started on a private
accessibility bus by ``a11y_session``); each test clears the calculator first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from automation.blocks.desktop import accessibility as a11y
from automation.blocks.desktop.image import ImageClick, ImageFind
from automation.blocks.desktop.screen_text import ScreenReadText
from automation.blocks.desktop.ui import UiClick, UiFind, UiGetText, UiSetText, UiWait
from automation.errors import BlockError
from automation.testing import run_block
from tests.helpers.a11y import A11ySession
from tests.helpers.common import eventually
from tests.integration.desktop.conftest import Flows

GALC = "app=galculator / ... / "
DISPLAY = GALC + "text"


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # failure screenshots of run_block go to the working folder


@pytest.fixture(scope="module")
def galculator(a11y_session: A11ySession) -> Iterator[subprocess.Popen[bytes]]:
    process = a11y_session.launch(["galculator"], "galculator")
    yield process
    a11y_session.stop(process)


@pytest.fixture
def calculator(galculator: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """galculator showing 0."""
    a11y.click(a11y.find(GALC + "button[name=AC]"))
    eventually(lambda: a11y.read_text(a11y.find(DISPLAY)) == "0", timeout=5)
    return galculator


COMPUTE = """
deskpilot: 1
name: multiply-by-accessibility
nodes:
{keys}
  result:
    block: ui.get_text
    with: {{selector: "app=galculator / ... / text"}}
links:
{links}
outputs:
  result: "{{{{ nodes.result.text }}}}"
  clicked_by: "{{{{ nodes.key0.clicked_by }}}}"
"""


def test_galculator_computes_12_times_34_through_accessibility_targets(
    calculator, flows: Flows
) -> None:
    keys = [
        f"  key{number}:\n    block: ui.click\n"
        f"    with: {{selector: 'app=galculator / ... / button[name=\"{key}\"]'}}"
        for number, key in enumerate(["1", "2", "*", "3", "4", "="])
    ]
    links = [f"  - key{n} -> key{n + 1}" for n in range(5)] + ["  - key5 -> result"]
    result = flows.run(COMPUTE.format(keys="\n".join(keys), links="\n".join(links)))
    assert result.ok, result.error
    assert result.outputs["result"] == "408"
    assert result.outputs["clicked_by"] == "action:click"


def test_find_reports_the_element_and_a_path_that_finds_it_again(calculator) -> None:
    out = run_block(UiFind, {"selector": GALC + "button[name=7]", "timeout": 0}).last
    assert out["role"] == "toggle button" and out["name"] == "7" and out["pid"] == calculator.pid
    assert "showing" in out["states"] and "enabled" in out["states"]
    again = a11y.find(out["path"])
    assert again.box is not None and again.box.as_list() == out["box"]


def test_element_at_a_point_gives_a_short_unique_path(calculator) -> None:
    seven = a11y.find(GALC + "button[name=7]")
    assert seven.center is not None
    here = a11y.element_at(*seven.center)
    assert here is not None and here.name == "7"
    assert here.path == "app=galculator / toggle button[name=7]"
    assert a11y.find(here.path).box == seven.box
    display = a11y.find(DISPLAY)
    assert display.center is not None
    at_display = a11y.element_at(*display.center)
    assert at_display is not None and at_display.role == "text"
    assert a11y.find(at_display.path).box == display.box
    assert a11y.element_at(1900, 1060) is None  # nothing accessible down there


def test_not_found_lists_the_closest_elements(calculator) -> None:
    with pytest.raises(a11y.ElementNotFound) as caught:
        run_block(UiClick, {"selector": GALC + "button[name=77]", "timeout": 0.2})
    message = str(caught.value)
    assert "matched none of" in message and "waited 0.2s" in message
    assert 'toggle button "7"' in message.split("closest are:")[1].splitlines()[1]
    assert "screenshot:" in message


def test_several_matches_are_an_ambiguity_error_listing_them(calculator) -> None:
    with pytest.raises(a11y.ElementAmbiguous) as caught:
        run_block(UiClick, {"selector": GALC + "button[name~='[0-9]']", "timeout": 0})
    message = str(caught.value)
    assert "ambiguous selector" in message and "10 elements match" in message
    assert all(f'"{digit}"' in message for digit in "0123456789")
    assert a11y.read_text(a11y.find(DISPLAY)) == "0"  # nothing was clicked
    picked = run_block(
        UiClick, {"selector": GALC + "button[name~='[0-9]']", "index": 0, "timeout": 0}
    ).last
    assert picked["name"] in "0123456789"


def test_an_unknown_application_names_the_ones_on_the_bus(calculator) -> None:
    with pytest.raises(a11y.ElementNotFound, match="running there: .*galculator"):
        run_block(UiFind, {"selector": "app=nosuchapp / button", "timeout": 0})


def test_wait_for_a_state_and_for_it_to_go(calculator) -> None:
    out = run_block(UiWait, {"selector": GALC + "button[name=7]", "state": "enabled"}).last
    assert out["present"] is True and out["name"] == "7"
    gone = run_block(
        UiWait, {"selector": GALC + "button[name=nope]", "state": "showing", "present": False}
    ).last
    assert gone["present"] is False and gone["role"] is None
    with pytest.raises(BlockError, match="was still there after 0.3s"):
        run_block(
            UiWait,
            {
                "selector": GALC + "button[name=7]",
                "state": "showing",
                "present": False,
                "timeout": 0.3,
            },
        )
    with pytest.raises(BlockError, match="unknown state 'shiny'"):
        run_block(UiWait, {"selector": GALC + "button[name=7]", "state": "shiny"})


def test_a_disabled_button_is_not_pressed_and_fails_with_its_states(calculator) -> None:
    """galculator's MR is insensitive while the memory is empty: its press action would be
    answered "done" and do nothing, so the step fails instead, after waiting ``timeout``."""
    with pytest.raises(BlockError) as caught:
        run_block(UiClick, {"selector": GALC + "button[name=MR]", "timeout": 0.3})
    message = str(caught.value)
    assert 'toggle button "MR"' in message and "is disabled" in message, message
    assert "stayed so for 0.3s" in message and "states: focusable" in message, message
    assert "screenshot:" in message
    assert a11y.read_text(a11y.find(DISPLAY)) == "0"


def test_a_press_reports_what_it_changed(calculator) -> None:
    out = run_block(UiClick, {"selector": GALC + "button[name=7]", "verify": True}).last
    assert out["clicked_by"] == "action:click"
    # a toggle button's own state flips with the press (the display changes too)
    assert out["effect"].startswith('toggle button "7"') and "checked" in out["effect"], out
    assert eventually(lambda: a11y.read_text(a11y.find(DISPLAY)) == "7", timeout=5)


@pytest.fixture(scope="module")
def speedcrunch(a11y_session: A11ySession) -> Iterator[subprocess.Popen[bytes]]:
    process = a11y_session.launch(["speedcrunch"], "SpeedCrunch")
    yield process
    a11y_session.stop(process)


def test_speedcrunch_qt_app_is_found_typed_into_and_clicked(speedcrunch) -> None:
    sc = "app=SpeedCrunch / ... / "
    # the expression editor is the editable one of its two text fields
    editor = a11y.find_all(sc + "text")
    assert len(editor) == 2
    with pytest.raises(a11y.ElementAmbiguous):
        a11y.find(sc + "text")
    typed = run_block(UiSetText, {"selector": sc + "text", "index": 1, "text": "12*34"}).last
    assert typed["text"] == "12*34"
    # the keypad is hidden until its menu item is pressed: hidden elements can be clicked too
    shown = run_block(
        UiClick, {"selector": sc + "menu item[name=Keypad]", "hidden": True, "timeout": 0}
    ).last
    assert shown["clicked_by"] == "action:press"
    run_block(UiClick, {"selector": sc + "push button[name==]", "timeout": 5})

    def result() -> str:
        return a11y.read_text(a11y.find(sc + "text", index=0))

    assert "408" in eventually(lambda: "408" in result() and result(), timeout=5)
    text = run_block(UiGetText, {"selector": sc + "push button[name=7]"}).last
    assert text["text"] == "7" and text["source"] == "name"


# -- the same computation through image targets, and checks by OCR of the display ------------

KEYS = ["1", "2", "*", "3", "4", "="]


def _key(name: str) -> a11y.Element:
    return a11y.find(f"{GALC}button[name={a11y.sel.quote(name)}]")


def _ocr_display(tmp_path) -> str:
    """The calculator's display read by OCR (screen.read_text on its box)."""
    out = run_block(
        ScreenReadText,
        {"target": {"anchors": [{"accessibility": DISPLAY}]}},
        workflow_dir=tmp_path,
    ).last
    assert out["engine"] == "tesserocr"
    return str(out["text"])


def test_galculator_computes_12_times_34_through_image_targets(calculator, flows: Flows) -> None:
    import cv2

    from automation.blocks.desktop.display import Box, grab

    for key in KEYS:  # crops of the live app, each key's face inside its border
        box = _key(key).box
        assert box is not None
        image, _ = grab(Box(box.x + 3, box.y + 3, box.width - 6, box.height - 6))
        assert cv2.imwrite(str(flows.folder / f"key{KEYS.index(key)}.png"), image)
    nodes = "\n".join(
        f"  key{n}:\n    block: image.click\n    with: {{template: key{n}.png}}" for n in range(6)
    )
    links = "\n".join(f"  - key{n} -> key{n + 1}" for n in range(5))
    result = flows.run(
        f"deskpilot: 1\nname: multiply-by-images\nnodes:\n{nodes}\nlinks:\n{links}\n"
        "outputs:\n  method: '{{ nodes.key1.method }}'\n"
    )
    assert result.ok, result.error
    assert eventually(lambda: a11y.read_text(a11y.find(DISPLAY)) == "408", timeout=5)
    assert _ocr_display(flows.folder) == "408"


def test_accessibility_computation_is_also_read_by_ocr(calculator, tmp_path) -> None:
    for key in KEYS:
        run_block(UiClick, {"selector": f"{GALC}button[name={a11y.sel.quote(key)}]"})
    assert a11y.read_text(a11y.find(DISPLAY)) == "408"
    assert _ocr_display(tmp_path) == "408"


def test_a_stale_image_heals_from_the_accessibility_anchor_and_is_refreshed(
    calculator, tmp_path
) -> None:
    import cv2
    import numpy as np

    stale = np.full((28, 53, 3), 250, np.uint8)
    cv2.putText(stale, "7?", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 90, 0), 2)
    cv2.imwrite(str(tmp_path / "seven.png"), stale)
    target = {
        "anchors": [{"image": "seven.png"}, {"accessibility": GALC + "button[name=7]"}],
        "refresh_template": True,
    }
    out = run_block(ImageClick, {"target": target}, workflow_dir=tmp_path).last
    assert out["anchor"] == "accessibility:" + GALC + "button[name=7]"
    assert out["method"] == "accessibility" and out["healed"] is True
    assert out["refreshed"] == str(tmp_path / "seven.refreshed.png")
    assert eventually(lambda: a11y.read_text(a11y.find(DISPLAY)) == "7", timeout=5)
    # the refreshed template now finds the key by itself, before the accessibility anchor
    again = run_block(ImageFind, {"target": target}, workflow_dir=tmp_path).last
    assert again["found"] and again["anchor"] == "image:seven.refreshed.png"
    seven = _key("7").box
    assert seven is not None
    assert seven.x <= again["x"] < seven.x + seven.width
    assert seven.y <= again["y"] < seven.y + seven.height


def test_text_anchor_finds_a_key_by_its_label(calculator, tmp_path) -> None:
    run_block(UiClick, {"selector": GALC + "button[name=9]"})
    clear = run_block(
        ImageClick, {"target": {"anchors": [{"text": "AC"}]}}, workflow_dir=tmp_path
    ).last
    assert clear["method"] == "ocr" and clear["score"] >= 0.8
    ac = _key("AC").box
    assert ac is not None and ac.x <= clear["x"] < ac.x + ac.width
    assert eventually(lambda: a11y.read_text(a11y.find(DISPLAY)) == "0", timeout=5)


def test_boxes_are_screen_pixels_at_200_percent(a11y_session: A11ySession, calculator) -> None:
    """GTK reports logical positions at GDK_SCALE=2; boxes and element_at use screen pixels.

    The scaled galculator opens over the module's one (both at 0, 0): element_at must take
    the window on top, and pid= tells the two apart.
    """
    big = a11y_session.launch(["galculator"], "galculator at 200%", GDK_SCALE="2")
    try:
        with pytest.raises(a11y.ElementAmbiguous):
            a11y.find(GALC + "button[name=7]")
        seven = a11y.find(f"pid={big.pid} / ... / button[name=7]")
        normal = a11y.find(f"pid={calculator.pid} / ... / button[name=7]")
        assert seven.box is not None and normal.box is not None
        assert seven.box.as_list() == [2 * v for v in normal.box.as_list()]
        assert a11y.click(seven, method="mouse") == "mouse"
        display = f"pid={big.pid} / ... / text"
        assert eventually(lambda: a11y.read_text(a11y.find(display)) == "7", timeout=5)
        here = a11y.element_at(*seven.box.center)
        assert here is not None and here.pid == big.pid and here.name == "7"
    finally:
        a11y_session.stop(big)
