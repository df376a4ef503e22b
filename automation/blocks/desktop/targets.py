"""Self-healing targets: several ways to find one thing on screen, tried in order.

A target lists anchors, best first::

    target:
      anchors:
        - image: images/save.png            # the template captured when the flow was made
        - image: images/save-dark.png       # an alternative (dark theme, new icon)
        - accessibility: "app=myapp / ... / push button[name=Save]"   # AT-SPI, see ui.py
        - text: Save report                 # OCR (fuzzy), when tesseract is installed
        - image: images/name-label.png      # another thing on screen, plus an offset
          offset: [140, 40]
        - position: [812, 440]              # last known position: a last resort, opt-in
      refresh_template: true
      captured_screen: [1920, 1080]

The first anchor that matches wins; the block reports which (``anchor``), its
score, and ``healed: true`` when it was not the first.  An ``accessibility``
anchor finds the element by its selector (score 1.0, method
``accessibility``); one that matches several elements is an error, not a
pick.  A ``text`` anchor reads the screen window by window and matches the
phrase fuzzily (``confidence`` is the similarity it needs, 0.8 by default);
the phrase read in two places about equally well is an error too.  With
``refresh_template`` a confident match by any other anchor saves what is on
screen now as ``<first template>.refreshed.png`` next to the original (which is
kept) and that file is tried right after the original from then on, so a
drifted template heals once instead of on every run.

``captured_screen`` records the desktop size the templates were captured at;
when the current desktop differs the matching tries the ratio between them
first.  Coordinates are virtual-desktop pixels across all monitors.

**Look-alikes are an error, not a pick.**  When an image anchor fits a second,
distinct place within ``margin`` of the best score (two keys of a keypad), the
step fails with ``AmbiguousTarget`` naming every close place and its score, and
the failure screenshot draws them all.  The target says which one it means::

    target:
      anchors: [{image: images/key-blank.png}]
      region: [400, 300, 400, 250]      # only look here
      index: 2                          # the third look-alike in reading order
      # or: nearest_to: [812, 440]      # the one nearest a point
      # or: nearest_to: {anchors: [{image: images/total-label.png}]}
      margin: 0.05                      # how close counts as a look-alike

An anchor with an offset (a unique label next to the button) resolves it too.
When an anchor is ambiguous a later image or text anchor may still find the
target; a ``position`` anchor never stands in for an ambiguous one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automation.blocks.base import resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.desktop import matching, picking
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box
from automation.errors import BlockError, BlockInputError

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Image

REFRESH_SUFFIX = ".refreshed"
#: A healed match must be at least this good before it may replace a template.
REFRESH_CONFIDENCE = 0.9
_template_cache: dict[tuple[str, float], Image] = {}


class Anchor(BaseModel):
    """One way to find the target; give exactly one of image, text or position."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    image: str | None = Field(default=None, description="template PNG, relative to the workflow")
    text: str | None = Field(
        default=None, description="a text label to find by OCR (needs tesseract)"
    )
    accessibility: str | None = Field(
        default=None,
        description="an accessibility selector, e.g. 'app=galculator / ... / button[name=7]'",
    )
    position: list[int] | None = Field(
        default=None, min_length=2, max_length=2, description="a fixed [x, y]: last known position"
    )
    offset: list[int] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[dx, dy] from the centre of what the image or text found",
    )
    confidence: float | None = Field(
        default=None, gt=0, le=1, description="overrides the block's confidence"
    )
    name: str | None = Field(default=None, description="how logs and outputs call this anchor")

    def label(self) -> str:
        if self.name:
            return self.name
        if self.image:
            base = f"image:{self.image}"
        elif self.text:
            base = f"text:{self.text}"
        elif self.accessibility:
            base = f"accessibility:{self.accessibility}"
        else:
            base = f"position:{self.position}"
        return base + (f"+offset{self.offset}" if self.offset else "")


