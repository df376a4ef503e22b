"""Finding a template image on a screenshot: right, or loudly not found.

The score is OpenCV's normalised cross-correlation (``TM_CCOEFF_NORMED``).
A search goes through **stages**, each tried only when the ones before found
nothing that reaches the bar:

1. ``direct``: grey (and colour) correlation at the first scale (1.0, or the
   scale the caller knows the screen is at);
2. ``scales``: the same at the other scales (125 %, 150 %, 200 %, 80 %, ...),
   stopping at the first confident hit.  Before it, the ``inverted`` stage is
   tried at the first scale alone: a template captured in the light theme and
   searched in the dark one at the same size matches nowhere in the normal
   polarity, and scanning the ten other scales for nothing first was most of
   such a search (at 100 % dark, glyph crops answered by the inverted stage at
   1.0 took a median 37 ms CPU, 30 of them in the other scales).  It answers
   only at ``EARLY_STOP`` or above, where the whole inverted stage stops at that
   scale too: under it a look-alike at another scale can score higher and be
   refused, which ends the stage (the "÷" glyph on speedcrunch's "+" key, 0.883
   at 1.0, was answered without this).  When it finds nothing it leaves no
   trace (best place, refusals) for the stages after it;
3. ``inverted``: a strongly *negative* grey correlation, at every scale. A dark
   theme usually maps light to dark and dark to light monotonically, which
   flips the sign of the correlation and nothing else; an answer under a stricter
   bar (0.9) must show the template's label swapped (``swapped``);
4. ``label``: the template's label (the ink inside it that does not touch its
   edge) at any size and either polarity, found through the screen's ink
   components and verified at full resolution (see ``labels``).  It covers
   what the whole template cannot: font-only scaling (labels grow, borders do
   not) and dark themes with differently drawn buttons.  It answers only when
   one place is clearly best and the screen around it is as clear of ink as
   the template ("x" is not found inside "x="), out to where the template's
   face ends (``keyface``: the "=" of an "x =" key is not the "=" key;
   the stage's checks are ``label_stage``'s);
5. ``edges``: blurred Canny edge maps of template and screen, for palette
   changes that are not a plain inversion.  Outlines alone are weak evidence
   (every key of a keypad has the same outline; "-" once matched "."), so an
   edge match is only looked for where the grey evidence points at one place:
   at each scale, the best grey correlation of one polarity, at least
   ``EDGE_GREY_SUPPORT``, with every other place at least ``EDGE_GREY_GAP``
   below it (a wider gap than the margin: at these grey levels look-alike
   keys are close, and an upscaled template's outline fits rounder ones, "8"
   on "0" at 200 %, about as well as the crisp original).  And
   when two different places pass at different scales, the stage answers
   nothing: a miss is an error the user sees, a wrong click is not.  The
   grey evidence is settled the cheap way first: a scale is ruled out at once
   when an earlier scan already shows two places far apart within the gap of
   the most any place can score, and finding the best place re-scores coarse
   peaks only until none could beat it (not down to a lower floor).
   A scale and polarity is looked at only where the grey stages' scan of it
   (always there before this stage) re-scored a place of at least the
   support, the first scale included, and that place stands in for the best
   one when no place the scan skipped could be distinct from it and more
   than the gap above it (``_Search._seen_top``): then the stage scans
   nothing of its own.  Searches that found nothing paid for such scans:
   the keypads' faces fit a foreign key at 0.5-0.67 in grey, and the stage
   re-scored a few hundred places per scale, a quarter of the CPU of the 16
   foreign keys on qalculate's and speedcrunch's 100 % light screens.

6. ``near``: when every stage found nothing, the one place of the
   whole-template stages just under the bar (``near_bar.NEAR_BAR``), with no
   other within the margin, is answered when its label passes the checks
   at a stricter bar (``near_bar``: a label re-drawn at another size).

7. ``pieces``: when even that found nothing, a label of a few pieces each
   drawn pixel for pixel at its captured size, once on the screen, their
   layout spread by one factor on a bigger key (``own_size``).

**Every location that could pass is scored at full resolution.**  Each scale
is first correlated on a blurred, downscaled copy of the screen (cheap), and
*every* local peak of that coarse map within ``coarse_slack`` of the floor is
re-scored exactly at full resolution.  The blur makes the coarse score
insensitive to where the template falls on the coarse pixel grid, so a match
scoring 0.8 or more loses at most 0.15 at half resolution and 0.25 at
quarter resolution (measured on captured keypads against an exhaustive
full-resolution map); the slacks are larger than that (``correlation``).  When a template has too many coarse
peaks to re-score one by one, its half-resolution map is tried (for the
grey stages' floors), and when that has too many as well (a pattern that
fits everywhere) the whole screen is correlated at full resolution.  Scans are shared between
stages: the grey scan of one scale and polarity is reused by a later stage
whenever it is complete for that stage's floor.  Nothing is kept or dropped
by rank: an earlier version kept the five best coarse peaks and, on a keypad
of near-identical buttons, dropped the true one and reported a look-alike.
A correlation map of the whole screen is computed only over the windows that
meet its busy part (``_Feature.correlate``): a window of one plain colour
scores 0, so a plain desktop around an application is not correlated at all.

**Colour.**  Unless ``grayscale`` is set, a whole-template grey match is scored
in colour too and must reach the bar there.  The stages that look at grey
alone (inverted, label, edges) must not answer a place where the whole
template reached the bar in grey and was refused on its colours: a red
button where the template's is blue is found by its label and its outline
as well, and is still not the template.

**Pieces.**  An answer of the whole-template stages (direct, scales and
inverted: ``PIECES_STAGES``) at a scale above the captured size must show
its label's ink in as many pieces as the label has (``ink_pieces``): resized,
speedcrunch's "÷" smears the gaps that part it from its "+", and each
answered the other.  The direct and scales stages' answers get
``verification``'s checks of the label's ink too; the inverted stage's only
this one, and under ``INVERTED_CONFIDENCE`` those of ``swapped``.

The result carries every distinct location (``candidates``) that scored at
least the bar or within ``margin`` of the best, in the winning stage.  Whether
that is an answer or an ambiguity is decided by ``picking.choose``, which the
target layer calls; ``find`` itself never guesses between look-alikes.

A near-uniform template (a patch of background, a blank button face)
correlates with every flat area of the screen; it is refused up front with
``TemplateTooUniform`` instead of producing confident false matches.

All coordinates returned are Python ints relative to the searched image.

OpenCV and numpy are imported inside the functions that use them: the block
registry loads this module (through the image blocks) in the supervisor, which
validates workflows but never matches anything, and should not carry them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automation.blocks.desktop import ordering
from automation.blocks.desktop.correlation import (
    _REFINE_PAD,
    _best_in,
    _Feature,
    _resize,
    _scan,
)
from automation.blocks.desktop.lift import LIFTED_STAGES, lifted
from automation.blocks.desktop.verification import Refusal

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.screen_ink import ScreenInk

    Image: TypeAlias = npt.NDArray[Any]
    FloatImage: TypeAlias = npt.NDArray[Any]

#: Display scales worth trying, most likely first: toolkit scaling (125-200 %),
#: font-only scaling and terminal font sizes (the in-between steps), smaller sizes.
DEFAULT_SCALES: tuple[float, ...] = (
    1.0, 1.25, 1.5, 2.0, 1.1, 1.2, 1.33, 1.75, 0.9, 0.8, 0.67
)  # fmt: skip
#: A second, distinct location scoring within this much of the best is an ambiguity.
DEFAULT_MARGIN = 0.05
#: Below this grey-level standard deviation a template carries no shape to match.
MIN_TEMPLATE_STDDEV = 6.0
#: An edge match also needs this much grey correlation (of either sign) at its spot.
EDGE_GREY_SUPPORT = 0.6
#: For an edge match, every other place must correlate in grey this much less than its spot.
EDGE_GREY_GAP = 0.2
#: An outline of fewer edge pixels than this (at the scale tried) cannot tell a dash from a
#: dot: the galculator "-" glyph at 67 % has 8, and its blurred outline matched the "." key
#: at 0.93 once the real "-" key was gone.
MIN_EDGE_PIXELS = 24
#: A hit this good ends the search over scales early.
EARLY_STOP = 0.95
#: A grey match whose colour score is this much lower shows other colours (a red/blue
#: swap: 1.0 grey, 0.64 colour); closer, the colours agree as well as the greys do
#: (a key re-drawn at another size: 0.850 grey, 0.849 colour).
COLOUR_GAP = 0.1
#: A light/dark-swapped match must correlate at least this well, or show its label (``swapped``).
INVERTED_CONFIDENCE = 0.9
_EDGE_CONFIDENCE_FLOOR = 0.8

STAGES = ("direct", "scales", "inverted", "label", "edges", "near", "pieces")
#: The stages whose answers are checked on the template's label (``verification``), and
#: the polarity the label must have there (0: either; the edge stage's palettes vary).
VERIFIED_STAGES = {"direct": 1, "scales": 1, "edges": 0}
#: The inverted stage at the first scale only, tried right after ``direct`` (module docstring).
_EARLY_INVERTED = "inverted-first"
#: The whole-template stages, whose answers at a larger scale must show the label's ink
#: in as many pieces as the label (``ink_pieces``), and the answer's polarity.
PIECES_STAGES = {"direct": 1, "scales": 1, "inverted": -1}
#: The stages that never look at colours: their answer must not be a place where the
#: whole template was seen in grey and refused on its colours (``_Search.in_colour``).
_GREY_STAGES = ("inverted", "label", "edges")


class TemplateTooUniform(ValueError):
    """The template is (almost) one flat colour, so any flat area would match it."""


@dataclass(frozen=True)
class Match:
    x: int
    y: int
    width: int
    height: int
    score: float
    scale: float
    # "color", "gray", "inverted", "label", "label-soft", "label-glyphs", "label-key" or "edges"
    method: str

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def same_place(self, other: Match) -> bool:
        """True when the two overlap so much that they are one thing found twice.

        Distinct places have centres more than a quarter of the template's width
        or height apart: neighbouring keys, two glyphs of "11", never merge.
        """
        (ax, ay), (bx, by) = self.center, other.center
        w, h = max(self.width, other.width), max(self.height, other.height)
        return abs(ax - bx) <= max(2, w // 4) and abs(ay - by) <= max(2, h // 4)

    def as_dict(self, dx: int = 0, dy: int = 0) -> dict[str, object]:
        cx, cy = self.center
        return {
            "x": cx + dx,
            "y": cy + dy,
            "box": [self.x + dx, self.y + dy, self.width, self.height],
            "score": round(self.score, 4),
            "scale": self.scale,
            "method": self.method,
        }


@dataclass
class SearchResult:
    #: The best match first (only it, unless ``find_all``); empty when nothing reached the bar.
    matches: list[Match]
    #: The best candidate seen even when it was below the bar: evidence for failures.
    best: Match | None
    scales_tried: list[float] = field(default_factory=list)
    #: Every distinct location of the winning stage scoring at least the bar or
    #: within ``margin`` of the best, best first (the look-alikes to choose from).
    candidates: list[Match] = field(default_factory=list)
    #: The stage that matched: direct, scales, inverted, label, edges, near or pieces.
    stage: str | None = None
    #: The bar the winning stage used.
    bar: float = 0.0
    #: Answers of the whole-template stages refused on their label's ink
    #: (``verification``), first stage first: the evidence when nothing was found.
    refused: list[Refusal] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.matches)


def to_gray(image: Image) -> Image:
    import cv2

    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def to_bgr(image: Image) -> Image:
    import cv2

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def check_template(template: Image) -> float:
    """The template's grey standard deviation; raises if it is too flat to match."""
    spread = float(to_gray(template).std())
    if spread < MIN_TEMPLATE_STDDEV:
        raise TemplateTooUniform(
            f"the template is almost one flat colour (contrast {spread:.1f}, need at least "
            f"{MIN_TEMPLATE_STDDEV}); it would match any empty area. Capture a template that "
            "includes text, an icon or a border"
        )
    return spread


