"""A label whose pieces the toolkit drew at their own size, spread over a bigger key.

A toolkit that draws a key bigger lays its label out on the bigger face but
may draw each piece of it at its own pixel size: qalculate's "‹ ›" push
button at 150 % is 1.17 times as wide as at 100 %, its separator 1.7 times
as long, and its two arrows pixel for pixel as captured, 24 pixels apart
instead of 19.  No single scale fits the whole key (grey correlation peaks
at 0.73 at 115 % light, -0.71 at 120 % dark, under the bar), and the label
stage cannot take over: the label's tallest ink is a stretch of the faint
separator, whose length on screen depends on the face's gradient.  Both
themes' whole crops were missed (2 of ``bench_targeting --every 4``).

So when every stage found nothing, a template whose label has two pieces or
more (``glyphs.pieces``) is answered where all of this holds:

* every piece is on the screen unblurred at its captured size, scoring at
  least ``PIECE_BAR``, all in one polarity, and at **one place only**: a
  piece drawn pixel for pixel twice (a letter of the screen's font, on many
  keys) cannot say which is the label's, and then nothing is answered;
* their places are the label's layout spread by one factor between 1 and
  ``MAX_SPREAD`` (the largest display scale tried), each piece within
  ``LAYOUT_PAD`` pixels of where that spread puts it;
* the whole template still correlates at least ``WHOLE_FLOOR`` there (in
  the pieces' polarity) at some size from its captured one to the spread
  (a key may grow less than its label's layout): the key around the label
  is the template's key, only drawn otherwise;
* the face around the pieces is as clear of ink as the template's
  (``keyface``, measured from the pieces' box, at the spread), the
  template's face ending at ink of half the usual contrast
  (``FAINT_CONTRAST``): the separator of qalculate's "⌄ ⌃" key is 19 to
  26 grey levels darker than the face at 100 %, and its upper part, under
  the usual 24, read as clear face; at 150 % it is 24 darker there, and
  its 4 pixels above the arrows refused the key, light;
* no stage refused that place, nor was the whole template seen there in grey
  and refused on its colours: a check that said no is not overruled.

Measured on the "‹ ›" key at 150 % (``bench_targeting --from
/tmp/hitrate/saved``): the arrows score 1.000 and 1.000 light, 0.990 and
0.991 swapped dark; the next place of either arrow anywhere on the screen
scores 0.69 and 0.86 (light), 0.71 and 0.86 (dark), under ``COPY_BAR``;
spread 1.26; the whole template 0.71 light and 0.72 dark at 120 %; no ink
in the face beside the arrows (read at the usual contrast, 2 pixels of the
separator's tip above them, light, where ``keyface.FACE_STRAY`` allows 2).
Over every case of the replays, with the checks that only refuse (refusals,
colours) left out, the pieces answer 46 of the 2,660 present buttons
(``--every 1``; all at the true key: "‹ ›", "⌄ ⌃", "f(x)", galculator's
square root, at 100-150 %), none of the 2,660 painted-out buttons
(``bench_absent_targets --every 1``), none of the 1,920 foreign labels
(``--foreign``), and 24 of the 5,448 templates cut at one scale and
searched at another (``bench_cross_scale --every 1``), all at the true key.
Only when every other stage found nothing are the pieces looked for: the first
(biggest) piece is one scan of the screen's busy part, and most labels end
there (median 0.6 ms, at most 12 ms of CPU on qalculate's absent keys at
100 %); the others are looked for near it before the screen is scanned for
them.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.matching import Match, SearchResult, _Search

    Image: TypeAlias = npt.NDArray[Any]

#: Every piece must correlate this well, unblurred at its captured size.
PIECE_BAR = 0.95
#: Places of a piece scoring this much are copies of it: two of them, and nothing is answered.
COPY_BAR = 0.9
#: The pieces' layout may be spread by at most this factor.
MAX_SPREAD = 2.0
#: Each piece must lie within this many pixels of where the spread puts it.
LAYOUT_PAD = 1.5
#: The whole template, at some size from its captured one to the spread, must still
#: correlate this well there, within ``WHOLE_PAD`` pixels; sizes tried ``WHOLE_STEP`` apart.
WHOLE_FLOOR = 0.6
WHOLE_PAD = 3
WHOLE_STEP = 0.05
#: The template's clear face around the pieces ends at ink this faint (grey levels).
FAINT_CONTRAST = 12
#: Pieces of a label beyond this many are not looked for (each costs a scan of the screen).
MAX_PIECES = 4


def answer(search: _Search, result: SearchResult) -> Match | None:
    """The place where the label's pieces are, each at its captured size, spread by one
    factor (see the module docstring), or None."""
    import numpy as np

    from automation.blocks.desktop import glyphs, keyface
    from automation.blocks.desktop.matching import Match

    label = search.label(anchored=False)
    if label is None:
        return None
    parts = glyphs.pieces(label)
    if not 2 <= len(parts) <= MAX_PIECES:
        return None
    gray = search.gray.gray
    x0, y0, x1, y1 = search.gray.busy_box(1)
    area = gray[y0:y1, x0:x1]
    parts = sorted(parts, key=lambda p: -p[4])
    maps: list[Image] = []
    for px, py, pw, ph, _ in parts:
        piece = np.ascontiguousarray(label.image[py : py + ph, px : px + pw])
        if float(piece.std()) < 1.0 or area.shape[0] < ph or area.shape[1] < pw:
            return None
    # the biggest piece first: most labels end there (absent, or drawn more than once),
    # and the others' scans are not made
    placed: list[list[tuple[float, float, float]] | None] = [None, None]
    for index, sign in enumerate((1, -1)):
        first = _placed(_maps(area, label.image, parts[:1], maps), parts[:1], sign)
        if first is None:
            continue
        # then, before scanning the screen for them, the other pieces where a spread
        # from 1 to ``MAX_SPREAD`` may put them beside the first (a cheaper necessary test)
        start = (x0 + first[0][0], y0 + first[0][1])
        if all(_nearby(gray, label.image, parts[0], part, start, sign) for part in parts[1:]):
            placed[index] = _placed(_maps(area, label.image, parts, maps), parts, sign)
    if sum(p is not None for p in placed) != 1:
        return None  # nowhere, or in both polarities: no one place
    sign = 1 if placed[0] is not None else -1
    found = [(x0 + x, y0 + y, score) for x, y, score in placed[0] or placed[1] or []]
    centres = [(px + pw / 2, py + ph / 2) for px, py, pw, ph, _ in parts]
    spread = _spread(centres, [(x, y) for x, y, _ in found])
    if spread is None:
        return None
    # the template's box around the label, spread alike, placed on the pieces' centroid
    th, tw = search.gray_tpl.shape[:2]
    mx = sum(x for x, _, _ in found) / len(found)
    my = sum(y for _, y, _ in found) / len(found)
    tx = label.x + sum(x for x, _ in centres) / len(centres)
    ty = label.y + sum(y for _, y in centres) / len(centres)
    width, height = round(tw * spread), round(th * spread)
    match = Match(
        round(mx - tx * spread),
        round(my - ty * spread),
        width,
        height,
        min(score for _, _, score in found),
        round(spread, 2),
        "label-pieces",
    )
    if any(match.same_place(refusal.match) for refusal in result.refused):
        return None
    if any(match.same_place(grey) for grey, _ in search.off_colour):
        return None
    if _whole(gray, search.gray_tpl, (mx - tx, my - ty), spread, sign) < WHOLE_FLOOR:
        return None
    # the face: measured from the pieces' box, as the template shows it clear
    bx0 = min(px for px, _, _, _, _ in parts)
    by0 = min(py for _, py, _, _, _ in parts)
    bx1 = max(px + pw for px, _, pw, _, _ in parts)
    by1 = max(py + ph for _, py, _, ph, _ in parts)
    boxed = replace(label, ink=(bx0, by0, bx1 - bx0, by1 - by0))
    clear = keyface.extent(search.gray_tpl, boxed, FAINT_CONTRAST)
    if keyface.refusal_reason(gray, boxed, clear, match) is not None:
        return None
    return match


def _whole(
    gray: Image, template: Image, origin: tuple[float, float], spread: float, sign: int
) -> float:
    """The best correlation (in polarity ``sign``) of the whole template around the
    pieces' centroid, at the sizes from its captured one to ``spread`` in steps of
    ``WHOLE_STEP``: a key may grow less than its label's layout (qalculate's "‹ ›"
    key 1.17 times, its arrows' layout 1.26).  ``origin``: the template's corner on
    screen were it at its captured size, the pieces' centroid fixed."""
    import cv2

    from automation.blocks.desktop.correlation import _best_near

    th, tw = template.shape[:2]
    cx, cy = origin[0] + tw / 2, origin[1] + th / 2
    best = -1.0
    steps = int((spread - 1.0) / WHOLE_STEP) + 1
    for size in [1.0 + WHOLE_STEP * n for n in range(steps)] + [spread]:
        width, height = round(tw * size), round(th * size)
        tpl = (
            template
            if size == 1.0
            else cv2.resize(template, (width, height), interpolation=cv2.INTER_CUBIC)
        )
        corner = (round(cx - width / 2), round(cy - height / 2))
        near = _best_near(gray, tpl, [corner], WHOLE_PAD, sign)
        best = max([best] + [score for _, _, score in near])
    return best