class AmbiguousTarget(BlockError):
    """An anchor fits several distinct places about equally well; nothing was done.

    Not retryable: the screen will look the same next time.  The message names
    every close place and its score and what resolves it.
    """

    retryable = False


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    anchors: list[Anchor] = Field(min_length=1, description="ways to find the target, best first")
    refresh_template: bool = Field(
        default=False,
        description="after a confident match by a later anchor, save a refreshed copy of the first template",
    )
    captured_screen: list[int] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[width, height] of the desktop the templates come from",
    )
    region: list[int] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="look only here: [x, y, width, height] in virtual-desktop pixels",
    )
    index: int | None = Field(
        default=None,
        ge=0,
        description="when several places match: the n-th in reading order (0 = top-left-most)",
    )
    count: int | None = Field(
        default=None,
        ge=1,
        description=(
            "with index: how many places match when the target is right; another number "
            "fails the step, since the n-th would then be another place"
        ),
    )
    nearest_to: list[int] | Target | None = Field(
        default=None,
        description="when several places match: the one nearest [x, y] or another target",
    )
    margin: float = Field(
        default=matching.DEFAULT_MARGIN,
        ge=0,
        le=1,
        description=(
            "a second place scoring within this much of the best makes the target "
            "ambiguous (an error), unless index or nearest_to chooses"
        ),
    )

    @model_validator(mode="after")
    def _one_chooser(self) -> Target:
        if self.index is not None and self.nearest_to is not None:
            raise ValueError("give index or nearest_to, not both")
        if self.count is not None and (self.index is None or self.index >= self.count):
            raise ValueError(
                f"count {self.count} goes with an index below it (the n-th of count places),"
                f" got index {self.index}"
            )
        if isinstance(self.nearest_to, list) and len(self.nearest_to) != 2:
            raise ValueError(f"nearest_to takes [x, y] or a target, got {self.nearest_to}")
        if self.region is not None and (self.region[2] <= 0 or self.region[3] <= 0):
            raise ValueError(f"region {self.region} has no area")
        return self


@dataclass
class Located:
    box: Box  # absolute
    score: float
    scale: float
    method: str
    anchor: str
    index: int
    matches: list[dict[str, Any]] = field(default_factory=list)
    refreshed: str | None = None
    #: The score of the best other distinct place (None when there was none).
    runner_up: float | None = None

    @property
    def healed(self) -> bool:
        return self.index > 0


@dataclass(frozen=True)
class SearchOptions:
    confidence: float
    grayscale: bool
    scales: tuple[float, ...]
    edges: bool
    find_all: bool


def simple_target(image: str) -> Target:
    return Target(anchors=[Anchor(image=image)])


def check_target(ctx: BlockContext, block_id: str, target: Target) -> None:
    for anchor in target.anchors:
        kinds = sum(
            x is not None
            for x in (anchor.image, anchor.text, anchor.position, anchor.accessibility)
        )
        if kinds != 1:
            raise BlockInputError(
                f"node '{ctx.node_id}' ({block_id}): each anchor needs exactly one of image, "
                f"text, accessibility or position; got {anchor.model_dump(exclude_none=True)}"
            )
    if isinstance(target.nearest_to, Target):
        check_target(ctx, block_id, target.nearest_to)


def load_template(ctx: BlockContext, path_text: str) -> Image:
    path = resolve_path(ctx, path_text)
    try:
        stamp = path.stat().st_mtime
    except OSError:
        raise BlockError(f"template image {path} does not exist", retryable=False) from None
    key = (str(path), stamp)
    image = _template_cache.get(key)
    if image is None:
        import cv2  # here, not at the top: loading the block registry must stay light

        loaded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if loaded is None:
            raise BlockError(f"template {path} is not an image OpenCV can read", retryable=False)
        image = loaded
        _template_cache[key] = image
    return image


def refreshed_path(path: Path) -> Path:
    return path.with_name(path.stem + REFRESH_SUFFIX + path.suffix)


def _scales(target: Target, base: tuple[float, ...], screen: Box) -> tuple[float, ...]:
    if not target.captured_screen:
        return base
    width = target.captured_screen[0]
    if width <= 0 or width == screen.width:
        return base
    return (round(screen.width / width, 4), *base)