def edge_map(gray: Image) -> Image:
    """Blurred Canny edges: the outline of things, independent of their colours."""
    import cv2

    return cv2.GaussianBlur(_edges(gray), (3, 3), 0)


def _edges(gray: Image) -> Image:
    import cv2

    return cv2.Canny(gray, 50, 150)


def outline_pixels(gray: Image) -> int:
    """How many edge pixels a template's outline has: its evidence for the edge stage."""
    import cv2

    return int(cv2.countNonZero(_edges(gray)))


def find(
    screen: Image,
    template: Image,
    *,
    confidence: float = 0.85,
    grayscale: bool = False,
    scales: Sequence[float] = DEFAULT_SCALES,
    edges: bool = True,
    find_all: bool = False,
    limit: int = 50,
    margin: float = DEFAULT_MARGIN,
) -> SearchResult:
    """Search ``template`` on ``screen`` (both BGR or grey arrays); see the module docstring.

    ``confidence`` is the bar for grey/colour correlation, and (with a floor of
    0.8) for edge correlation; light/dark-swapped matches need at least 0.9.
    ``margin`` widens the candidates kept for the ambiguity check.  With
    ``find_all`` every distinct match reaching the bar is in ``matches`` (at
    most ``limit``), best first.
    """
    from automation.blocks.desktop import near_bar, own_size, refine

    check_template(template)
    search = _Search(screen, template, confidence, not grayscale, margin)
    order = ordering.ordered(scales)
    search.first_scale = order[0]
    plan: list[tuple[str, list[float]]] = [("direct", order[:1]), (_EARLY_INVERTED, order[:1])]
    plan += [("scales", order[1:]), ("refine", []), ("inverted", order), ("label", order)]
    if edges:
        plan += [("edges", order)]
    result = SearchResult(matches=[], best=None)
    # the whole-template stages' places within the margin under the bar (``near_bar``)
    seen: list[tuple[str, Match]] = []
    for stage, stage_scales in plan:
        if stage == "refine":
            # a near miss between the listed scales (see ``refine``): searched as a scale
            refined = refine.refined_scale(search, result.best, result.scales_tried)
            stage, stage_scales = "scales", [] if refined is None else [refined]
        if not stage_scales:
            continue
        early = stage == _EARLY_INVERTED
        if early:  # leaves no trace when it fails: the later stages see what they did before
            stage, before = "inverted", (result.best, len(result.refused))
        if early:
            candidates, bar = search.stage(stage, stage_scales, result)
            if not (candidates and candidates[0].score >= EARLY_STOP):
                candidates = []  # the whole inverted stage would have gone on to the other scales
            candidates = search.checked(stage, candidates, bar, result)
        else:
            candidates, bar, scored = search.settled(stage, stage_scales, result)
            if stage in PIECES_STAGES:
                seen += [(stage, c) for c in scored if c.score >= bar - margin]
        if candidates and candidates[0].score >= bar:
            best = candidates[0]
            keep = min(bar, best.score - margin)
            result.candidates = [c for c in candidates if c.score >= keep][: max(limit, 2)]
            result.stage, result.bar, result.best = stage, bar, best
            passing = [c for c in result.candidates if c.score >= bar]
            result.matches = passing[:limit] if find_all else [best]
            return result
        if early:
            result.best = before[0]
            del result.refused[before[1] :]
    near = near_bar.answer(search, seen, search.confidence, result)
    stage = "near"  # just under the bar, its label passing a stricter check
    if near is None:  # the label's pieces, each at its captured size, spread apart
        near, stage = own_size.answer(search, result), "pieces"
    if near is not None:
        result.candidates, result.matches = [near], [near]
        result.stage, result.bar, result.best = stage, near.score, near
    return result