def _nearby(
    gray: Image,
    image: Image,
    first: tuple[int, int, int, int, int],
    part: tuple[int, int, int, int, int],
    start: tuple[float, float],
    sign: int,
) -> bool:
    """True when ``part`` scores ``PIECE_BAR`` (polarity ``sign``) somewhere a spread
    from 1 to ``MAX_SPREAD`` may put it, the first piece's centre at ``start``: within
    twice ``LAYOUT_PAD`` and a pixel of that segment (both pieces may be off)."""
    import cv2
    import numpy as np

    px, py, pw, ph, _ = part
    dx = px + pw / 2 - (first[0] + first[2] / 2)
    dy = py + ph / 2 - (first[1] + first[3] / 2)
    ends = [(start[0] + dx * f, start[1] + dy * f) for f in (1.0, MAX_SPREAD)]
    pad = 2 * LAYOUT_PAD + 1
    height, width = gray.shape[:2]
    wx0 = max(0, int(min(x for x, _ in ends) - pw / 2 - pad))
    wy0 = max(0, int(min(y for _, y in ends) - ph / 2 - pad))
    wx1 = min(width, int(max(x for x, _ in ends) + pw / 2 + pad) + 1)
    wy1 = min(height, int(max(y for _, y in ends) + ph / 2 + pad) + 1)
    if wx1 - wx0 < pw or wy1 - wy0 < ph:
        return False
    piece = np.ascontiguousarray(image[py : py + ph, px : px + pw])
    scores = cv2.matchTemplate(gray[wy0:wy1, wx0:wx1], piece, cv2.TM_CCOEFF_NORMED)
    return float((scores * sign).max()) >= PIECE_BAR


