"""UI element blocks: find, click, read and set text, wait for a state, through AT-SPI.

Each block names its element with a selector path (see ``selector.py``)::

    - block: ui.click
      with: {selector: "app=galculator / ... / button[name=7]"}

and fails loudly: nothing matching is an error listing the closest elements,
several matching is an "ambiguous" error listing them all (narrow the selector
or give ``index``).  A selector that matches nothing yet is retried until
``timeout``, so a block can follow the launch of its app directly.

The API behind them is ``accessibility.py``; these blocks only add inputs,
outputs, waiting and evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop import accessibility as a11y
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.desktop.expect import ActionInput
from automation.blocks.desktop.focus import AimedInput, aim
from automation.errors import BlockInputError

#: Seconds ui.click watches for its press to change something (``verify_timeout``).
PRESS_EFFECT_WAIT = 1.0


class ElementInput(BlockInput):
    selector: str = Field(
        description="path to the element, e.g. 'app=galculator / ... / button[name=7]'"
    )
    index: int | None = Field(
        default=None,
        ge=0,
        description="when several elements match, take this one (0 = first in tree order)",
    )
    hidden: bool = Field(
        default=False, description="also search elements that are not showing on screen"
    )
    timeout: float = Field(
        default=5.0, ge=0, description="seconds to wait for the element to appear; 0 looks once"
    )
    interval: float = Field(default=0.1, gt=0, le=10, description="seconds between looks")


class ElementOutput(BlockOutput):
    role: str | None = Field(description="the element's role, e.g. 'push button'")
    name: str | None = Field(description="the element's accessible name")
    app: str | None = Field(description="the application it belongs to")
    pid: int | None = Field(description="that application's process id")
    box: list[int] | None = Field(description="[x, y, width, height] on screen")
    x: int | None = Field(description="centre x on screen")
    y: int | None = Field(description="centre y on screen")
    states: list[str] = Field(description="states such as showing, enabled, focused, checked")
    path: str | None = Field(description="a full selector path to this element")


def element_fields(element: a11y.Element | None) -> dict[str, object]:
    if element is None:
        return {
            "role": None,
            "name": None,
            "app": None,
            "pid": None,
            "box": None,
            "x": None,
            "y": None,
            "states": [],
            "path": None,
        }
    center = element.center
    return {
        "role": element.role,
        "name": element.name,
        "app": element.app,
        "pid": element.pid,
        "box": element.box.as_list() if element.box is not None else None,
        "x": center[0] if center else None,
        "y": center[1] if center else None,
        "states": sorted(element.states),
        "path": element.path,
    }


def locate(ctx: BlockContext, inputs: ElementInput, evidence: Evidence) -> a11y.Element:
    """The one element ``inputs`` name, waiting up to its timeout for it to appear."""
    a11y.parse(inputs.selector)  # a bad selector fails now, not after the timeout
    state: dict[str, object] = {}

    def look() -> bool:
        try:
            state["found"] = a11y.find(
                inputs.selector, index=inputs.index, showing_only=not inputs.hidden
            )
            return True
        except a11y.ElementNotFound as exc:
            state["error"] = exc
            return False

    timeout = ctx.remaining(inputs.timeout) if inputs.timeout > 0 else 0.0
    try:
        found = look() or (
            timeout is not None
            and timeout > 0
            and ctx.wait_until(look, timeout=timeout, interval=inputs.interval)
        )
    except a11y.ElementAmbiguous as exc:  # several match: loud, with every one drawn
        _ambiguous_evidence(evidence, exc)
        raise
    if not found:
        error = state["error"]
        assert isinstance(error, a11y.ElementNotFound)
        if error.closest and error.closest[0].box is not None:
            evidence.candidate = error.closest[0].box
        evidence.label = f"not found: {inputs.selector}"
        waited = f" (waited {inputs.timeout:g}s)" if inputs.timeout else ""
        error.args = (f"{error}{waited}",)
        raise error
    element = state["found"]
    assert isinstance(element, a11y.Element)
    evidence.candidate = element.box
    return element


def _ambiguous_evidence(evidence: Evidence, error: a11y.ElementAmbiguous) -> None:
    boxes = [m.box for m in error.matches if m.box is not None]
    if boxes:
        evidence.candidate = boxes[0]
    evidence.label = f"{len(error.matches)} elements match"


class UiFind(DesktopBlock[ElementInput]):
    """Find one UI element by its accessibility path; fails if none or several match."""

    id = "ui.find"
    title = "Find UI element"
    idempotent = True
    Input = ElementInput
    Output = ElementOutput

    def perform(self, inputs: ElementInput, ctx: BlockContext, evidence: Evidence) -> ElementOutput:
        element = locate(ctx, inputs, evidence)
        return ElementOutput(**element_fields(element))


class ClickInput(ElementInput, AimedInput):
    method: Literal["auto", "action", "mouse"] = Field(
        default="auto",
        description="action: the element's own press action; mouse: a click on its centre; "
        "auto: the action when it has one",
    )
    verify: bool = Field(
        default=False,
        description=(
            "fail unless the press is seen to take effect: its postcondition (expect) when "
            "given, else a change of the element's states or text, of the focus, or of the "
            "app's elements and windows within verify_timeout"
        ),
    )
    verify_timeout: float = Field(
        default=PRESS_EFFECT_WAIT,
        gt=0,
        le=60,
        description="seconds to watch for the press's effect",
    )


class ClickOutput(ElementOutput):
    clicked_by: str = Field(description="how it was clicked: action:<name> or mouse")
    effect: str = Field(
        description="what was seen to change after the press ('none seen' when nothing did; "
        "'postcondition' when expect decides)"
    )


class UiClick(DesktopBlock[ClickInput]):
    """Click a UI element through its press action or at the centre of its box.

    Before pressing, the element must be able to take it: a disabled (insensitive)
    element is waited for up to ``timeout`` to become enabled, and a destroyed one
    (``defunct``) fails; either would swallow the press and report success.

    A click with the mouse is checked like ``mouse.click``: it is refused when the
    window under the point is not the element's (``window:``) or has a modal dialog
    open, since the click would land elsewhere or be dropped.  The press action goes
    to the element itself, not through the pointer, and an app can answer "done" to
    it and do nothing; so after the press the app is watched (``press_effect.py``):
    the output ``effect`` says what changed.  Some presses change nothing that can
    be seen (a calculator's memory key, a button that starts work in the
    background): nothing seen is a warning in the log, and fails the step only
    with ``verify: true``, where the node demands an effect.  With ``expect:`` the
    postcondition decides instead.  A press with no effect seen is never repeated
    with the mouse: when the app did act invisibly, that would press twice.
    """

    id = "ui.click"
    title = "Click UI element"
    Input = ClickInput
    Output = ClickOutput

    def perform(self, inputs: ClickInput, ctx: BlockContext, evidence: Evidence) -> ClickOutput:
        from automation.blocks.desktop import press_effect

        element = locate(ctx, inputs, evidence)
        element = press_effect.ready(ctx, element, inputs.timeout, evidence)

        def check(point: tuple[int, int]) -> None:
            aim(ctx, inputs, evidence, f"a click at {point} on {element.describe()}", point)

        watch = inputs.expect is None
        before = press_effect.snapshot(element) if watch else None
        how = a11y.click(element, method=inputs.method, before_mouse=check)
        ctx.log(f"clicked {element.describe()} by {how}", "info", path=element.path)
        effect = "postcondition"
        if before is not None:
            effect = press_effect.watch(
                ctx, element, before, inputs.verify_timeout, demand=inputs.verify,
                evidence=evidence, how=how,
            )  # fmt: skip
        return ClickOutput(**element_fields(element), clicked_by=how, effect=effect)


class TextOutput(ElementOutput):
    text: str = Field(description="the element's text (its name when it has no text)")
    source: Literal["text", "name"] = Field(description="where the text came from")


class UiGetText(DesktopBlock[ElementInput]):
    """Read the text of a UI element (an entry, a label, a calculator's display)."""

    id = "ui.get_text"
    title = "Read UI text"
    idempotent = True
    Input = ElementInput
    Output = TextOutput

    def perform(self, inputs: ElementInput, ctx: BlockContext, evidence: Evidence) -> TextOutput:
        element = locate(ctx, inputs, evidence)
        source: Literal["text", "name"] = "text" if a11y.has_text(element) else "name"
        return TextOutput(
            **element_fields(element),
            text=a11y.read_text(element),
            source=source,
        )


class SetTextInput(ElementInput, ActionInput):
    text: str = Field(description="the text the element must hold afterwards")


class UiSetText(DesktopBlock[SetTextInput]):
    """Replace the text of an editable UI element, then read it back to be sure."""

    id = "ui.set_text"
    title = "Set UI text"
    idempotent = True
    Input = SetTextInput
    Output = TextOutput

    def perform(self, inputs: SetTextInput, ctx: BlockContext, evidence: Evidence) -> TextOutput:
        element = locate(ctx, inputs, evidence)
        text = a11y.set_text(element, inputs.text)
        return TextOutput(**element_fields(element), text=text, source="text")


class WaitInput(ElementInput):
    state: str = Field(
        default="showing",
        description="the state to wait for: showing, enabled, focused, checked, selected...",
    )
    present: bool = Field(
        default=True,
        description="true: wait until the element has the state; false: until it is gone "
        "or lacks it",
    )
    timeout: float = Field(default=10.0, ge=0, description="seconds before the step fails")


class WaitOutput(ElementOutput):
    present: bool = Field(description="whether the element exists with the state at the end")


class UiWait(DesktopBlock[WaitInput]):
    """Wait until a UI element has a state (or has lost it, or is gone)."""

    id = "ui.wait"
    title = "Wait for UI element"
    idempotent = True
    Input = WaitInput
    Output = WaitOutput

    def perform(self, inputs: WaitInput, ctx: BlockContext, evidence: Evidence) -> WaitOutput:
        if inputs.state not in a11y.STATES:
            raise BlockInputError(
                f"node '{ctx.node_id}' ({self.id}): unknown state {inputs.state!r}; use one of "
                + ", ".join(sorted(a11y.STATES))
            )
        timeout = ctx.remaining(inputs.timeout) if inputs.timeout > 0 else 0.0
        try:
            element = a11y.wait_for(
                inputs.selector,
                state=inputs.state,
                present=inputs.present,
                timeout=timeout or 0.0,
                interval=inputs.interval,
                index=inputs.index,
                sleep=ctx.sleep,
            )
        except a11y.ElementAmbiguous as exc:
            _ambiguous_evidence(evidence, exc)
            raise
        evidence.candidate = element.box if element is not None else None
        present = element is not None and inputs.state in element.states
        return WaitOutput(**element_fields(element), present=present)


BLOCKS = (UiFind, UiClick, UiGetText, UiSetText, UiWait)