class _Search:
    """One template on one screen: the stages of ``find``, sharing the screen copies."""

    def __init__(
        self, screen: Image, template: Image, confidence: float, color: bool, margin: float
    ) -> None:
        self.screen = screen
        self.template = template
        self.confidence = confidence
        self.margin = margin
        self.color = color and screen.ndim == 3 and template.ndim == 3
        self.gray = _Feature(to_gray(screen), margin)
        self.gray_tpl = to_gray(template)
        self._tpls: dict[float, Image] = {}
        self.first_scale = 1.0
        self._scans: dict[tuple[float, int], tuple[float, list[tuple[int, int, float]]]] = {}
        #: The scans read above the stage's floor (``settled``) and what they replaced.
        self._lifted: dict[tuple[float, int], Any] = {}
        self._ink: ScreenInk | None = None
        self._labels: dict[bool, Label | None] = {}
        #: Places where the whole template reached the bar in grey but not in colour:
        #: the template's pixels in other colours, which no later stage may answer.
        self.off_colour: list[tuple[Match, Match]] = []

    def scan(
        self, scale: float, sign: int, floor: float, lifted: bool = False
    ) -> list[tuple[int, int, float]]:
        """``_scan`` of the grey template at ``scale``, reusing an earlier scan of the same
        polarity when it is complete for ``floor``: its floor was no higher, or its best
        cleared its floor by the margin (then every place within the margin of the best,
        the only ones a lower floor could add that matter, was re-scored already)."""
        known = self._scans.get((scale, sign))
        if lifted:
            self._lifted.setdefault((scale, sign), known)
        if known is not None:
            done_floor, places = known
            best = max((p[2] for p in places), default=-1.0)
            if done_floor <= floor or best - self.margin >= done_floor:
                return places
        places = _scan(self.gray, self._template(scale), sign, floor)
        self._scans[(scale, sign)] = (floor, places)
        return places

    def best(self, scale: float, sign: int, floor: float) -> tuple[int, int, float] | None:
        """The best place (x, y, sign * score) of the grey template at ``scale`` when it
        reaches ``floor``, else None.

        Only the best is wanted here, so coarse peaks are re-scored until none
        could beat the best so far (or reach ``floor``), not down to a floor
        ``margin`` lower: on a keypad of look-alikes that is a few dozen
        places instead of hundreds.  An earlier scan answers when it settles
        the question: its best cleared its floor (then it is the best overall:
        every place it skipped scores below its floor), or its floor was no
        higher than ``floor`` (then every place reaching ``floor`` is in it).
        """
        known = self._scans.get((scale, sign))
        if known is not None:
            done_floor, places = known
            top = max(places, key=lambda p: p[2], default=None)
            if top is not None and top[2] >= done_floor:
                return top if top[2] >= floor else None
            if done_floor <= floor:
                return None
        places = _scan(self.gray, self._template(scale), sign, floor, margin=0.0)
        top = max(places, key=lambda p: p[2], default=None)
        return top if top is not None and top[2] >= floor else None

    def _split(self, scale: float, sign: int, gap: float, tw: int, th: int) -> bool:
        """True when an earlier scan already shows that no place is the one clear grey
        match at ``scale``: two places far apart both score within ``gap`` of the most
        any place can score.

        That most is the scan's best, or its floor when the best stayed below it
        (every place the scan skipped scores below its floor).  The two places
        are more than twice the ``Match.same_place`` distance apart, so whichever
        place is the best, one of them is a distinct place within ``gap`` of it,
        and the edge stage would refuse it after its costly scans.  On a keypad
        of look-alikes this is the common case.
        """
        known = self._scans.get((scale, sign))
        if known is None:
            return False
        done_floor, places = known
        ceiling = max(done_floor, max((p[2] for p in places), default=-1.0))
        close = [(x, y) for x, y, score in places if score >= ceiling - gap]
        far_x, far_y = 2 * max(2, tw // 4), 2 * max(2, th // 4)
        return any(
            abs(ax - bx) > far_x or abs(ay - by) > far_y
            for index, (ax, ay) in enumerate(close)
            for bx, by in close[index + 1 :]
        )

    def _seen_top(self, scale: float, sign: int, gap: float) -> tuple[int, int, float] | None:
        """The best place an earlier scan re-scored at ``scale``, when it reaches the edge
        stage's support and stands in for the best overall there; else None.

        The scan skipped only places under its floor.  A place it skipped that
        scores more than its best, but under that floor, is within ``gap`` of
        it when the best is at least the floor less the gap; if it is a
        distinct place the grey evidence is split between the two, and the
        proof of the edge stage refuses it whichever of the two it starts from.
        So the best needs no scan of its own down to the support: on a keypad
        that re-scored a few hundred places (every key face fits a nearly blank
        foreign key at 0.5-0.67) to find a place whose outline did not fit.
        """
        known = self._scans.get((scale, sign))
        if known is None:
            return None
        done_floor, places = known
        top = max(places, key=lambda p: p[2], default=None)
        if top is None or top[2] < EDGE_GREY_SUPPORT or top[2] < done_floor - gap:
            return None
        return top

    def _template(self, scale: float) -> Image:
        if scale not in self._tpls:
            self._tpls[scale] = _resize(self.gray_tpl, scale)
        return self._tpls[scale]

    def settled(
        self, stage: str, scales: list[float], result: SearchResult
    ) -> tuple[list[Match], float, list[Match]]:
        """``stage`` and ``checked``: the candidates that pass the stage's checks, its bar,
        and the candidates as scored; done again unlifted when refused (``lift``)."""
        mark = (result.best, len(result.scales_tried), len(result.refused), len(self.off_colour))
        self._lifted.clear()
        paid = self.gray.mark()
        scored, bar = self.stage(stage, scales, result, lift=stage in LIFTED_STAGES)
        candidates = self.checked(stage, scored, bar, result)
        if self._lifted and not (candidates and candidates[0].score >= bar):
            result.best = mark[0]
            del result.scales_tried[mark[1] :], result.refused[mark[2] :]
            del self.off_colour[mark[3] :]
            self._scans.update({key: known for key, known in self._lifted.items() if known})
            for key in [key for key, known in self._lifted.items() if known is None]:
                del self._scans[key]
            self._lifted.clear()
            self.gray.back_to(paid)
            scored, bar = self.stage(stage, scales, result)
            candidates = self.checked(stage, scored, bar, result)
        return candidates, bar, scored

    def checked(
        self, stage: str, candidates: list[Match], bar: float, result: SearchResult
    ) -> list[Match]:
        """The stage's candidates once its best passed the checks of its stage:
        ``verified`` and ``in_colour``; none when it did not."""
        if candidates and candidates[0].score >= bar and stage in VERIFIED_STAGES | PIECES_STAGES:
            candidates = self.verified(candidates, bar, result, stage)
        if candidates and candidates[0].score >= bar and stage in _GREY_STAGES:
            candidates = self.in_colour(candidates, result)
        return candidates

    def stage(
        self, stage: str, scales: list[float], result: SearchResult, lift: bool = False
    ) -> tuple[list[Match], float]:
        """Distinct candidates of one stage over its scales, best first, and its bar;
        with ``lift``, the scales after a place reaching it scanned to ``lifted``."""
        bar = {
            "inverted": inverted_bar(self.confidence),
            "edges": edge_bar(self.confidence),
        }.get(stage, self.confidence)
        floor = bar - self.margin
        if stage == "label":
            from automation.blocks.desktop import label_stage

            return label_stage.answer(self, bar, result), bar
        found: list[Match] = []
        for scale in scales:
            if stage in ("direct", "scales"):
                result.scales_tried.append(scale)
            top = max((m.score for m in found), default=-1.0)
            scan_floor = lifted(floor, bar, top, self.margin) if lift else floor
            for match in self._at_scale(stage, scale, scan_floor, scan_floor > floor):
                if result.best is None or match.score > result.best.score:
                    result.best = match
                if match.score >= floor:
                    found.append(match)
            if found and max(m.score for m in found) >= max(bar, EARLY_STOP):
                break
        distinct = ordering.distinct(found)
        if stage == "edges" and len(distinct) > 1:
            # outlines of different places at different scales: the edge evidence
            # does not single out one place, and a guess is worse than not found
            return [], bar
        return distinct, bar

    def _at_scale(
        self, stage: str, scale: float, floor: float, lifted: bool = False
    ) -> list[Match]:
        tpl = self._template(scale)
        th, tw = tpl.shape[:2]
        if stage == "edges":
            raw = self._scan_edges(scale, floor)
            method = "edges"
        else:
            sign = -1 if stage == "inverted" else 1
            raw = self.scan(scale, sign, floor, lifted)
            method = "inverted" if sign < 0 else "gray"
        if not raw:
            return []
        # the places that pass the floor, and the best one (evidence when nothing passes)
        top = max(raw, key=lambda p: p[2])
        raw = [p for p in raw if p[2] >= floor] or [top]
        matches = raw_matches = [Match(x, y, tw, th, score, scale, method) for x, y, score in raw]
        if method == "gray" and self.color:
            matches = [self._colour(m) if m.score >= floor else m for m in matches]
            bar = self.confidence
            self.off_colour += [
                (grey, colour)
                for grey, colour in zip(raw_matches, matches, strict=True)
                if grey.score >= bar and colour.score < min(bar, grey.score - COLOUR_GAP)
            ]
        return matches

    def _scan_edges(self, scale: float, floor: float) -> list[tuple[int, int, float]]:
        """The edge fallback: outlines that agree where the grey evidence points.

        Blurred edges of any text correlate fairly well with other text, and a
        button's outline with every other button's: outline matching alone
        picked the "." key for the "-" key.  So an edge match counts only at
        the place that is the one clear grey match at this scale: the best grey
        correlation of one polarity, at least ``EDGE_GREY_SUPPORT``, with every
        other place at least ``EDGE_GREY_GAP`` below it.  There the edge maps are compared
        at full resolution; anywhere else, or when the grey evidence is split
        between look-alikes, there is no edge match (not found, never a guess).
        """
        tpl = self._template(scale)
        th, tw = tpl.shape[:2]
        if outline_pixels(tpl) < MIN_EDGE_PIXELS:
            # too little outline to be evidence: a blurred dash and a blurred dot
            # correlate as well as two dashes, so an answer here would be a guess
            return []
        edge_tpl = edge_map(tpl)
        if float(edge_tpl.std()) < MIN_TEMPLATE_STDDEV / 2:
            return []
        kept = []
        gap = max(self.margin, EDGE_GREY_GAP)
        for sign in (1, -1):
            # only where the grey stages already saw a place good enough, the first
            # scale too (a cheap filter: a full scan down to the support at every
            # scale cost more than all the other stages together; module docstring)
            known = self._scans.get((scale, sign))
            seen = max((p[2] for p in known[1]), default=-1.0) if known else 1.0
            if seen < EDGE_GREY_SUPPORT:
                continue
            if self._split(scale, sign, gap, tw, th):
                continue
            top = self._seen_top(scale, sign, gap) or self.best(scale, sign, EDGE_GREY_SUPPORT)
            if top is None:
                continue
            bx, by, grey = top
            # Canny needs a few pixels of context around the window it is compared in
            context = _REFINE_PAD + 4
            x0, y0 = max(0, bx - context), max(0, by - context)
            edges = edge_map(self.gray.gray[y0 : by + th + context, x0 : bx + tw + context])
            wx, wy = max(0, bx - _REFINE_PAD - x0), max(0, by - _REFINE_PAD - y0)
            window = edges[wy : by - y0 + th + _REFINE_PAD, wx : bx - x0 + tw + _REFINE_PAD]
            x, y, score = _best_in(window, edge_tpl, 1)
            if score < floor:
                continue
            # only now the costlier proof that no other place comes close in grey
            # (a scan already as deep is reused: ``scan``)
            places = self.scan(scale, sign, grey - gap)
            here = Match(bx, by, tw, th, grey, 1.0, "gray")
            if any(
                other >= grey - gap
                and not here.same_place(Match(ox, oy, tw, th, other, 1.0, "gray"))
                for ox, oy, other in places
            ):
                continue  # the grey evidence does not single out one place
            kept.append((x0 + wx + x, y0 + wy + y, score))
        return kept

    def ink(self) -> ScreenInk:
        """The screen's ink (``screen_ink``), segmented once per search."""
        from automation.blocks.desktop import screen_ink

        if self._ink is None:
            self._ink = screen_ink.ScreenInk(self.gray.gray, self.gray.busy_box(1))
        return self._ink

    def label(self, *, anchored: bool = True) -> Label | None:
        """The template's label (``labels.extract``), cut once per search."""
        from automation.blocks.desktop import labels, small_ink

        if anchored not in self._labels:
            label = labels.extract(self.gray_tpl, anchored=anchored)
            # a whole key's label counts only where it shows the key's face (``small_ink``)
            self._labels[anchored] = (
                small_ink.with_face(self.gray_tpl, label) if anchored else label
            )
        return self._labels[anchored]

    def verified(
        self, candidates: list[Match], bar: float, result: SearchResult, stage: str
    ) -> list[Match]:
        """The candidates whose label is where they put it (``verification.check``, for
        ``VERIFIED_STAGES``) in as many pieces (``ink_pieces``, for ``PIECES_STAGES``).

        A refused best place ends the stage's answer (recorded in
        ``result.refused``): the next place down is not promoted in its stead, as
        it was not the answer the correlation gave.  A refused look-alike below
        it is dropped: it is not the template, so it does not make the answer
        ambiguous; but when it scores within the margin of the best, the best
        is refused too (``verification.shadowed``).
        """
        from automation.blocks.desktop import (
            answer_face,
            ink_pieces,
            label_shape,
            swapped,
            verification,
        )

        # a dot or a short dash is a label here too: the answer says where and how big
        label = self.label(anchored=False)
        if label is None and candidates and label_shape.away_from_captured(candidates[0].scale):
            label = label_shape.unframed(self.gray_tpl)  # a tight crop, answered resized
        kept: list[Match] = []
        others: list[verification.Refusal] = []
        for number, candidate in enumerate(candidates):
            refusal = None
            if stage in VERIFIED_STAGES:
                refusal = verification.check(
                    self.gray.gray,
                    label,
                    candidate,
                    bar=bar,
                    sign=VERIFIED_STAGES[stage],
                    template=self.gray_tpl,
                )
            elif stage == "inverted":  # under its own bar, on its label (``swapped``)
                refusal = swapped.check(
                    self.gray.gray,
                    label,
                    candidate,
                    bar=bar,
                    strict=INVERTED_CONFIDENCE,
                    template=self.gray_tpl,
                )
            if refusal is None and stage in PIECES_STAGES:
                refusal = ink_pieces.check(self.gray.gray, label, candidate, PIECES_STAGES[stage])
            if refusal is None and number == 0 and stage in answer_face.STAGES:  # its face
                refusal = answer_face.check(self.gray.gray, self.gray_tpl, label, candidate)
            if refusal is None:
                kept.append(candidate)
            elif number == 0:
                result.refused.append(refusal)
                return []
            else:
                others.append(refusal)
        shadow = verification.shadowed(kept[0], others, self.margin) if kept else None
        if shadow is not None:
            result.refused.append(shadow)
            return []
        return kept

    def in_colour(self, candidates: list[Match], result: SearchResult) -> list[Match]:
        """The candidates of a grey-only stage, or none when its best place is one where
        the whole template reached the bar in grey but not in colour (``off_colour``).

        There the template's own pixels are on screen in other colours (a red
        button where the template's is blue), and the colour score already
        said no: a stage that looks at ink or outlines alone must not say yes
        to it.  With ``grayscale`` no colour is scored and nothing is refused.
        The refusal, as any, ends the stage's answer (``verified``).
        """
        best = candidates[0]
        for grey, colour in self.off_colour:
            if best.same_place(grey):
                result.refused.append(
                    Refusal(
                        best,
                        f"the whole template is there in grey ({grey.score:.3f}) but not in "
                        f"its colours ({colour.score:.3f}); set grayscale if colours may differ",
                    )
                )
                return []
        return candidates

    def _colour(self, found: Match) -> Match:
        """Grey agreed; score the colours too (a red and a green button differ)."""
        x0, y0 = max(0, found.x - 1), max(0, found.y - 1)
        window = to_bgr(
            self.screen[y0 : found.y + found.height + 1, x0 : found.x + found.width + 1]
        )
        x, y, score = _best_in(window, _resize(to_bgr(self.template), found.scale), 1)
        return Match(x0 + x, y0 + y, found.width, found.height, score, found.scale, "color")


def inverted_bar(confidence: float) -> float:
    """The bar for a light/dark-swapped match: the others', but an answer under
    ``INVERTED_CONFIDENCE`` must show its label swapped (``swapped``), since text on a
    plain background anti-correlates with light text on a dark button."""
    return confidence


def edge_bar(confidence: float) -> float:
    """The bar edge correlation must reach for a given grey ``confidence``."""
    return max(_EDGE_CONFIDENCE_FLOOR, confidence)
