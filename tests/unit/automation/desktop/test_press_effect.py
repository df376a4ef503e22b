"""ui.click's watch after a press (press_effect.py): what counts as an effect, and when
nothing seen fails the step.

The real apps (galculator, SpeedCrunch) always show a change after a press (a toggle's
checked state, a Qt button's pressed state), so the "nothing changed" path and a
destroyed element are driven here with stand-ins for the AT-SPI objects: a real app
cannot be made to ignore a press on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automation.blocks.context import BlockContext
from automation.blocks.desktop import accessibility as a11y
from automation.blocks.desktop import press_effect
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.press_effect import Look

BUTTON = a11y.Element(
    role="push button",
    name="Save",
    app="mousepad",
    pid=42,
    box=Box(10, 20, 80, 30),
    states=frozenset({"enabled", "sensitive", "showing"}),
    path="app=mousepad / push button[name=Save]",
)
BEFORE = Look(
    states=frozenset({"enabled", "sensitive", "showing"}),
    text="",
    value=None,
    app=(("frame", "Mousepad", frozenset({"active"})), ("push button", "Save", frozenset())),
    texts=("draft",),
    windows=("frame:Mousepad",),
)


def _ctx(tmp_path: Path) -> tuple[BlockContext, list[str]]:
    logged: list[str] = []

    class Hooks:
        def log(self, node_id: Any, level: str, message: str, data: Any) -> None:
            logged.append(f"{level}: {message}")

    ctx = BlockContext(run_id="r", node_id="save", workflow_dir=tmp_path)
    ctx.hooks = Hooks()  # type: ignore[assignment]
    return ctx, logged


def test_differences_are_named() -> None:
    def diff(**changes: Any) -> str | None:
        return press_effect.difference(BEFORE, Look(**{**BEFORE.__dict__, **changes}), BUTTON)

    assert diff() is None
    assert diff(states=BEFORE.states | {"pressed"}) == (
        'push button "Save" at [10, 20, 80, 30] in mousepad states +pressed'
    )
    assert diff(windows=("frame:Mousepad", "dialog:Save As")) is not None
    assert diff(texts=("draft!",)) == "a text field of the app changed"
    focus = (
        ("frame", "Mousepad", frozenset({"active"})),
        ("push button", "Save", frozenset({"focused"})),
    )
    assert diff(app=focus) == 'the focus moved to push button "Save"'


def test_nothing_seen_is_a_warning_unless_the_node_demands_an_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(press_effect, "snapshot", lambda element: BEFORE)
    ctx, logged = _ctx(tmp_path)
    seen = press_effect.watch(
        ctx, BUTTON, BEFORE, 0.2, demand=False, evidence=Evidence(), how="action:click"
    )
    assert seen == "none seen"
    assert logged and logged[0].startswith('warning: pressed push button "Save"')
    evidence = Evidence()
    with pytest.raises(press_effect.PressHadNoEffect) as caught:
        press_effect.watch(
            ctx, BUTTON, BEFORE, 0.2, demand=True, evidence=evidence, how="action:click"
        )
    assert "nothing was seen to change within 0.2s" in str(caught.value)
    assert evidence.candidate == BUTTON.box


class _Gone:
    def get_state_set(self) -> Any:
        raise RuntimeError("the application no longer exists")


class _Disabled:
    def get_state_set(self) -> Any:
        class States:
            def get_states(self) -> list[Any]:
                class Showing:
                    value_nick = "showing"

                return [Showing()]

        return States()


def test_a_destroyed_or_disabled_element_is_not_pressed(tmp_path: Path) -> None:
    ctx, _ = _ctx(tmp_path)
    gone = a11y.Element(**{**BUTTON.__dict__, "handle": _Gone()})
    with pytest.raises(press_effect.ElementNotPressable, match=r"is gone \(defunct\)"):
        press_effect.ready(ctx, gone, 0.0, Evidence())
    disabled = a11y.Element(**{**BUTTON.__dict__, "handle": _Disabled()})
    with pytest.raises(press_effect.ElementNotPressable, match="is disabled .*states: showing"):
        press_effect.ready(ctx, disabled, 0.2, Evidence())
