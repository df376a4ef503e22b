"""Template correlation over a whole screen, fast: the machinery under ``matching``.

A full-resolution ``matchTemplate`` over a 1920x1080 screen for every scale and
stage costs far more than a step may take, so correlation runs coarse first
(downsampled screen and template), keeps every place that could still pass the
bar (``coarse_slack`` below it: a coarse pass may prune, never drop the true
best), and re-scores those at full resolution (through the half-resolution map
when the coarse one lets too many through).  Plain parts of the screen score
0 against any template with contrast, so only the busy box is correlated.

``matching`` decides what a match is (stages, bars, ambiguity); this module only
answers "how well does this template correlate where".  OpenCV and numpy are
imported inside the functions, for the same reason as in ``matching``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]
    FloatImage: TypeAlias = npt.NDArray[Any]

#: Coarse peaks this far below the bar are still re-scored at full resolution.
COARSE_SLACK = 0.3
#: ... or this far, on a half-resolution map and for floors of at least ``TIGHT_FROM``
#: (see ``coarse_slack``: 0.15 measured).
HALF_SLACK = 0.18
TIGHT_FROM = 0.8
#: A place with less than this share of the template's contrast cannot be it.
MIN_CONTRAST_RATIO = 0.3
#: Half-resolution scores this far below the bar still go on to full resolution (0.18
#: measured, see ``coarse_slack``).  At 0.25 a nearly blank key absent from the screen
#: sent every key face (0.55-0.58 at half resolution, 0.44-0.64 at full) on: 260 windows
#: at one scale of speedcrunch's 100 % light screen, 14 at 0.21.
MID_SLACK = 0.21
#: More coarse peaks than this: correlate the whole screen at full resolution instead.
MAX_REFINE = 400
_COARSE_MIN_SIDE = 6
_COARSE_MAX_FACTOR = 4
_REFINE_PAD = 2
_REFINE_BATCH = 48
#: The widest strip of windows correlated in one call (``_best_near``).  Measured on a
#: captured keypad (48 windows padded by 4, least of 9 runs): a 70x55 template took
#: 1.9 ms in strips of 512 pixels against 4.5 ms in the 2048-pixel rows of a mosaic of
#: several rows, and 2.5 ms one window at a time; 100x80, 4.5 ms against 12.0 and 5.9;
#: 40x30, 1.0 against 1.7 and 1.1; 28x22, 0.56 against 0.53 and 1.05.
_STRIP_WIDTH = 512
_COARSE_RIM = 1
#: Above one place in this many passing the floor, local peaks are found by dilation.
_PEAK_GATHER_SHARE = 64
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


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
        self._spread: dict[tuple[int, int, int], tuple[FloatImage, int, int]] = {}
        # per factor, the box (x0, y0, x1, y1) outside which the screen is plain
        self._busy: dict[int, tuple[int, int, int, int]] = {}
        # per template map not yet correlated, the area of the windows correlated instead
        self._spent: dict[tuple[int, int], int] = {}
        # per template (by id, kept as above) and factor, its coarse copy less its rim: a
        # scan asks for the half-resolution one in every batch of peaks
        self._coarse_tpls: dict[tuple[int, int], tuple[Image, Image, int]] = {}
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
        key = (id(gray_tpl), factor)
        if key not in self._coarse_tpls:
            coarse = _coarse(gray_tpl, factor)
            rim = _COARSE_RIM if min(coarse.shape[:2]) > 2 * _COARSE_RIM + 2 else 0
            inner = coarse[rim : coarse.shape[0] - rim, rim : coarse.shape[1] - rim]
            self._coarse_tpls[key] = (gray_tpl, inner, rim)
        _, inner, rim = self._coarse_tpls[key]
        return inner, rim

    def mark(self) -> tuple[dict[tuple[int, int], int], set[tuple[int, int]], set[int]]:
        """What decides whether a window is read off a map or correlated alone: the
        windows paid for per map, the maps made and the busy boxes found (``best_near``)."""
        return dict(self._spent), set(self._scores), set(self._busy)

    def back_to(
        self, mark: tuple[dict[tuple[int, int], int], set[tuple[int, int]], set[int]]
    ) -> None:
        """Back to ``mark``, so scans done again score their windows as they did then (a
        score read off a map rounds differently, 1e-4)."""
        spent, maps, boxes = mark
        self._spent = dict(spent)
        for key in [key for key in self._scores if key not in maps]:
            del self._scores[key]
        for factor in [factor for factor in self._busy if factor not in boxes]:
            del self._busy[factor]

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

    def mapped(self, gray_tpl: Image, level: int) -> bool:
        """Whether the template's map at ``level`` (1 or 2, as ``best_near``) is made."""
        return (id(gray_tpl), 1 if level == 1 else -2) in self._scores

    def best_near(
        self,
        gray_tpl: Image,
        level: int,
        corners: list[tuple[int, int]],
        pad: int,
        sign: int,
        ahead: int = 0,
    ) -> list[tuple[int, int, float]]:
        """``_best_near`` of the template on the screen at full (``level`` 1) or half
        resolution (``level`` 2: the template's half-resolution copy, less its rim).

        Windows are correlated one mosaic at a time until they have cost as much as
        the template's whole map over the busy part of the screen; from then on
        (and whenever that map exists already) each window's best is read off the
        map.  A scan with a handful of peaks stays cheap, and one with hundreds
        (keys of a keypad at a scale that fits none of them) pays at most about
        twice the map; both polarities and every floor share it.  The windows and
        the best in each are those ``_best_near`` takes.

        ``ahead`` is how many windows the scan is sure to ask for, these
        included (``_refined``: while nothing lifts its bound, every peak left,
        and at full resolution each of them whose half-resolution score sends
        it on).  When they would cost more than the map, the map is made at once
        instead of after a map's worth of mosaics: a nearly blank key absent
        from qalculate-gtk's 100 % light screen fits every key face at half
        resolution, and its half-resolution mosaics were a fifth of its CPU.
        """
        import numpy as np

        if level == 1:
            template, screen, key = gray_tpl, self.gray, (id(gray_tpl), 1)
        else:
            template, rim = self.coarse_template(gray_tpl, 2)
            screen, key = self.screen(2), (id(gray_tpl), -2)
        th, tw = template.shape[:2]
        if key not in self._scores:
            count = max(len(corners), ahead)
            spent = self._spent.get(key, 0) + count * (th + 2 * pad) * (tw + 2 * pad)
            if spent < self._map_area(level, tw, th):
                self._spent[key] = spent
                return _best_near(screen, template, corners, pad, sign, strips=True)
            if level == 1:
                self.full_scores(gray_tpl)
            else:
                self._scores[key] = (gray_tpl, self.correlate(2, template), rim)
        scores = self._scores[key][1]
        sh, sw = screen.shape[:2]
        height, width = min(sh, th + 2 * pad), min(sw, tw + 2 * pad)
        if not corners or height < th or width < tw:
            return []
        xs, ys = np.array(corners, np.intp).reshape(-1, 2).T
        x0s = np.minimum(np.maximum(0, xs - pad), sw - width)
        y0s = np.minimum(np.maximum(0, ys - pad), sh - height)
        span_y, span_x = height - th + 1, width - tw + 1
        blocks = scores[
            y0s[:, None, None] + np.arange(span_y)[None, :, None],
            x0s[:, None, None] + np.arange(span_x)[None, None, :],
        ].reshape(len(corners), span_y * span_x)
        if sign < 0:
            blocks = -blocks
        flat_best = np.argmax(blocks, axis=1)
        values = blocks[np.arange(len(corners)), flat_best].tolist()
        pys, pxs = np.divmod(flat_best, span_x)
        return [
            (x + px, y + py, value)
            for x, y, px, py, value in zip(
                x0s.tolist(), y0s.tolist(), pxs.tolist(), pys.tolist(), values, strict=True
            )
        ]

    def _map_area(self, level: int, w: int, h: int) -> int:
        """About how many places a map at ``level`` covers: the windows that meet the
        busy box, taken from a coarser screen's box when one is known (finding the
        box of the full screen costs a few milliseconds, more than a search that
        ends on a handful of windows does)."""
        if level in self._busy or not self._busy:
            x0, y0, x1, y1 = self._around_busy(level, w, h)
            return (x1 - x0) * (y1 - y0)
        factor = max(self._busy)
        x0, y0, x1, y1 = self._busy[factor]
        ratio = factor / level
        return round((x1 - x0) * ratio + w) * round((y1 - y0) * ratio + h)

    def busy_box(self, factor: int) -> tuple[int, int, int, int]:
        """The box (x0, y0, x1, y1) of ``screen(factor)`` outside which it is plain
        (``_busy_box``), found once per search."""
        if factor not in self._busy:
            self._busy[factor] = _busy_box(self.screen(factor))
        return self._busy[factor]

    def _around_busy(self, factor: int, w: int, h: int) -> tuple[int, int, int, int]:
        """The part (x0, y0, x1, y1) of ``screen(factor)`` covered by the windows of size
        (``w``, ``h``) that meet its busy box."""
        x0, y0, x1, y1 = self.busy_box(factor)
        sh, sw = self.screen(factor).shape[:2]
        return max(0, x0 - w + 1), max(0, y0 - h + 1), min(sw, x1 + w - 1), min(sh, y1 + h - 1)

    def screen(self, factor: int) -> Image:
        if factor not in self._cache:
            self._cache[factor] = _coarse(self.gray, factor)
        return self._cache[factor]

    def flat(self, factor: int, size: tuple[int, int], spread: float) -> tuple[Any, int, int]:
        """Where the coarse screen under a template of ``size`` (h, w) has less than
        ``MIN_CONTRAST_RATIO`` of the template's ``spread``: nothing there can be
        the template (its correlation there is noise on a near-flat patch).

        Only the windows that meet the busy box are answered, as a mask and the
        place (x, y) of its top-left corner on the map: every other window is
        plain (its spread is 0, so it is flat) and ``correlate`` scored it 0
        already."""
        import cv2
        import numpy as np

        key = (factor, *size)
        if key not in self._spread:
            if factor not in self._floats:
                values = self.screen(factor).astype(np.float32)
                self._floats[factor] = (values, values * values)
            screen, squared = self._floats[factor]
            h, w = size
            cx0, cy0, cx1, cy1 = self._around_busy(factor, w, h)
            spreads = np.zeros((0, 0), np.float32)
            if cx1 - cx0 >= w and cy1 - cy0 >= h:
                part, part_squared = screen[cy0:cy1, cx0:cx1], squared[cy0:cy1, cx0:cx1]
                mean = cv2.boxFilter(
                    part, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
                )
                square = cv2.boxFilter(
                    part_squared, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
                )
                # square - mean * mean, floored at 0, square-rooted: in place
                np.multiply(mean, mean, out=mean)
                np.subtract(square, mean, out=square)
                np.maximum(square, 0, out=square)
                spreads = np.sqrt(square, out=square)[: cy1 - cy0 - h + 1, : cx1 - cx0 - w + 1]
            self._spread[key] = (spreads, cx0, cy0)
        spreads, x0, y0 = self._spread[key]
        return spreads < MIN_CONTRAST_RATIO * spread, x0, y0

    def coarse_scores(self, gray_tpl: Image, factor: int) -> tuple[FloatImage, int]:
        """The coarse correlation map of one template and the rim it leaves out.

        Cached: both signs read it.  The map's (x, y) is where the template's
        inner part starts; the template itself starts ``rim`` coarse pixels
        earlier.
        """
        import cv2

        key = (id(gray_tpl), factor)
        if key not in self._scores:
            inner, rim = self.coarse_template(gray_tpl, factor)
            scores = self.correlate(factor, inner)
            cv2.patchNaNs(scores, 0.0)
            flat, x0, y0 = self.flat(factor, inner.shape[:2], float(inner.std()))
            scores[y0 : y0 + flat.shape[0], x0 : x0 + flat.shape[1]][flat] = 0.0
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