def locate(
    ctx: BlockContext,
    target: Target,
    screen: Image,
    origin: Box,
    options: SearchOptions,
    evidence: Evidence,
) -> Located | None:
    """Try the anchors in order on one screenshot (``origin`` is where it was taken).

    None when no anchor found the target; ``AmbiguousTarget`` when an image
    anchor fits several places and no later anchor found it unambiguously.
    """
    nearest = _nearest_point(ctx, target, screen, origin, options)
    if target.region is not None:
        screen, origin = _crop(screen, origin, Box.of(target.region))
        evidence.region = origin
    scales = _scales(target, options.scales, origin)
    ambiguity: AmbiguousTarget | None = None
    for index, anchor in enumerate(target.anchors):
        if anchor.position is not None and ambiguity is not None:
            continue  # a last-known position must not stand in for an ambiguous match
        confidence = anchor.confidence or options.confidence
        try:
            found = _try_anchor(
                ctx, target, anchor, index, screen, origin, options, scales, confidence,
                evidence, nearest,
            )  # fmt: skip
        except AmbiguousTarget as exc:
            ambiguity = ambiguity or exc
            continue
        if found is not None:
            if found.healed:
                ctx.log(
                    f"target healed: found by anchor {found.index + 1} ({found.anchor}), "
                    f"score {found.score:.3f}"
                    + (f" (an earlier anchor was ambiguous: {ambiguity})" if ambiguity else ""),
                    "warning",
                    anchor=found.anchor,
                    score=round(found.score, 4),
                    healed=True,
                )
                if target.refresh_template and ambiguity is None:
                    found.refreshed = _refresh(ctx, target, screen, origin, found)
            return found
    if ambiguity is not None:
        raise ambiguity
    return None


def _crop(screen: Image, origin: Box, region: Box) -> tuple[Image, Box]:
    """The part of ``screen`` (taken at ``origin``) inside ``region``, and where it is."""
    x0, y0 = max(origin.x, region.x), max(origin.y, region.y)
    x1 = min(origin.x + origin.width, region.x + region.width)
    y1 = min(origin.y + origin.height, region.y + region.height)
    if x1 <= x0 or y1 <= y0:
        raise BlockError(
            f"the target's region {region.as_list()} is outside the searched area "
            f"{origin.as_list()}",
            retryable=False,
        )
    part = screen[y0 - origin.y : y1 - origin.y, x0 - origin.x : x1 - origin.x]
    return part, Box(x0, y0, x1 - x0, y1 - y0)


def _nearest_point(
    ctx: BlockContext, target: Target, screen: Image, origin: Box, options: SearchOptions
) -> tuple[int, int] | None:
    """Where ``nearest_to`` points, in virtual-desktop pixels (its target found first)."""
    near = target.nearest_to
    if near is None:
        return None
    if isinstance(near, list):
        return int(near[0]), int(near[1])
    found = locate(ctx, near, screen, origin, options, Evidence())
    if found is None:
        labels = ", ".join(a.label() for a in near.anchors)
        raise BlockError(f"the nearest_to target ({labels}) was not found on screen")
    return found.box.center


def _choose(
    ctx: BlockContext,
    target: Target,
    result: matching.SearchResult,
    label: str,
    origin: Box,
    evidence: Evidence,
    nearest: tuple[int, int] | None,
    find_all: bool,
) -> matching.Match:
    """The one match the target means, or ``AmbiguousTarget`` with every close place."""
    best = result.matches[0]
    if find_all and target.index is None and nearest is None:
        return best  # the caller asked for every match; listing them is not a guess
    local = (nearest[0] - origin.x, nearest[1] - origin.y) if nearest else None
    try:
        return picking.choose(
            result.candidates,
            margin=target.margin,
            index=target.index,
            count=target.count,
            nearest=local,
        )
    except (picking.CountChanged, picking.IndexOutOfRange) as exc:
        _show(evidence, exc.found, origin)
        places = "; ".join(_place(m, origin) for m in exc.found[:8])
        raise BlockError(
            f"{label}: {exc}. Nothing was clicked or read. In reading order: {places}",
            retryable=True,
        ) from None
    except picking.Ambiguous as exc:
        _show(evidence, exc.close, origin)
        places = " and ".join(_place(m, origin) for m in exc.close[:6])
        more = f" (and {len(exc.close) - 6} more)" if len(exc.close) > 6 else ""
        raise AmbiguousTarget(
            f"ambiguous target {label}: {exc.reason}: {places}{more}. Nothing was clicked "
            "or read. Narrow it with the target's region, an anchor with an offset from "
            f"something unique, index (n-th in reading order, with count: {len(exc.close)}) "
            "or nearest_to; or capture a more distinctive template"
        ) from None


