"""Postconditions on a real calculator (Debian's galculator): read back through AT-SPI and OCR.

Each key press states what the display must show after it.  The display is
read through the accessibility bus (``text: {selector: ...}``) and, for the
result, also by OCR of the display's box on screen.  A press that does not
produce what it promised fails the step, with what was seen.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from automation.blocks.desktop import accessibility as a11y
from automation.engine.events import NodeFailed
from tests.helpers.a11y import A11ySession
from tests.helpers.common import eventually
from tests.integration.desktop.conftest import Flows

GALC = "app=galculator / ... / "
DISPLAY = GALC + "text"


@pytest.fixture(scope="module")
def galculator(a11y_session: A11ySession) -> Iterator[subprocess.Popen[bytes]]:
    process = a11y_session.launch(["galculator"], "galculator")
    yield process
    a11y_session.stop(process)


@pytest.fixture
def calculator(galculator: subprocess.Popen[bytes]) -> list[int]:
    """galculator showing 0; returns the display's box on screen."""
    a11y.click(a11y.find(GALC + "button[name=AC]"))
    eventually(lambda: a11y.read_text(a11y.find(DISPLAY)) == "0", timeout=5)
    box = a11y.find(DISPLAY).box
    assert box is not None
    return box.as_list()


def _flow(keys: list[tuple[str, str]], timeout: float = 5) -> str:
    """One ui.click per key, each expecting what the display shows after it."""
    nodes = [
        f"  key{number}:\n    block: ui.click\n    with:\n"
        f"      selector: 'app=galculator / ... / button[name=\"{key}\"]'\n"
        f"      expect:\n"
        f"        text: {{selector: '{DISPLAY}', text: '{shows}', match: equals}}\n"
        f"        timeout: {timeout}\n"
        for number, (key, shows) in enumerate(keys)
    ]
    links = [f"  - key{n} -> key{n + 1}\n" for n in range(len(keys) - 1)]
    return (
        "deskpilot: 1\nname: calc-expect\nnodes:\n"
        + "".join(nodes)
        + ("links:\n" + "".join(links) if links else "")
    )


def test_every_key_press_is_checked_on_the_display(calculator: list[int], flows: Flows) -> None:
    steps = [("1", "1"), ("2", "12"), ("*", "12"), ("3", "3"), ("4", "34"), ("=", "408")]
    result = flows.run(_flow(steps))
    assert result.ok, result.error
    assert [e for e in flows.events if isinstance(e, NodeFailed)] == []
    # the same result read off the screen: OCR of the display's box, after a pointer move
    x, y, w, h = calculator
    ocr = flows.run(
        "deskpilot: 1\nname: calc-ocr\nnodes:\n  away:\n    block: mouse.move\n    with:\n"
        f"      x: {x + w // 2}\n      y: {y + h + 60}\n      expect:\n"
        f"        text: {{text: '408', region: [{x}, {y}, {w}, {h}]}}\n",
        name="ocr.yaml",
    )
    assert ocr.ok, ocr.error


def test_a_press_that_does_not_show_what_it_promised_fails(
    calculator: list[int], flows: Flows
) -> None:
    result = flows.run(_flow([("5", "6")], timeout=1))
    assert not result.ok
    failed = [e for e in flows.events if isinstance(e, NodeFailed)]
    assert len(failed) == 1
    message = failed[0].message
    assert "postcondition did not hold within 1s" in message
    assert "expected text equals '6'" in message
    assert "has text '5'" in message
