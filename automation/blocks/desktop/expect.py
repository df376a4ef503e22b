"""Postconditions: what must be true after a desktop action (``expect:``).

Every desktop action block (mouse, keyboard, image.click, window and app
actions) takes an optional ``expect``.  After the action, every condition it
names must hold at the same moment, within ``timeout`` seconds::

    - click_save:
        block: image.click
        with:
          template: images/save.png
          expect:
            timeout: 5
            window: {title: "Save As", state: appears}
            file: {path: out/report.txt, contains: "Total"}

Conditions: ``target`` (an image or multi-anchor target appears or vanishes),
``window`` (by title and/or ``WM_CLASS`` regex: appears, disappears, or is the
active window), ``pixel`` (a colour at a point, with a tolerance), ``text``
(text on screen, read by OCR in a region) and ``file`` (exists, is missing,
contains a string).

A postcondition that does not hold fails the step with evidence: a
screenshot with what was expected drawn in blue and what was seen in red, and
both written out in the error.  On resume after a crash, the same check
decides whether the step that was in flight already took effect (then it is
not run again) or must be repeated: see ``check_expect`` and
``DesktopBlock.check_resumed``.

One design, one function: ``check_expect(ctx, expect, deadline)`` polls every
condition until all hold or the deadline passes and returns what it saw; the
step path (``verify``) turns a miss into an error, the resume path records it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from automation.blocks.base import BlockInput, resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import EXPECT_TIMEOUT, Evidence
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.targets import Target
from automation.errors import BlockError

if TYPE_CHECKING:
    from automation.blocks.desktop.windows import WindowInfo

_HEX = re.compile(r"^#?[0-9a-fA-F]{6}$")
#: A file larger than this is searched in its first this-many bytes only.
_FILE_READ_LIMIT = 16 * 1024 * 1024
_OCR_TIMEOUT = 10.0


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return value


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class TargetCondition(_Condition):
    """An image (or a multi-anchor target) that must appear on screen, or vanish."""

    template: str | None = Field(default=None, description="PNG, relative to the workflow")
    target: Target | None = Field(default=None, description="several anchors (instead of template)")
    region: list[int] | None = Field(
        default=None, min_length=4, max_length=4, description="look only here: [x, y, w, h]"
    )
    confidence: float = Field(default=0.85, gt=0, le=1, description="how close a match must be")
    state: Literal["appears", "vanishes"] = Field(
        default="appears", description="appears or vanishes"
    )

    @model_validator(mode="after")
    def _one_source(self) -> TargetCondition:
        if (self.template is None) == (self.target is None):
            raise ValueError("give template or target (one of them)")
        return self

    def describe(self) -> str:
        what = f"image {self.template}" if self.template else "target"
        return f"{what} {self.state}"


class WindowCondition(_Condition):
    """A window, by title and/or class, that must appear, disappear or be the active one."""

    title: str | None = Field(default=None, description="regex on the window title")
    wm_class: str | None = Field(
        default=None, description="regex on the window's WM_CLASS (instance or class name)"
    )
    state: Literal["appears", "disappears", "active"] = Field(
        default="appears", description="appears, disappears, or is the active (focused) window"
    )

    _regex = field_validator("title", "wm_class")(_check_regex)

    @model_validator(mode="after")
    def _something(self) -> WindowCondition:
        if self.title is None and self.wm_class is None:
            raise ValueError("give title or wm_class (or both)")
        return self

    def describe(self) -> str:
        parts = []
        if self.title is not None:
            parts.append(f"title ~ {self.title!r}")
        if self.wm_class is not None:
            parts.append(f"class ~ {self.wm_class!r}")
        verb = "is active" if self.state == "active" else self.state
        return f"window ({', '.join(parts)}) {verb}"


class PixelCondition(_Condition):
    """The colour at one point, within a tolerance."""

    x: int = Field(description="x in virtual-desktop pixels")
    y: int = Field(description="y in virtual-desktop pixels")
    colour: str | list[int] = Field(description="'#rrggbb' or [r, g, b]")
    tolerance: int = Field(default=10, ge=0, le=255, description="largest per-channel difference")
    state: Literal["appears", "vanishes"] = Field(
        default="appears", description="the colour is there (appears) or no longer (vanishes)"
    )

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str | list[int]) -> str | list[int]:
        if isinstance(value, str):
            if not _HEX.match(value.strip()):
                raise ValueError(f"colour {value!r} is not '#rrggbb' or [r, g, b]")
        elif len(value) != 3 or not all(0 <= c <= 255 for c in value):
            raise ValueError(f"colour {value} is not [r, g, b] in 0..255")
        return value

    def rgb(self) -> tuple[int, int, int]:
        if isinstance(self.colour, str):
            digits = self.colour.strip().lstrip("#")
            return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
        r, g, b = self.colour
        return int(r), int(g), int(b)

    def describe(self) -> str:
        r, g, b = self.rgb()
        verb = "is" if self.state == "appears" else "is not"
        return f"pixel ({self.x}, {self.y}) {verb} #{r:02x}{g:02x}{b:02x} ±{self.tolerance}"


class TextCondition(_Condition):
    """Text on screen: a UI element's text through accessibility, or OCR (tesseract) of a region."""

    text: str = Field(min_length=1, description="the text to look for")
    selector: str | None = Field(
        default=None,
        description=(
            "read this UI element's text through accessibility (AT-SPI) instead of OCR, "
            "e.g. 'app=galculator / ... / text'"
        ),
    )
    region: list[int] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="OCR only here: [x, y, w, h] (OCR of a region is faster and surer)",
    )
    match: Literal["contains", "equals", "regex"] = Field(
        default="contains", description="how the text read is compared (spaces are normalised)"
    )
    state: Literal["appears", "vanishes"] = Field(
        default="appears", description="appears or vanishes"
    )

    @model_validator(mode="after")
    def _regex_ok(self) -> TextCondition:
        if self.match == "regex":
            _check_regex(self.text)
        if self.selector is not None:
            if self.region is not None:
                raise ValueError("give selector (accessibility) or region (OCR), not both")
            from automation.blocks.desktop.selector import SelectorError, parse

            try:
                parse(self.selector)
            except SelectorError as exc:
                raise ValueError(f"bad selector {self.selector!r}: {exc}") from None
        return self

    def describe(self) -> str:
        where = f" in {self.region}" if self.region else ""
        if self.selector is not None:
            where = f" in element {self.selector!r}"
        return f"text {self.match} {self.text!r}{where} {self.state}"