def _place(match: matching.Match, origin: Box) -> str:
    return (
        f"[{match.x + origin.x}, {match.y + origin.y}, {match.width}, {match.height}] "
        f"score {match.score:.3f}"
    )


def _show(evidence: Evidence, matches: list[matching.Match], origin: Box) -> None:
    evidence.candidates = [
        (Box(m.x + origin.x, m.y + origin.y, m.width, m.height), m.score) for m in matches
    ]
    evidence.candidate = None  # every close place is drawn instead


def _try_anchor(
    ctx: BlockContext,
    target: Target,
    anchor: Anchor,
    index: int,
    screen: Image,
    origin: Box,
    options: SearchOptions,
    scales: tuple[float, ...],
    confidence: float,
    evidence: Evidence,
    nearest: tuple[int, int] | None,
) -> Located | None:
    label = anchor.label()
    if anchor.position is not None:
        x, y = anchor.position
        return Located(Box(x - 1, y - 1, 3, 3), 0.0, 1.0, "position", label, index)
    if anchor.text is not None:
        located = _find_text(ctx, anchor, screen, origin, label, index, evidence)
    elif anchor.accessibility is not None:
        located = _find_element(ctx, anchor.accessibility, origin, label, index)
    else:
        assert anchor.image is not None
        located = None
        candidates = [anchor.image]
        if index == 0:
            fresh = refreshed_path(resolve_path(ctx, anchor.image))
            if fresh.exists():
                candidates.append(str(fresh))
        for number, image_path in enumerate(candidates):
            template = load_template(ctx, image_path)
            try:
                result = matching.find(
                    screen,
                    template,
                    confidence=confidence,
                    grayscale=options.grayscale,
                    scales=scales,
                    edges=options.edges,
                    find_all=options.find_all,
                    margin=target.margin,
                )
            except matching.TemplateTooUniform as exc:
                raise BlockInputError(f"template {image_path}: {exc}") from None
            if result.best is not None and (
                evidence.score is None or result.best.score > evidence.score
            ):
                best = result.best
                evidence.candidate = Box(
                    best.x + origin.x, best.y + origin.y, best.width, best.height
                )
                evidence.score = best.score
            if result.refused and not result.found and not evidence.refused:
                refusal = result.refused[0]
                evidence.refused = f"{label}: {refusal.describe(origin.x, origin.y)}"
                evidence.candidate = Box(
                    refusal.match.x + origin.x,
                    refusal.match.y + origin.y,
                    refusal.match.width,
                    refusal.match.height,
                )
                evidence.candidate_label = "refused look-alike"
                evidence.score = refusal.match.score
            if result.found:
                name = label if number == 0 else f"image:{Path(image_path).name}"
                hit = _choose(
                    ctx, target, result, name, origin, evidence, nearest, options.find_all
                )
                others = [c.score for c in result.candidates if not c.same_place(hit)]
                located = Located(
                    Box(hit.x + origin.x, hit.y + origin.y, hit.width, hit.height),
                    hit.score,
                    hit.scale,
                    hit.method,
                    name,
                    index if number == 0 else max(index, 1),
                    [m.as_dict(origin.x, origin.y) for m in result.matches],
                    runner_up=max(others) if others else None,
                )
                break
    if located is None or anchor.offset is None:
        return located
    dx, dy = anchor.offset
    cx, cy = located.box.center
    scaled_dx, scaled_dy = round(dx * located.scale), round(dy * located.scale)
    located.box = Box(cx + scaled_dx - 1, cy + scaled_dy - 1, 3, 3)
    located.matches = []
    return located