def _maps(
    area: Image, image: Image, parts: list[tuple[int, int, int, int, int]], maps: list[Image]
) -> list[Image]:
    """The correlation maps of the first ``len(parts)`` pieces on ``area``; ``maps``
    keeps those already made."""
    import cv2
    import numpy as np

    for px, py, pw, ph, _ in parts[len(maps) :]:
        piece = np.ascontiguousarray(image[py : py + ph, px : px + pw])
        maps.append(cv2.matchTemplate(area, piece, cv2.TM_CCOEFF_NORMED))
    return maps[: len(parts)]


def _placed(
    maps: list[Image], parts: list[tuple[int, int, int, int, int]], sign: int
) -> list[tuple[float, float, float]] | None:
    """Each piece's centre on the searched area and its score, in polarity ``sign``,
    when every piece has one place only that scores ``PIECE_BAR``; else None."""
    found = []
    for scores, (_, _, pw, ph, _) in zip(maps, parts, strict=True):
        copies = _peaks(scores * sign, COPY_BAR, pw, ph)
        if len(copies) != 1 or copies[0][2] < PIECE_BAR:
            return None  # absent, or drawn more than once: it cannot say where the label is
        x, y, score = copies[0]
        found.append((x + pw / 2, y + ph / 2, score))
    return found


def _peaks(scores: Image, floor: float, pw: int, ph: int) -> list[tuple[int, int, float]]:
    """Distinct places (x, y, score) of a correlation map scoring ``floor`` or more, best
    first: a place within half a piece of a better one is the same place."""
    import numpy as np

    ys, xs = np.nonzero(scores >= floor)
    if len(xs) > 50:
        return [(0, 0, 0.0)] * 2  # a pattern that fits everywhere
    order = np.argsort(-scores[ys, xs])
    kept: list[tuple[int, int, float]] = []
    for index in order.tolist():
        x, y = int(xs[index]), int(ys[index])
        if not any(abs(x - kx) <= pw // 2 and abs(y - ky) <= ph // 2 for kx, ky, _ in kept):
            kept.append((x, y, float(scores[y, x])))
    return kept


def _spread(template: list[tuple[float, float]], screen: list[tuple[float, float]]) -> float | None:
    """The one factor that spreads the pieces' centres in the template (relative to their
    centroid) to their centres on screen, when it lies between 1 and ``MAX_SPREAD`` and
    puts every piece within ``LAYOUT_PAD`` pixels of its place on screen; else None."""
    count = len(template)
    tx = sum(x for x, _ in template) / count
    ty = sum(y for _, y in template) / count
    sx = sum(x for x, _ in screen) / count
    sy = sum(y for _, y in screen) / count
    rel_t = [(x - tx, y - ty) for x, y in template]
    rel_s = [(x - sx, y - sy) for x, y in screen]
    norm = sum(x * x + y * y for x, y in rel_t)
    if norm <= 0:
        return None
    spread = sum(a * c + b * d for (a, b), (c, d) in zip(rel_t, rel_s, strict=True)) / norm
    if not 1.0 <= spread <= MAX_SPREAD:
        return None
    for (a, b), (c, d) in zip(rel_t, rel_s, strict=True):
        if abs(a * spread - c) > LAYOUT_PAD or abs(b * spread - d) > LAYOUT_PAD:
            return None
    return spread