class FileCondition(_Condition):
    """A file that must exist (optionally containing a string), or be missing."""

    path: str = Field(min_length=1, description="the file, relative to the workflow")
    state: Literal["exists", "missing"] = Field(default="exists", description="exists or missing")
    contains: str | None = Field(
        default=None, description="with exists: text the file must contain"
    )

    @model_validator(mode="after")
    def _contains_needs_exists(self) -> FileCondition:
        if self.contains is not None and self.state == "missing":
            raise ValueError("contains needs state: exists")
        return self

    def describe(self) -> str:
        extra = f" containing {self.contains!r}" if self.contains is not None else ""
        return f"file {self.path} {self.state}{extra}"


class Expect(BaseModel):
    """What must be true after the action; every condition given must hold at once."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    target: TargetCondition | None = Field(default=None, description="an image or target on screen")
    window: WindowCondition | None = Field(default=None, description="a window by title or class")
    pixel: PixelCondition | None = Field(default=None, description="a colour at a point")
    text: TextCondition | None = Field(default=None, description="text on screen (OCR)")
    file: FileCondition | None = Field(default=None, description="a file on disk")
    timeout: float = Field(
        default=EXPECT_TIMEOUT,
        gt=0,
        le=600,
        description="seconds after the action for all of it to hold",
    )
    interval: float = Field(default=0.2, gt=0, le=10, description="seconds between looks")

    @model_validator(mode="after")
    def _at_least_one(self) -> Expect:
        if not self.conditions():
            raise ValueError("name at least one of target, window, pixel, text or file")
        return self

    def conditions(self) -> list[Condition]:
        found: list[Condition] = []
        for item in (self.target, self.window, self.pixel, self.text, self.file):
            if item is not None:
                found.append(item)
        return found

    def describe(self) -> str:
        return "; ".join(c.describe() for c in self.conditions())


Condition = TargetCondition | WindowCondition | PixelCondition | TextCondition | FileCondition


def _expect_last(schema: dict[str, Any]) -> None:
    # A base class's fields come first; the postcondition is about what follows the
    # action, so the JSON Schema (and the editor's forms built from it) show it last.
    properties = schema.get("properties")
    if isinstance(properties, dict) and "expect" in properties:
        properties["expect"] = properties.pop("expect")


class ActionInput(BlockInput):
    """Base of the inputs of desktop actions: adds the optional postcondition."""

    model_config = ConfigDict(json_schema_extra=_expect_last)

    expect: Expect | None = Field(
        default=None,
        description=(
            "what must be true after the action (a target, window, pixel, text or file), "
            "checked until its timeout; also decides on resume whether the step took effect"
        ),
    )


# -- checking ------------------------------------------------------------------------------


@dataclass
class Look:
    """One look at one condition: whether it held, what was seen, and where."""

    held: bool
    seen: str
    expected_box: Box | None = None
    seen_box: Box | None = None


@dataclass
class ExpectResult:
    """The outcome of ``check_expect``: the last look at every condition."""

    held: bool
    expected: str
    looks: list[Look] = field(default_factory=list)
    waited: float = 0.0

    @property
    def seen(self) -> str:
        return "; ".join(look.seen for look in self.looks)

    def failed(self) -> list[Look]:
        return [look for look in self.looks if not look.held]


class ExpectationFailed(BlockError):
    """The action's postcondition did not hold within its timeout."""