def _find_text(
    ctx: BlockContext,
    anchor: Anchor,
    screen: Image,
    origin: Box,
    label: str,
    index: int,
    evidence: Evidence,
) -> Located | None:
    """Find a phrase by OCR, window by window (fuzzily, or exactly and confirmed when it is
    short: ``short_text``); None when it is not there or when Tesseract is not installed
    (logged).  Two places reading alike raise ``AmbiguousText``."""
    from automation.blocks.desktop import ocr

    assert anchor.text is not None
    similarity = anchor.confidence or ocr.DEFAULT_SIMILARITY
    try:
        words = ocr.read_screen(screen, origin, timeout=ctx.remaining(30.0) or 30.0)
    except ocr.OcrUnavailable as exc:
        ctx.log(f"anchor {label} skipped: {exc}", "warning")
        return None
    try:
        hit = ocr.locate(screen, origin, words, anchor.text, similarity_min=similarity)
    except ocr.AmbiguousText as exc:
        evidence.candidate, evidence.score = exc.matches[0].box, exc.matches[0].score
        raise
    if hit is None:
        near = ocr.closest(words, anchor.text, limit=1)
        if near and (evidence.score is None or near[0].score > evidence.score):
            evidence.candidate, evidence.score = near[0].box, near[0].score
        ctx.log(
            f"anchor {label}: not read on screen"
            + (f"; the closest is {near[0].describe()}" if near else ""),
            "info",
        )
        return None
    return Located(hit.box, hit.score, 1.0, "ocr", label, index)


def _find_element(
    ctx: BlockContext, selector: str, origin: Box, label: str, index: int
) -> Located | None:
    """Find an element through the accessibility bus; None when it is not there (or no bus).

    Several elements matching raise ``ElementAmbiguous``: a target never guesses.  An
    element outside the searched region does not count.
    """
    from automation.blocks.desktop import accessibility as a11y

    try:
        element = a11y.find(selector)
    except a11y.ElementNotFound as exc:
        ctx.log(f"anchor {label}: {exc}", "info")
        return None
    except a11y.AccessibilityUnavailable as exc:
        ctx.log(f"anchor {label} skipped: {exc}", "warning")
        return None
    if element.box is None:
        ctx.log(f"anchor {label}: {element.describe()} reports no place on screen", "info")
        return None
    x, y = element.box.center
    if not (origin.x <= x < origin.x + origin.width and origin.y <= y < origin.y + origin.height):
        ctx.log(f"anchor {label}: {element.describe()} is outside the searched region", "info")
        return None
    located = Located(element.box, 1.0, 1.0, "accessibility", label, index)
    box = element.box.as_list()
    located.matches = [
        {"x": x, "y": y, "box": box, "score": 1.0, "scale": 1.0, "path": element.path}
    ]
    return located


def _refresh(
    ctx: BlockContext, target: Target, screen: Image, origin: Box, found: Located
) -> str | None:
    """Save what the first template should look like now, next to it; the original stays."""
    import cv2

    first = target.anchors[0]
    if first.image is None or found.method == "position":
        return None
    if found.score < REFRESH_CONFIDENCE and found.method not in ("ocr", "accessibility"):
        return None
    if REFRESH_SUFFIX in found.anchor:
        return None  # the refreshed copy itself matched: nothing new to save
    original = resolve_path(ctx, first.image)
    template = load_template(ctx, first.image)
    th, tw = template.shape[:2]
    scale = found.scale if found.method not in ("ocr", "accessibility") else 1.0
    w, h = round(tw * scale), round(th * scale)
    cx, cy = found.box.center
    x0, y0 = cx - w // 2 - origin.x, cy - h // 2 - origin.y
    if x0 < 0 or y0 < 0 or x0 + w > screen.shape[1] or y0 + h > screen.shape[0]:
        return None
    crop = matching.to_bgr(screen[y0 : y0 + h, x0 : x0 + w])
    if scale != 1.0:
        crop = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
    path = refreshed_path(original)
    if not cv2.imwrite(str(path), crop):
        ctx.log(f"could not save a refreshed template to {path}", "warning")
        return None
    ctx.log(
        f"saved a refreshed template {path} (the original is kept)", "info", refreshed=str(path)
    )
    return str(path)
