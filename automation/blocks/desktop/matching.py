"""Finding a template image on a screenshot: right, or loudly not found.

The score is OpenCV's normalised cross-correlation (``TM_CCOEFF_NORMED``).
A search goes through **stages**, each tried only when the ones before found
nothing that reaches the bar:

1. ``direct``: grey (and colour) correlation at the first scale (1.0, or the
   scale the caller knows the screen is at);
2. ``scales``: the same at the other scales (125 %, 150 %, 200 %, 80 %, ...),
   stopping at the first confident hit;
3. ``inverted``: a strongly *negative* grey correlation, at every scale. A dark
   theme usually maps light to dark and dark to light monotonically, which
   flips the sign of the correlation and nothing else; the bar is stricter;
4. ``label``: the template's label (the ink inside it that does not touch its
   edge) at any size and either polarity, found through the screen's ink
   components and verified at full resolution (see ``labels``).  It covers
   what the whole template cannot: font-only scaling (labels grow, borders do
   not) and dark themes with differently drawn buttons.  It answers only when
   one place is clearly best and the screen around it is as clear of ink as
   the template ("x" is not found inside "x=");
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

**Every location that could pass is scored at full resolution.**  Each scale
is first correlated on a blurred, downscaled copy of the screen (cheap), and
*every* local peak of that coarse map within ``COARSE_SLACK`` of the bar is
re-scored exactly at full resolution.  The blur makes the coarse score
insensitive to where the template falls on the coarse pixel grid, so a true
match loses at most about 0.2 there (measured on keypads at every sub-pixel
phase); the slack is larger than that.  When a template has too many coarse
peaks to re-score one by one (a pattern that fits everywhere), the whole
screen is correlated at full resolution instead.  Scans are shared between
stages: the grey scan of one scale and polarity is reused by a later stage
whenever it is complete for that stage's floor.  Nothing is kept or dropped
by rank: an earlier version kept the five best coarse peaks and, on a keypad
of near-identical buttons, dropped the true one and reported a look-alike.
A correlation map of the whole screen is computed only over the windows that
meet its busy part (``_Feature.correlate``): a window of one plain colour
scores 0, so a plain desktop around an application is not correlated at all.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

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
#: A hit this good ends the search over scales early.
EARLY_STOP = 0.95
#: A light/dark-swapped match must correlate at least this well.
INVERTED_CONFIDENCE = 0.9
#: Coarse peaks this far below the bar are still re-scored at full resolution.
COARSE_SLACK = 0.3
#: A place with less than this share of the template's contrast cannot be it.
MIN_CONTRAST_RATIO = 0.3
#: Half-resolution scores this far below the bar still go on to full resolution.
MID_SLACK = 0.25
#: More coarse peaks than this: correlate the whole screen at full resolution instead.
MAX_REFINE = 400
_EDGE_CONFIDENCE_FLOOR = 0.8
_COARSE_MIN_SIDE = 6
_COARSE_MAX_FACTOR = 4
_REFINE_PAD = 2
_REFINE_BATCH = 48
_COARSE_RIM = 1
#: Above one place in this many passing the floor, local peaks are found by dilation.
_PEAK_GATHER_SHARE = 64
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))

STAGES = ("direct", "scales", "inverted", "label", "edges")


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
    method: str  # "color", "gray", "inverted", "label", "label-soft" or "edges"

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
    #: The stage that matched: direct, scales, inverted or edges.
    stage: str | None = None
    #: The bar the winning stage used.
    bar: float = 0.0

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

    edges = cv2.Canny(gray, 50, 150)
    return cv2.GaussianBlur(edges, (3, 3), 0)


def _coarse(image: Image, factor: int) -> Image:
    """``image`` blurred and shrunk by the integer ``factor``.

    The image is first cut to a multiple of ``factor`` (its right and bottom
    edge lose less than ``factor`` pixels), so template and screen shrink by
    exactly the same ratio: an uneven ratio stretched text templates by up to
    7 % and halved their coarse score.  The blur (about one coarse pixel) makes
    the correlation of the shrunk images nearly independent of the sub-pixel
    phase between template and screen; without it an exact match of thin text
    scored 0.4 lower at the worst phase, and no fixed slack could cover that.
    """
    import cv2

    if factor <= 1:
        return image
    h, w = image.shape[:2]
    h, w = h - h % factor, w - w % factor
    # halve first (a cheap box filter), then blur the smaller image: the blur is
    # the costly step, and at half size it costs a quarter
    half = cv2.resize(image[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(half, (0, 0), 0.375 * factor)
    if factor == 2:
        return blurred
    return cv2.resize(blurred, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


class _Feature:
    """The grey screen and its blurred, shrunk copies (cached), for one search."""

    def __init__(self, gray: Image, margin: float) -> None:
        self.gray = gray
        self.margin = margin
        self._cache: dict[int, Image] = {}
        # keyed by the template array's id; the array is kept so the id stays unique
        self._scores: dict[tuple[int, int], tuple[Image, FloatImage, int]] = {}
        self._spread: dict[tuple[int, int, int], FloatImage] = {}
        # per factor, the box (x0, y0, x1, y1) outside which the screen is plain
        self._busy: dict[int, tuple[int, int, int, int]] = {}
        # the coarse screen as floats and squared, for the spreads of every template size
        self._floats: dict[int, tuple[FloatImage, FloatImage]] = {}

    def coarse_template(self, gray_tpl: Image, factor: int) -> tuple[Image, int]:
        """The template through exactly the pipeline ``screen(factor)`` uses, less its rim.

        The blur mixes a template's outermost coarse pixel with what lies outside
        it: on screen that is the surroundings, in the template a reflection of
        its own edge.  For a crop of a button against a different background the
        two differ a lot (an exact crop scored 0.5 on the coarse map with its
        rim), so the rim (``_COARSE_RIM``) is left out; peaks are shifted back.
        """
        coarse = _coarse(gray_tpl, factor)
        rim = _COARSE_RIM if min(coarse.shape[:2]) > 2 * _COARSE_RIM + 2 else 0
        return coarse[rim : coarse.shape[0] - rim, rim : coarse.shape[1] - rim], rim

    def full_scores(self, gray_tpl: Image) -> FloatImage:
        """The full-resolution correlation map of one template (cached: both polarities
        and every floor read the same map)."""
        import cv2

        key = (id(gray_tpl), 1)
        if key not in self._scores:
            scores = self.correlate(1, gray_tpl)
            cv2.patchNaNs(scores, 0.0)
            self._scores[key] = (gray_tpl, scores, 0)
        return self._scores[key][1]

    def correlate(self, factor: int, template: Image) -> FloatImage:
        """``TM_CCOEFF_NORMED`` of ``template`` over ``screen(factor)``, correlating only
        the part of the screen that is not plain.

        A window with no two different pixels scores 0 (it has no contrast to
        correlate), and a window that holds two different pixels holds two
        different neighbours, which lie in the box ``_busy_box`` finds.  So only
        the windows that meet that box are correlated, on the screen cut to
        them; the rest of the map is 0.  A plain desktop around a window is
        most of the screen, and correlating only the window is several times
        cheaper.
        """
        import cv2
        import numpy as np

        screen = self.screen(factor)
        sh, sw = screen.shape[:2]
        th, tw = template.shape[:2]
        cx0, cy0, cx1, cy1 = self._around_busy(factor, tw, th)
        if (cx0, cy0, cx1, cy1) == (0, 0, sw, sh):
            return cv2.matchTemplate(screen, template, cv2.TM_CCOEFF_NORMED)
        scores = np.zeros((sh - th + 1, sw - tw + 1), np.float32)
        if cx1 - cx0 >= tw and cy1 - cy0 >= th:
            part = cv2.matchTemplate(screen[cy0:cy1, cx0:cx1], template, cv2.TM_CCOEFF_NORMED)
            scores[cy0 : cy0 + part.shape[0], cx0 : cx0 + part.shape[1]] = part
        return scores

    def _around_busy(self, factor: int, w: int, h: int) -> tuple[int, int, int, int]:
        """The part (x0, y0, x1, y1) of ``screen(factor)`` covered by the windows of size
        (``w``, ``h``) that meet its busy box."""
        screen = self.screen(factor)
        if factor not in self._busy:
            self._busy[factor] = _busy_box(screen)
        x0, y0, x1, y1 = self._busy[factor]
        sh, sw = screen.shape[:2]
        return max(0, x0 - w + 1), max(0, y0 - h + 1), min(sw, x1 + w - 1), min(sh, y1 + h - 1)

    def screen(self, factor: int) -> Image:
        if factor not in self._cache:
            self._cache[factor] = _coarse(self.gray, factor)
        return self._cache[factor]

    def flat(self, factor: int, size: tuple[int, int], spread: float) -> Any:
        """Where the coarse screen under a template of ``size`` (h, w) has less than
        ``MIN_CONTRAST_RATIO`` of the template's ``spread``: nothing there can be
        the template (its correlation there is noise on a near-flat patch)."""
        import cv2
        import numpy as np

        key = (factor, *size)
        if key not in self._spread:
            if factor not in self._floats:
                values = self.screen(factor).astype(np.float32)
                self._floats[factor] = (values, values * values)
            screen, squared = self._floats[factor]
            h, w = size
            sh, sw = screen.shape[:2]
            # windows that miss the busy box are plain: their spread is 0
            cx0, cy0, cx1, cy1 = self._around_busy(factor, w, h)
            spreads = np.zeros((sh - h + 1, sw - w + 1), np.float32)
            if cx1 - cx0 >= w and cy1 - cy0 >= h:
                part, part_squared = screen[cy0:cy1, cx0:cx1], squared[cy0:cy1, cx0:cx1]
                mean = cv2.boxFilter(
                    part, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
                )
                square = cv2.boxFilter(
                    part_squared, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
                )
                std = np.sqrt(np.maximum(square - mean * mean, 0))
                spreads[cy0 : cy1 - h + 1, cx0 : cx1 - w + 1] = std[
                    : cy1 - cy0 - h + 1, : cx1 - cx0 - w + 1
                ]
            self._spread[key] = spreads
        return self._spread[key] < MIN_CONTRAST_RATIO * spread

    def coarse_scores(self, gray_tpl: Image, factor: int) -> tuple[FloatImage, int]:
        """The coarse correlation map of one template and the rim it leaves out.

        Cached: both signs read it.  The map's (x, y) is where the template's
        inner part starts; the template itself starts ``rim`` coarse pixels
        earlier.
        """
        import numpy as np

        key = (id(gray_tpl), factor)
        if key not in self._scores:
            inner, rim = self.coarse_template(gray_tpl, factor)
            scores = self.correlate(factor, inner)
            np.nan_to_num(scores, copy=False, nan=0.0)
            scores[self.flat(factor, inner.shape[:2], float(inner.std()))] = 0.0
            self._scores[key] = (gray_tpl, scores, rim)
        _, scores, rim = self._scores[key]
        return scores, rim


def _busy_box(image: Image) -> tuple[int, int, int, int]:
    """The smallest box (x0, y0, x1, y1) holding every pixel that differs from a
    neighbour (right or below); empty (0, 0, 0, 0) for a plain image."""
    import cv2

    h, w = image.shape[:2]
    boxes = []
    if w > 1:
        x, y, bw, bh = cv2.boundingRect(cv2.absdiff(image[:, 1:], image[:, :-1]))
        if bw and bh:
            boxes.append((x, y, x + bw + 1, y + bh))
    if h > 1:
        x, y, bw, bh = cv2.boundingRect(cv2.absdiff(image[1:, :], image[:-1, :]))
        if bw and bh:
            boxes.append((x, y, x + bw, y + bh + 1))
    if not boxes:
        return 0, 0, 0, 0
    x0, y0, x1, y1 = zip(*boxes, strict=True)
    return min(x0), min(y0), max(x1), max(y1)


def _resize(image: Image, scale: float) -> Image:
    import cv2

    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


def _coarse_factor(tw: int, th: int) -> int:
    factor = 1
    while min(tw, th) // (factor * 2) >= _COARSE_MIN_SIDE and factor < _COARSE_MAX_FACTOR:
        factor *= 2
    return factor


def _local_peaks(scores: FloatImage, floor: float) -> tuple[Any, Any]:
    """Every local maximum (3x3) of ``scores`` at or above ``floor``: arrays (xs, ys),
    best first."""
    import cv2
    import numpy as np

    passing = (scores >= floor).view(np.uint8)  # 0 or 1, no copy
    count = cv2.countNonZero(passing)
    dense = count * _PEAK_GATHER_SHARE > scores.size
    if dense:
        # much of the map passes the floor: one dilation is cheaper than gathering
        dilated = cv2.dilate(scores, np.ones((3, 3), np.uint8))
        passing = (passing & (scores >= dilated)).view(np.uint8)
        count = cv2.countNonZero(passing)
    if not count:
        empty = np.zeros(0, np.intp)
        return empty, empty
    xs, ys = cv2.findNonZero(passing).reshape(-1, 2).astype(np.intp).T
    if not dense:
        # usually few places pass the floor: compare just those with their eight
        # neighbours (an index clipped at the border compares a place with itself,
        # as the dilation's border leaves it alone), instead of dilating the map
        height, width = scores.shape[:2]
        values = scores[ys, xs]
        peak = np.ones(len(ys), bool)
        for dy, dx in _NEIGHBOURS:
            around = scores[np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)]
            peak &= values >= around
        ys, xs = ys[peak], xs[peak]
    order = np.argsort(-scores[ys, xs], kind="stable")
    return xs[order], ys[order]


def _best_in(window: Image, template: Image, sign: int) -> tuple[int, int, float]:
    """Best (x, y, sign * score) in ``window``."""
    import cv2

    th, tw = template.shape[:2]
    if window.shape[0] < th or window.shape[1] < tw:
        return 0, 0, -1.0
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    low, high, (lx, ly), (hx, hy) = cv2.minMaxLoc(scores)
    if sign < 0:
        return int(lx), int(ly), -float(low)
    return int(hx), int(hy), float(high)


def _scan(
    feature: _Feature,
    gray_tpl: Image,
    sign: int,
    floor: float,
    margin: float | None = None,
) -> list[tuple[int, int, float]]:
    """Full-resolution local bests (x, y, sign * score): every one that reaches
    ``floor`` or comes within the margin of the best, plus the best one overall
    (below the floor it is evidence only).  ``margin`` is the feature's unless
    given (0: only the best place is wanted, found exactly, plus what was
    re-scored on the way).

    The coarse map only decides where to look; each score returned was computed
    at full resolution.  Coarse peaks are re-scored best first, in batches, and
    the rest are skipped only once even ``COARSE_SLACK`` above its coarse score
    the next could not reach the floor nor come within the margin of the best
    so far.  When more than ``MAX_REFINE`` peaks would need re-scoring (a
    pattern that fits everywhere), the whole screen is correlated at full
    resolution instead.
    """
    import cv2
    import numpy as np

    margin = feature.margin if margin is None else margin
    th, tw = gray_tpl.shape[:2]
    sh, sw = feature.gray.shape[:2]
    if th > sh or tw > sw or th < 3 or tw < 3:
        return []
    full_tpl = gray_tpl
    factor = _coarse_factor(tw, th)
    if factor > 1:
        scores, rim = feature.coarse_scores(gray_tpl, factor)
        coarse = scores * sign
        xs, ys = _local_peaks(coarse, floor - COARSE_SLACK)
        if not len(xs):
            _, _, _, (tx, ty) = cv2.minMaxLoc(coarse)
            xs, ys = np.array([tx]), np.array([ty])
        levels = coarse[ys, xs].tolist()
        peaks = list(zip(xs.tolist(), ys.tolist(), strict=True))
        found: dict[tuple[int, int], float] = {}
        best = -1.0
        full = feature.gray
        for start in range(0, len(peaks), _REFINE_BATCH):
            bound = max(floor, best - margin)
            if found and levels[start] + COARSE_SLACK < bound:
                return [(x, y, s) for (x, y), s in found.items()]
            if start >= MAX_REFINE:
                break  # too many places could still pass: one full-resolution pass
            batch = peaks[start : start + _REFINE_BATCH]
            corners = [((x - rim) * factor, (y - rim) * factor) for x, y in batch]
            pad = factor + _REFINE_PAD
            if factor >= 4:
                # a half-resolution pass first: 4x cheaper, and sharper than the
                # coarse map, so few places go on to full resolution
                mid, mid_rim = feature.coarse_template(gray_tpl, 2)
                halves = _best_near(
                    feature.screen(2),
                    mid,
                    [(x // 2 + mid_rim, y // 2 + mid_rim) for x, y in corners],
                    factor // 2 + _REFINE_PAD,
                    sign,
                )
                kept = [
                    ((x - mid_rim) * 2, (y - mid_rim) * 2)
                    for x, y, score in halves
                    if score + MID_SLACK >= bound
                ]
                corners, pad = kept or ([] if found else corners[:1]), 2 + _REFINE_PAD
            for x, y, score in _best_near(full, full_tpl, corners, pad, sign):
                found[(x, y)] = score
                best = max(best, score)
        else:
            return [(x, y, s) for (x, y), s in found.items()]
    # small template, or a pattern that fits everywhere: correlate at full resolution
    scores = feature.full_scores(full_tpl)
    if sign < 0:
        scores = -scores
    _, high, _, (hx, hy) = cv2.minMaxLoc(scores)
    xs, ys = _local_peaks(scores, min(floor, high - margin))
    places: list[tuple[int, int, float]] = list(
        zip(xs.tolist(), ys.tolist(), scores[ys, xs].tolist(), strict=True)
    )
    return [*places, (int(hx), int(hy), float(high))]


def _best_near(
    screen: Image, template: Image, corners: list[tuple[int, int]], pad: int, sign: int
) -> list[tuple[int, int, float]]:
    """The best (x, y, sign * score) within ``pad`` of each estimated top-left corner.

    Each window (the template plus ``pad`` on every side) is laid out as one
    tile of a mosaic, and the mosaic is correlated in a single
    ``matchTemplate`` call: a result position whose template extent lies
    inside one tile depends on that tile's pixels only, so reading each tile's
    own block of the result gives exactly that window's scores.  One call
    instead of one per window, which on small windows is mostly overhead.
    """
    import cv2
    import numpy as np

    if not corners:
        return []
    th, tw = template.shape[:2]
    sh, sw = screen.shape[:2]
    height, width = min(sh, th + 2 * pad), min(sw, tw + 2 * pad)
    if height < th or width < tw:
        return []
    columns = max(1, min(len(corners), 2048 // width))
    rows = -(-len(corners) // columns)
    mosaic = np.zeros((rows * height, columns * width), screen.dtype)
    origins: list[tuple[int, int]] = []
    for index, (cx, cy) in enumerate(corners):
        x0 = min(max(0, cx - pad), sw - width)
        y0 = min(max(0, cy - pad), sh - height)
        r, c = divmod(index, columns)
        mosaic[r * height : (r + 1) * height, c * width : (c + 1) * width] = screen[
            y0 : y0 + height, x0 : x0 + width
        ]
        origins.append((x0, y0))
    scores = cv2.matchTemplate(mosaic, template, cv2.TM_CCOEFF_NORMED)
    if sign < 0:
        scores = -scores
    span_y, span_x = height - th + 1, width - tw + 1
    # every tile's own block of the result, side by side: (rows, columns, span_y * span_x)
    grid = np.full((rows * height, columns * width), -np.inf, np.float32)
    grid[: scores.shape[0], : scores.shape[1]] = scores
    blocks = grid.reshape(rows, height, columns, width)[:, :span_y, :, :span_x]
    blocks = blocks.transpose(0, 2, 1, 3).reshape(rows * columns, span_y * span_x)
    flat_best = np.argmax(blocks[: len(origins)], axis=1)
    values = blocks[np.arange(len(origins)), flat_best].tolist()
    pys, pxs = np.divmod(flat_best, span_x)
    return [
        (x0 + px, y0 + py, value)
        for (x0, y0), px, py, value in zip(origins, pxs.tolist(), pys.tolist(), values, strict=True)
    ]


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
    check_template(template)
    search = _Search(screen, template, confidence, not grayscale, margin)
    order = _ordered(scales)
    search.first_scale = order[0]
    plan: list[tuple[str, list[float]]] = [("direct", order[:1]), ("scales", order[1:])]
    plan += [("inverted", order), ("label", order)]
    if edges:
        plan += [("edges", order)]
    result = SearchResult(matches=[], best=None)
    for stage, stage_scales in plan:
        if not stage_scales:
            continue
        candidates, bar = search.stage(stage, stage_scales, result)
        if candidates and candidates[0].score >= bar:
            best = candidates[0]
            keep = min(bar, best.score - margin)
            result.candidates = [c for c in candidates if c.score >= keep][: max(limit, 2)]
            result.stage, result.bar, result.best = stage, bar, best
            passing = [c for c in result.candidates if c.score >= bar]
            result.matches = passing[:limit] if find_all else [best]
            return result
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
        self._ink: Any = None

    def scan(self, scale: float, sign: int, floor: float) -> list[tuple[int, int, float]]:
        """``_scan`` of the grey template at ``scale``, reusing an earlier scan of the same
        polarity when it is complete for ``floor``: its floor was no higher, or its best
        cleared its floor by the margin (then every place within the margin of the best,
        the only ones a lower floor could add that matter, was re-scored already)."""
        known = self._scans.get((scale, sign))
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

    def _template(self, scale: float) -> Image:
        if scale not in self._tpls:
            self._tpls[scale] = _resize(self.gray_tpl, scale)
        return self._tpls[scale]

    def stage(
        self, stage: str, scales: list[float], result: SearchResult
    ) -> tuple[list[Match], float]:
        """Distinct candidates of one stage over its scales, best first, and its bar."""
        bar = {
            "inverted": inverted_bar(self.confidence),
            "edges": edge_bar(self.confidence),
        }.get(stage, self.confidence)
        floor = bar - self.margin
        if stage == "label":
            return self._label_stage(bar, result), bar
        found: list[Match] = []
        for scale in scales:
            if stage in ("direct", "scales"):
                result.scales_tried.append(scale)
            for match in self._at_scale(stage, scale, floor):
                if result.best is None or match.score > result.best.score:
                    result.best = match
                if match.score >= floor:
                    found.append(match)
            if found and max(m.score for m in found) >= max(bar, EARLY_STOP):
                break
        distinct = _distinct(found)
        if stage == "edges" and len(distinct) > 1:
            # outlines of different places at different scales: the edge evidence
            # does not single out one place, and a guess is worse than not found
            return [], bar
        return distinct, bar

    def _at_scale(self, stage: str, scale: float, floor: float) -> list[Match]:
        tpl = self._template(scale)
        th, tw = tpl.shape[:2]
        if stage == "edges":
            raw = self._scan_edges(scale, floor)
            method = "edges"
        else:
            sign = -1 if stage == "inverted" else 1
            raw = self.scan(scale, sign, floor)
            method = "inverted" if sign < 0 else "gray"
        if not raw:
            return []
        # the places that pass the floor, and the best one (evidence when nothing passes)
        top = max(raw, key=lambda p: p[2])
        raw = [p for p in raw if p[2] >= floor] or [top]
        matches = [Match(x, y, tw, th, score, scale, method) for x, y, score in raw]
        if method == "gray" and self.color:
            matches = [self._colour(m) if m.score >= floor else m for m in matches]
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
        edge_tpl = edge_map(tpl)
        if float(edge_tpl.std()) < MIN_TEMPLATE_STDDEV / 2:
            return []
        kept = []
        gap = max(self.margin, EDGE_GREY_GAP)
        for sign in (1, -1):
            # away from the first scale, only where the grey stages already saw a place
            # good enough (a cheap filter: a full scan down to the support at every
            # scale cost more than all the other stages together)
            known = self._scans.get((scale, sign))
            seen = max((p[2] for p in known[1]), default=-1.0) if known else 1.0
            if scale != self.first_scale and seen < EDGE_GREY_SUPPORT:
                continue
            if self._split(scale, sign, gap, tw, th):
                continue
            top = self.best(scale, sign, EDGE_GREY_SUPPORT)
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
            if gap > self.margin:
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

    def _label_stage(self, bar: float, result: SearchResult) -> list[Match]:
        """The template's label at any size and polarity (see ``labels``): the best
        place, when every other distinct place scores ``LABEL_GAP`` below it."""
        from automation.blocks.desktop import labels

        label = labels.extract(self.gray_tpl)
        if label is None:
            return []
        if self._ink is None:
            self._ink = labels.ScreenInk(self.gray.gray)
        th, tw = self.gray_tpl.shape[:2]
        found, best = labels.answer(self._ink, label, bar, (th, tw))
        if best is not None and (result.best is None or best.score > result.best.score):
            result.best = best
        return found

    def _colour(self, found: Match) -> Match:
        """Grey agreed; score the colours too (a red and a green button differ)."""
        x0, y0 = max(0, found.x - 1), max(0, found.y - 1)
        window = to_bgr(
            self.screen[y0 : found.y + found.height + 1, x0 : found.x + found.width + 1]
        )
        x, y, score = _best_in(window, _resize(to_bgr(self.template), found.scale), 1)
        return Match(x0 + x, y0 + y, found.width, found.height, score, found.scale, "color")


def _distinct(found: list[Match]) -> list[Match]:
    """Best first, one per place: lower-scoring copies of a place (other scales) are dropped."""
    kept: list[Match] = []
    for match in sorted(found, key=lambda m: -m.score):
        if not any(match.same_place(k) for k in kept):
            kept.append(match)
    return kept


def inverted_bar(confidence: float) -> float:
    """The bar for a light/dark-swapped match: stricter, since text on a plain
    background anti-correlates with light text on a dark button."""
    return max(confidence, INVERTED_CONFIDENCE)


def edge_bar(confidence: float) -> float:
    """The bar edge correlation must reach for a given grey ``confidence``."""
    return max(_EDGE_CONFIDENCE_FLOOR, confidence)


def _ordered(scales: Iterable[float]) -> list[float]:
    seen: list[float] = []
    for scale in scales:
        value = round(float(scale), 4)
        if value <= 0:
            raise ValueError(f"scales must be positive, got {scale}")
        if value not in seen:
            seen.append(value)
    return seen or [1.0]