def check_expect(ctx: BlockContext, expect: Expect, deadline: float | None = None) -> ExpectResult:
    """Look at every condition until all hold at once or time runs out.

    ``deadline`` is a ``ctx.clock.monotonic()`` value; the wait ends at the
    earlier of it, ``expect.timeout`` from now and the step's own deadline.
    """
    started = ctx.clock.monotonic()
    end = started + expect.timeout
    if deadline is not None:
        end = min(end, deadline)
    probes = [_probe(condition) for condition in expect.conditions()]
    result = ExpectResult(held=False, expected=expect.describe())

    def look() -> bool:
        result.looks = [probe(ctx) for probe in probes]
        result.held = all(item.held for item in result.looks)
        return result.held

    ctx.wait_until(look, timeout=max(0.0, end - started), interval=expect.interval)
    result.waited = ctx.clock.monotonic() - started
    return result


def verify(ctx: BlockContext, expect: Expect, evidence: Evidence) -> ExpectResult:
    """Check the postcondition after an action; a miss raises with evidence filled in."""
    result = check_expect(ctx, expect, ctx.deadline)
    if result.held:
        ctx.log(
            f"postcondition held after {result.waited:.2f}s: {result.expected}",
            "debug",
            postcondition="held",
        )
        _remember_window(ctx, expect)
        return result
    failed = result.failed()
    first = failed[0] if failed else None
    evidence.region = first.expected_box if first else None
    evidence.candidate = first.seen_box if first else None
    evidence.score = None
    evidence.region_label, evidence.candidate_label = "expected", "seen"
    seen = "; ".join(look.seen for look in failed)
    evidence.label = f"expected {result.expected}; saw {seen}"
    raise ExpectationFailed(
        f"postcondition did not hold within {expect.timeout:g}s: "
        f"expected {result.expected}; saw {seen}"
    )


