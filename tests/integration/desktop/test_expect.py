"""Postconditions (``expect:``) on a real terminal (Debian's xterm) on Xvfb.

Each desktop action states what must be true after it: the terminal's
window (by WM_CLASS) appears and is active and its shell shows its prompt
(OCR), a pixel has the terminal's background colour, the file the typed
command writes holds its text and the text shows in the terminal (OCR,
tesseract).  A postcondition that never
holds fails the step with a screenshot that shows what was expected and
what was seen.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from automation.engine.events import ArtifactSaved, NodeFailed
from tests.integration.desktop.conftest import Flows

pytestmark = pytest.mark.skipif(
    shutil.which("xterm") is None, reason="xterm is not installed (apt-get install xterm)"
)

FLOW = """\
deskpilot: 1
name: expect-xterm
inputs:
  title: {type: string}
  out: {type: string}
  word: {type: string}
nodes:
  terminal:
    block: app.launch
    with:
      command: [xterm, -T, "{{ inputs.title }}", -fa, DejaVu Sans Mono, -fs, "14",
                -bg, "#203040", -fg, white, -geometry, 60x8+100+100,
                -e, bash, --norc, --noprofile]
      env: {PS1: "ready> "}
      window: "^{{ inputs.title }}$"
      expect:
        window: {title: "^{{ inputs.title }}$", wm_class: "^XTerm$"}
  focus:
    block: window.focus
    with:
      title: "^{{ inputs.title }}$"
      expect:
        timeout: 15
        window: {title: "^{{ inputs.title }}$", state: active}
        text: {text: "ready>", region: "{{ nodes.terminal.box }}"}   # the shell is up
        pixel: {x: "{{ nodes.terminal.box[0] + nodes.terminal.box[2] - 6 }}",
                y: "{{ nodes.terminal.box[1] + nodes.terminal.box[3] - 6 }}",
                colour: "#203040", tolerance: 8}
  point:
    block: mouse.move
    with:
      x: "{{ nodes.terminal.box[0] + nodes.terminal.box[2] // 2 }}"
      y: "{{ nodes.terminal.box[1] + nodes.terminal.box[3] // 2 }}"
  command:
    block: keyboard.type
    with:
      text: "echo {{ inputs.word }} | tee '{{ inputs.out }}'\\n"
      expect:
        file: {path: "{{ inputs.out }}", contains: "{{ inputs.word }}"}
        text: {text: "{{ inputs.word }}", region: "{{ nodes.terminal.box }}"}
        timeout: 10
  close:
    block: window.close
    with:
      title: "^{{ inputs.title }}$"
      expect:
        window: {title: "^{{ inputs.title }}$", state: disappears}
links:
  - terminal -> focus
  - focus -> point
  - point -> command
  - command -> close
"""


def test_postconditions_of_every_kind_hold_on_a_real_terminal(
    xvfb_display, flows: Flows, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    word = "POSTCONDITION"
    title = f"expect-{uuid.uuid4().hex[:8]}"
    result = flows.run(FLOW, {"title": title, "out": str(out), "word": word})
    assert result.ok, result.error
    assert out.read_text() == f"{word}\n"
    assert [e for e in flows.events if isinstance(e, NodeFailed)] == []


FAILING = """\
deskpilot: 1
name: expect-fails
inputs:
  title: {type: string}
nodes:
  terminal:
    block: app.launch
    with:
      command: [xterm, -T, "{{ inputs.title }}", -geometry, 40x5+50+50]
      window: "^{{ inputs.title }}$"
  press:
    block: keyboard.press
    with:
      key: shift
      window: any  # no window manager gives the terminal the focus: shift goes nowhere
      expect:
        window: {title: "^Save As$"}
        timeout: 1
  close:
    block: window.close
    with: {title: "^{{ inputs.title }}$"}
links:
  - terminal -> press
  - press.error -> close
"""


def test_a_postcondition_that_does_not_hold_fails_the_step_with_evidence(
    xvfb_display, flows: Flows
) -> None:
    title = f"expect-{uuid.uuid4().hex[:8]}"
    result = flows.run(FAILING, {"title": title})
    failed = [e for e in flows.events if isinstance(e, NodeFailed)]
    assert [e.node_id for e in failed] == ["press"]
    message = failed[0].message
    assert "postcondition did not hold within 1s" in message
    assert "expected window (title ~ '^Save As$') appears; saw no matching window" in message
    shots = [e for e in flows.events if isinstance(e, ArtifactSaved) and e.node_id == "press"]
    assert len(shots) == 1 and Path(shots[0].path).stat().st_size > 0
    assert "screenshot:" in message
    assert result.ok  # the error pin caught it and closed the terminal