def coarse_slack(factor: int, floor: float) -> float:
    """How far below ``floor`` a coarse peak of a map shrunk by ``factor`` must still
    be re-scored at full resolution.

    The slack is the most a place that reaches the floor at full resolution
    can lose on the coarse map, with room to spare.  Measured on the keypads
    of galculator, qalculate-gtk and speedcrunch captured on Xvfb (the screens
    under ``tests/unit/automation/desktop/keypads``; every second key of
    ``bench_targeting``'s captures as template, whole and glyph-only, at each
    default scale and in both signs, against an exhaustive full-resolution
    map; flat windows aside, see ``_Feature.flat``), the
    places scoring at least 0.8 lost at most 0.15 on the half-resolution map
    (factor 2, 780 places) and 0.25 on the quarter-resolution one (factor 4,
    1337 places; 0.18 at half resolution, the ``MID_SLACK`` step).  Places
    scoring less lose more (up to 0.5 between 0.6 and 0.8: their likeness is
    in fine detail the blur removes), so the tighter ``HALF_SLACK`` holds only
    for floors of at least ``TIGHT_FROM``, the floors of the grey stages at
    the default confidence; scans down to lower floors (the edge stage's
    evidence) keep ``COARSE_SLACK``.  ``test_pruning_captured`` checks both
    against the exhaustive map on captured keypads, with every slack 0.03
    smaller still.  The slacks were 0.2 (``HALF_SLACK``) and 0.25 (``MID_SLACK``)
    until searches for keys absent from the screen were measured: their every
    key face came within 0.25 at half resolution, and was re-scored for
    nothing at every scale (a nearly blank foreign key on qalculate-gtk's
    100 % light screen: 211 ms CPU, 143 with the tighter slacks).
    """
    if factor == 2 and floor >= TIGHT_FROM - 1e-9:
        return HALF_SLACK
    return COARSE_SLACK


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
        rows = {-1: np.maximum(ys - 1, 0), 0: ys, 1: np.minimum(ys + 1, height - 1)}
        columns = {-1: np.maximum(xs - 1, 0), 0: xs, 1: np.minimum(xs + 1, width - 1)}
        for dy, dx in _NEIGHBOURS:
            peak &= values >= scores[rows[dy], columns[dx]]
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
    the rest are skipped only once even ``coarse_slack`` above its coarse score
    the next could not reach the floor nor come within the margin of the best
    so far.  When more than ``MAX_REFINE`` peaks would need re-scoring, a
    template shrunk by four goes on with the half-resolution map (its peaks
    within ``MID_SLACK``, the slack of the half-resolution pass, and only
    for floors of at least ``TIGHT_FROM``, where that slack was measured):
    on a keypad at a scale that fits none of its keys the quarter-resolution
    map let hundreds of places through (every key looks alike that coarse)
    and the half-resolution one none or a few, and the full-resolution map
    correlated for them was 20 % of the CPU of the 200 % dark searches of
    ``bench_targeting``.  Only when that overflows too (a pattern that fits
    everywhere) is the whole screen correlated at full resolution.
    ``test_half_pass_captured`` checks that step against the exhaustive map.
    """
    import cv2

    margin = feature.margin if margin is None else margin
    th, tw = gray_tpl.shape[:2]
    sh, sw = feature.gray.shape[:2]
    if th > sh or tw > sw or th < 3 or tw < 3:
        return []
    factor = _coarse_factor(tw, th)
    places: list[tuple[int, int, float]] | None = None
    if factor > 1:
        places = _refined(
            feature, gray_tpl, sign, floor, margin, factor, coarse_slack(factor, floor)
        )
        if places is None and factor > 2 and floor >= TIGHT_FROM - 1e-9:
            # the quarter-resolution map let too many places through: the half-resolution
            # one, as sharp as the pass that follows it, often lets through few or none
            places = _refined(feature, gray_tpl, sign, floor, margin, 2, MID_SLACK)
    if places is not None:
        return places
    # small template, or a pattern that fits everywhere: correlate at full resolution
    scores = feature.full_scores(gray_tpl)
    if sign < 0:
        scores = -scores
    _, high, _, (hx, hy) = cv2.minMaxLoc(scores)
    xs, ys = _local_peaks(scores, min(floor, high - margin))
    peaks = zip(xs.tolist(), ys.tolist(), scores[ys, xs].tolist(), strict=True)
    return [*peaks, (int(hx), int(hy), float(high))]


def _refined(
    feature: _Feature,
    gray_tpl: Image,
    sign: int,
    floor: float,
    margin: float,
    factor: int,
    slack: float,
) -> list[tuple[int, int, float]] | None:
    """``_scan``'s coarse-to-fine pass on the map shrunk by ``factor``: every coarse peak
    within ``slack`` of what could still pass, re-scored at full resolution; None when
    more than ``MAX_REFINE`` would need it."""
    import cv2
    import numpy as np

    scores, rim = feature.coarse_scores(gray_tpl, factor)
    coarse = scores if sign > 0 else -scores
    xs, ys = _local_peaks(coarse, floor - slack)
    if not len(xs):
        _, _, _, (tx, ty) = cv2.minMaxLoc(coarse)
        xs, ys = np.array([tx]), np.array([ty])
    levels = coarse[ys, xs].tolist()
    peaks = list(zip(xs.tolist(), ys.tolist(), strict=True))
    found: dict[tuple[int, int], float] = {}
    best = -1.0
    for start in range(0, len(peaks), _REFINE_BATCH):
        bound = max(floor, best - margin)
        if found and levels[start] + slack < bound:
            return [(x, y, s) for (x, y), s in found.items()]
        if start >= MAX_REFINE or _bound_to_overflow(levels, start, floor, best, margin, slack):
            return None  # too many places could still pass
        batch = peaks[start : start + _REFINE_BATCH]
        corners = [((x - rim) * factor, (y - rim) * factor) for x, y in batch]
        pad = factor + _REFINE_PAD
        # while nothing lifts the bound over the floor, every peak left is re-scored
        # (unless there are so many that the scan may give up: ``_bound_to_overflow``)
        sure = bound <= floor and len(peaks) <= _last_batch()
        ahead = len(peaks) - start if sure else 0
        if factor >= 4:
            # a half-resolution pass first: 4x cheaper, and sharper than the
            # coarse map, so few places go on to full resolution
            mid, mid_rim = feature.coarse_template(gray_tpl, 2)
            half_pad = factor // 2 + _REFINE_PAD
            halves = feature.best_near(
                gray_tpl,
                2,
                [(x // 2 + mid_rim, y // 2 + mid_rim) for x, y in corners],
                half_pad,
                sign,
                ahead,
            )
            kept = [
                ((x - mid_rim) * 2, (y - mid_rim) * 2)
                for x, y, score in halves
                if score + MID_SLACK >= bound
            ]
            corners, pad = kept or ([] if found else corners[:1]), 2 + _REFINE_PAD
            if sure and feature.mapped(gray_tpl, 2):
                # the peaks left, read off the half-resolution map: how many go on
                rest = [
                    ((x - rim) * factor // 2 + mid_rim, (y - rim) * factor // 2 + mid_rim)
                    for x, y in peaks[start + _REFINE_BATCH :]
                ]
                later = feature.best_near(gray_tpl, 2, rest, half_pad, sign)
                ahead = len(corners) + sum(score + MID_SLACK >= bound for _, _, score in later)
            else:
                ahead = 0
        for x, y, score in feature.best_near(gray_tpl, 1, corners, pad, sign, ahead):
            found[(x, y)] = score
            best = max(best, score)
    return [(x, y, s) for (x, y), s in found.items()]


def _bound_to_overflow(
    levels: list[float], start: int, floor: float, best: float, margin: float, slack: float
) -> bool:
    """True when re-scoring the coarse peaks from ``start`` on is sure to reach the
    batch past ``MAX_REFINE`` and end in the full-resolution pass anyway.

    ``levels`` are the coarse peaks' levels, best first.  A peak is skipped only
    once the bound (the floor, or the best so far less the margin) rises above
    its level plus ``slack``; and no place from ``start`` on can score
    more than ``levels[start]`` plus that slack (the premise of the coarse
    pass).  So when even that best could not lift the bound above the last
    batch's level plus the slack, every batch before it would be re-scored and
    then thrown away for the full-resolution map: on a keypad at a scale that
    fits no key, that was most of a search's time.
    """
    last = _last_batch()
    if len(levels) <= last:
        return False
    ceiling = max(best, min(1.0, levels[start] + slack))
    return levels[last] + slack >= max(floor, ceiling - margin)


def _last_batch() -> int:
    """The index of the first coarse peak of the first batch past ``MAX_REFINE``."""
    return -(-MAX_REFINE // _REFINE_BATCH) * _REFINE_BATCH


def _best_near(
    screen: Image,
    template: Image,
    corners: list[tuple[int, int]],
    pad: int,
    sign: int,
    strips: bool = False,
) -> list[tuple[int, int, float]]:
    """The best (x, y, sign * score) within ``pad`` of each estimated top-left corner.

    Each window (the template plus ``pad`` on every side) is laid out as one
    tile of a mosaic, and the mosaic is correlated in a single
    ``matchTemplate`` call: a result position whose template extent lies
    inside one tile depends on that tile's pixels only, so reading each tile's
    own block of the result gives exactly that window's scores.  One call
    instead of one per window, which on small windows is mostly overhead.

    With ``strips`` the tiles are laid out in strips at most ``_STRIP_WIDTH``
    wide, one call each, and a window met twice (two coarse peaks that lead
    to one place) is correlated once: a mosaic of several 2048-pixel rows cost
    more than twice as much for big templates.  The scores are the same up
    to float rounding (1e-4); ``_scan`` takes strips, the label stage does not
    (its choice between two sizes of a label has hung on 1e-6).
    """
    import numpy as np

    if not corners:
        return []
    th, tw = template.shape[:2]
    sh, sw = screen.shape[:2]
    height, width = min(sh, th + 2 * pad), min(sw, tw + 2 * pad)
    if height < th or width < tw:
        return []
    origins = [
        (min(max(0, cx - pad), sw - width), min(max(0, cy - pad), sh - height))
        for cx, cy in corners
    ]
    if strips:
        distinct = list(dict.fromkeys(origins))
        per_strip = max(1, _STRIP_WIDTH // width)
        blocks = np.concatenate(
            [
                _mosaic_blocks(
                    screen, template, distinct[start : start + per_strip], height, width, sign
                )
                for start in range(0, len(distinct), per_strip)
            ]
        )
        row = {origin: number for number, origin in enumerate(distinct)}
        blocks = blocks[[row[origin] for origin in origins]]
    else:
        blocks = _mosaic_blocks(screen, template, origins, height, width, sign)
    span_x = width - tw + 1
    flat_best = np.argmax(blocks, axis=1)
    values = blocks[np.arange(len(origins)), flat_best].tolist()
    pys, pxs = np.divmod(flat_best, span_x)
    return [
        (x0 + px, y0 + py, value)
        for (x0, y0), px, py, value in zip(origins, pxs.tolist(), pys.tolist(), values, strict=True)
    ]


def _mosaic_blocks(
    screen: Image,
    template: Image,
    origins: list[tuple[int, int]],
    height: int,
    width: int,
    sign: int,
) -> FloatImage:
    """The scores of each window (top-left ``origins``, ``height`` x ``width``) as one
    row each, correlated as the tiles of one mosaic in rows of at most 2048 pixels
    (see ``_best_near``)."""
    import cv2
    import numpy as np

    th, tw = template.shape[:2]
    columns = max(1, min(len(origins), 2048 // width))
    rows = -(-len(origins) // columns)
    mosaic = np.zeros((rows * height, columns * width), screen.dtype)
    for index, (x0, y0) in enumerate(origins):
        r, c = divmod(index, columns)
        mosaic[r * height : (r + 1) * height, c * width : (c + 1) * width] = screen[
            y0 : y0 + height, x0 : x0 + width
        ]
    scores = cv2.matchTemplate(mosaic, template, cv2.TM_CCOEFF_NORMED)
    if sign < 0:
        scores = -scores
    span_y, span_x = height - th + 1, width - tw + 1
    # every tile's own block of the result, side by side: (rows, columns, span_y * span_x)
    grid = np.full((rows * height, columns * width), -np.inf, np.float32)
    grid[: scores.shape[0], : scores.shape[1]] = scores
    blocks = grid.reshape(rows, height, columns, width)[:, :span_y, :, :span_x]
    blocks = blocks.transpose(0, 2, 1, 3).reshape(rows * columns, span_y * span_x)
    return blocks[: len(origins)]