def _remember_window(ctx: BlockContext, expect: Expect) -> None:
    """A window the action was expected to open (or activate) is where keys go next.

    ``hotkey ctrl+shift+s`` with ``expect: {window: {title: Save As}}`` is
    followed by typing the file name into that dialog: without this, the focus
    check of the typing step would refuse the dialog as a window that took the
    focus by itself.
    """
    condition = expect.window
    if condition is None or condition.state == "disappears":
        return
    from automation.blocks.desktop.focus import remember_window
    from automation.blocks.desktop.windows import connect

    with connect() as conn:
        found = matching_windows(condition, conn)
        if condition.state == "active":
            active = active_window(conn)
            found = [w for w in found if w.id == active]
        if len(found) == 1:
            remember_window(ctx, found[0].id, conn)


def _probe(condition: Condition) -> Callable[[BlockContext], Look]:
    if isinstance(condition, TargetCondition):
        return lambda ctx: _look_target(ctx, condition)
    if isinstance(condition, WindowCondition):
        return lambda ctx: _look_window(condition)
    if isinstance(condition, PixelCondition):
        return lambda ctx: _look_pixel(condition)
    if isinstance(condition, TextCondition):
        return lambda ctx: _look_text(ctx, condition)
    return lambda ctx: _look_file(ctx, condition)


def _look_target(ctx: BlockContext, condition: TargetCondition) -> Look:
    # imported here: image.py imports this module for ActionInput
    from automation.blocks.desktop.image import FindInput, search_once

    inputs = FindInput(
        template=condition.template,
        target=condition.target,
        region=condition.region,
        confidence=condition.confidence,
    )
    evidence = Evidence()
    found = search_once(ctx, "expect", inputs, evidence)
    region = Box.of(condition.region) if condition.region else None
    if found is not None:
        seen = f"{condition.describe().rsplit(' ', 1)[0]} on screen at {found.box.as_list()} (score {found.score:.3f})"
        return Look(condition.state == "appears", seen, region, found.box)
    best = f", best candidate {evidence.score:.3f}" if evidence.score is not None else ""
    seen = f"{condition.describe().rsplit(' ', 1)[0]} not on screen{best}"
    return Look(condition.state == "vanishes", seen, region, evidence.candidate)


def matching_windows(condition: WindowCondition, conn: Any | None = None) -> list[WindowInfo]:
    """The visible windows the condition's title and class patterns name."""
    from automation.blocks.desktop.windows import list_windows, reuse

    with reuse(conn) as c:
        return [
            info
            for info in list_windows(condition.title, include_hidden=False, conn=c)
            if condition.wm_class is None or _class_matches(c, info.id, condition.wm_class)
        ]


def _look_window(condition: WindowCondition) -> Look:
    from automation.blocks.desktop.windows import connect, list_windows

    with connect() as conn:  # one connection a look: a poll opens no more
        matching = matching_windows(condition, conn)
        box = matching[0].box if matching else None
        if condition.state == "active":
            active = active_window(conn)
            hit = next((w for w in matching if w.id == active), None)
            if hit is not None:
                return Look(True, f"window {hit.title!r} is active", box, hit.box)
            titles = {w.id: w.title for w in list_windows(include_hidden=False, conn=conn)}
            now = titles.get(active or -1, "none" if active is None else f"0x{active:x}")
            return Look(
                False, f"{len(matching)} matching window(s); the active window is {now!r}", box
            )
    titles_seen = [w.title for w in matching][:5]
    if matching:
        return Look(
            condition.state == "appears",
            f"{len(matching)} matching window(s): {titles_seen}",
            box,
            box,
        )
    return Look(condition.state == "disappears", "no matching window", None)


def _class_matches(conn: Any, window_id: int, pattern: str) -> bool:
    regex = re.compile(pattern)
    try:
        names = conn.create_resource_object("window", window_id).get_wm_class() or ()
    except Exception:  # the window went away while we looked
        return False
    return any(regex.search(str(name)) for name in names)


def active_window(conn: Any | None = None) -> int | None:
    """The top-level window with the keyboard focus (EWMH's active window when a WM runs)."""
    from automation.blocks.desktop.windows import reuse

    with reuse(conn) as conn:
        root = conn.screen().root
        prop = root.get_full_property(conn.intern_atom("_NET_ACTIVE_WINDOW"), 0)
        if prop is not None and len(prop.value) and int(prop.value[0]):
            return int(prop.value[0])
        focus = conn.get_input_focus().focus
        if isinstance(focus, int) or focus is None:
            return None  # PointerRoot or None
        # without a window manager the focus may sit on a child: climb to the top level
        window: Any = focus
        for _ in range(64):
            try:
                tree = window.query_tree()
            except Exception:
                return None
            if tree.parent is None or int(tree.parent.id) == int(root.id):
                return int(window.id)
            window = tree.parent
        return None


def _look_pixel(condition: PixelCondition) -> Look:
    from automation.blocks.desktop.screen import pixel

    want = condition.rgb()
    rgb = pixel(condition.x, condition.y)
    close = all(abs(a - b) <= condition.tolerance for a, b in zip(rgb, want, strict=True))
    spot = Box(condition.x - 4, condition.y - 4, 9, 9)
    r, g, b = rgb
    seen = f"pixel ({condition.x}, {condition.y}) is #{r:02x}{g:02x}{b:02x}"
    return Look(close == (condition.state == "appears"), seen, spot, spot)


def _look_text(ctx: BlockContext, condition: TextCondition) -> Look:
    if condition.selector is not None:
        return _look_element_text(condition, condition.selector)
    region = Box.of(condition.region) if condition.region else None
    read = read_text(ctx, region)
    found = text_matches(read, condition.text, condition.match)
    shown = " ".join(read.split())
    seen = f"text read {shown[:120]!r}" if shown else "no text read"
    return Look(found == (condition.state == "appears"), seen, region, region)


def _look_element_text(condition: TextCondition, selector: str) -> Look:
    """The element's text through AT-SPI; no element is "no text", several are an error."""
    from automation.blocks.desktop import accessibility as a11y

    try:
        element = a11y.find(selector)
    except a11y.ElementNotFound:
        return Look(condition.state == "vanishes", f"no element matches {selector!r}")
    read = a11y.read_text(element)
    found = text_matches(read, condition.text, condition.match)
    seen = f"{element.describe()} has text {' '.join(read.split())[:120]!r}"
    return Look(found == (condition.state == "appears"), seen, element.box, element.box)


def text_matches(read: str, wanted: str, how: str) -> bool:
    """Compare OCR output with what was expected, with whitespace normalised."""
    flat = " ".join(read.split())
    if how == "regex":
        return re.search(wanted, flat) is not None
    want = " ".join(wanted.split())
    return flat == want if how == "equals" else want in flat


def read_text(ctx: BlockContext, region: Box | None) -> str:
    """OCR of a screen region (the whole screen when None), read window by window, one line
    per line on screen: the same reading as ``screen.read_text`` (``ocr.py``)."""
    from automation.blocks.desktop import ocr

    words, _ = ocr.read_region(region, timeout=ctx.remaining(_OCR_TIMEOUT) or _OCR_TIMEOUT)
    return ocr.text_of(words)


def _look_file(ctx: BlockContext, condition: FileCondition) -> Look:
    path = resolve_path(ctx, condition.path)
    if not path.exists():
        return Look(condition.state == "missing", f"{path} does not exist")
    if condition.state == "missing":
        return Look(False, f"{path} exists")
    if condition.contains is None:
        return Look(True, f"{path} exists")
    try:
        with path.open("rb") as handle:
            data = handle.read(_FILE_READ_LIMIT).decode("utf-8", errors="replace")
    except OSError as exc:
        return Look(False, f"{path} cannot be read: {exc.strerror or exc}")
    if condition.contains in data:
        return Look(True, f"{path} contains {condition.contains!r}")
    tail = data[-80:].replace("\n", "\\n")
    return Look(False, f"{path} ({len(data)} chars) does not contain it; it ends {tail!r}")
