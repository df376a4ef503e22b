"""Keys whose label is small ink: read with the face of the key around it.

A label is small evidence, and a thin or tiny one is the smallest: a slash,
a dot.  Two things the label stage (``labels``) could not do alone, this
module does with the face the template shows around its label:

**Look-alikes without a whole key's face are no places of its label.**  The
label stage answers only when every other place scores ``labels.LABEL_GAP``
below the best, and an answer must then show the template's face around its
label (``keyface``).  On qalculate at 125 and 150 %, light and dark, the "∕"
key scored 0.934, within the gap of the "/" of a tooltip's "2 / 3" (0.936)
and of the "a ∕ b" key (0.935), neither of which shows a key's face around
its "/": the stage answered nothing (4 of 4 such cases).  So when the
template is a whole key, its face reaching a border on all four sides
(``frame``), a place whose face is not the template's (``faced``, the check
an answer gets) is not a place of the label (``with_face``, ``Label.face``):
it neither answers nor stands in the way of the place that shows it.
A glyph crop carries no face: its face ends at the crop's edge, not at the
key's border, so it says less about the key, and its look-alikes hold each
other back.  Applied to every crop, qalculate's "x" and "+" keys painted out
at 125 and 150 % had their glyph crops answered by a look-alike (the "×" key
for the "x", 0.895) once the rivals without the face were dropped: 4 wrong
answers in ``bench_absent_targets --every 1 --apps qalculate``.

**A dot is found by its key.**  A label of a dot or a short dash ("." 2 by
2 pixels, galculator's "-" 4 by 1) gives no scale from its ink, so the
label stage has no label to look for (``labels.extract``), and where the
whole template did not correlate (a dark theme, font-only scaling) the key
was not found: galculator's and qalculate's "." whole at 100 % dark and at
125 and 150 %, 14 cases of the replay of every 4th key.  But a whole key's
template shows the face around its ink out to the border on all four sides
(``frame``; a glyph crop's face reaches its edge, and it gets no answer
here), and that face is found on screen as well.  Every ink component of
either polarity about the size of the label proposes a place, and the place
is the template's key when:

* the face around the ink is clear (no ink of either polarity against the
  face's median, beyond ``labels.RING_SLACK``) out to a border on all four
  sides, within the ink's rows and columns, and that face is the
  template's face scaled by ``MIN_SCALE``-``MAX_SCALE`` each way, no more
  than ``KEY_ASPECT`` wider or taller relatively (a key grows sideways
  with font-only scaling: galculator's 59 by 34 keys are 73 by 34 at 150 %);
* the ink is the template's, scaled as the face is: half a pixel either way
  of the template's size, plus a column more (text lands on fractions of a
  pixel sideways) but no row more, unless it is a hairline (rows are
  hinted: the "." stays 2 rows high at 125 and 150 % while its key grows 5
  to 15 %, and its look-alike, the "," of the key beside it, is 4 and 5
  rows high there, with the same face around it and a correlation as good:
  0.89 against the "."'s 0.91, stretched onto their ink);
* the ink lies where the template's lies in its face, its offset from the
  face's centre drawn at a scale between the face's and ``MAX_SCALE``
  (labels are centred on their key and grow from its centre), within
  ``PLACE_PLAY`` pixels: a "·" at the centre of a key is not a ".";
* the label, stretched onto the ink, correlates at least the bar blurred
  and ``SHARP_FLOOR`` sharp (the dark style's shadow under light ink scores
  0.25);
* no other place passes all of this: two keys with the same dot on the
  same face are told apart by nothing.

The answer is the template's box laid over the face found, each way at its
own scale; its method says ``label-key``.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.matching import Match
    from automation.blocks.desktop.screen_ink import ScreenInk

    Image: TypeAlias = npt.NDArray[Any]

#: A key's face may be at most this much wider than tall, relative to the template's.
KEY_ASPECT = 1.6
#: Pixels of play in where the ink lies in its face.
PLACE_PLAY = 1.5
#: The label fitted to the ink must correlate this well sharp, as a resized label must.
SHARP_FLOOR = 0.7
#: Pixels of play around the ink where the fitted label is correlated.
SHAPE_PAD = 1


def with_face(gray_tpl: Image, label: Label | None) -> Label | None:
    """``label`` carrying the clear face its template shows around it (``Label.face``),
    when the template is a whole key: its face reaches a border on all four sides."""
    from dataclasses import replace

    from automation.blocks.desktop import keyface

    if label is None or frame(gray_tpl, label) is None:
        return label
    return replace(label, face=keyface.extent(gray_tpl, label))


def faced(ink: ScreenInk, label: Label, x: int, y: int, scale: float) -> bool:
    """True when the screen around the label at (``x``, ``y``, its corner) and ``scale``
    is as clear as the template's face (``keyface.refusal_reason``), or the label
    carries no face to check."""
    from automation.blocks.desktop import keyface
    from automation.blocks.desktop.matching import Match

    if label.face is None:
        return True
    th, tw = label.size
    match = Match(
        round(x - label.x * scale),
        round(y - label.y * scale),
        max(1, round(tw * scale)),
        max(1, round(th * scale)),
        0.0,
        scale,
        "label",
    )
    return keyface.refusal_reason(ink.gray, label, label.face, match) is None


@dataclass(frozen=True)
class Frame:
    """Clear face around a label's ink out to the key's border, in pixels (left, top,
    right, bottom), and the ink's box (x, y, width, height) it is measured from."""

    runs: tuple[int, int, int, int]
    ink: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        """The face's (width, height): the ink and the clear runs on either side."""
        left, top, right, bottom = self.runs
        return left + self.ink[2] + right, top + self.ink[3] + bottom

    @property
    def offset(self) -> tuple[float, float]:
        """Where the ink's centre lies from the face's centre (x, y)."""
        left, top, right, bottom = self.runs
        return (left - right) / 2, (top - bottom) / 2


def _runs(gray: Image, box: tuple[int, int, int, int], face: float, reach: int) -> Any:
    """Clear pixels beside each side (left, top, right, bottom) of an ink ``box`` (x0, y0,
    x1, y1), within its rows or columns, up to the first ink of either polarity (against
    ``face``) beyond ``labels.RING_SLACK``; None for a side with no ink within ``reach``."""
    import numpy as np

    from automation.blocks.desktop.labels import RING_SLACK
    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    x0, y0, x1, y1 = box
    height, width = gray.shape[:2]
    strips = (
        gray[y0:y1, max(0, x0 - reach) : x0][:, ::-1].T,
        gray[max(0, y0 - reach) : y0, x0:x1][::-1],
        gray[y0:y1, x1 : min(width, x1 + reach)].T,
        gray[y1 : min(height, y1 + reach), x0:x1],
    )
    runs = []
    for strip in strips:
        inked = (np.abs(strip.astype(np.int16) - face) >= INK_CONTRAST).any(axis=1)
        inked[:RING_SLACK] = False
        hits = np.flatnonzero(inked)
        if not len(hits):
            return None
        runs.append(int(hits[0]))
    return tuple(runs)


def frame(gray_tpl: Image, label: Label) -> Frame | None:
    """The template's face around its label's ink, or None when the face reaches the
    template's edge on a side (a glyph crop: no key around it to read)."""
    import numpy as np

    ix, iy, iw, ih = label.ink
    x0, y0 = label.x + ix, label.y + iy
    runs = _runs(gray_tpl, (x0, y0, x0 + iw, y0 + ih), float(np.median(gray_tpl)), 10_000)
    return None if runs is None else Frame(runs, (x0, y0, iw, ih))


def _fits(size: int, template: int, scale: float, spread: int) -> bool:
    """True when ink ``size`` pixels long fits a ``template`` length drawn at ``scale``
    (half a pixel either way, before scaling), plus ``spread`` pixels at most."""
    return scale * (template - 0.5) <= size <= scale * (template + 0.5) + spread


def _interval(offset: float, template: float) -> tuple[float, float] | None:
    """The scales at which a ``template`` offset lands within ``PLACE_PLAY`` of ``offset``."""
    if abs(template) < 1e-9:
        return (0.0, float("inf")) if abs(offset) <= PLACE_PLAY else None
    low, high = (offset - PLACE_PLAY) / template, (offset + PLACE_PLAY) / template
    return min(low, high), max(low, high)


def answer(
    ink: ScreenInk, gray_tpl: Image, label: Label | None, bar: float
) -> tuple[list[Match], Match | None]:
    """The key of a label too small to give a scale (see the module docstring): one
    place or none, and the best place seen as evidence."""
    from automation.blocks.desktop.labels import MAX_SCALE
    from automation.blocks.desktop.matching import Match

    if label is None:
        return [], None
    template = frame(gray_tpl, label)
    if template is None:
        return [], None
    _, _, w0, h0 = template.ink
    reach = round(max(template.runs) * MAX_SCALE) + 4
    th, tw = gray_tpl.shape[:2]
    passed: list[tuple[Match, float]] = []
    best: Match | None = None
    for dark in (True, False):
        stats = ink.components(dark)
        if not len(stats):
            continue
        w, h = stats[:, 2], stats[:, 3]
        near = (w <= w0 * MAX_SCALE + 2) & (h <= h0 * MAX_SCALE + 1)
        for x, y, cw, ch, _ in stats[near].tolist():
            key = _key(ink, template, (x, y, cw, ch), (th, tw), reach)
            if key is None:
                continue
            kx, ky, left, top = key
            score, sharp = _shape(ink, label, (x, y, cw, ch), dark)
            match = Match(
                round(left - (template.ink[0] - template.runs[0]) * kx),
                round(top - (template.ink[1] - template.runs[1]) * ky),
                max(1, round(tw * kx)),
                max(1, round(th * ky)),
                score,
                round((kx + ky) / 2, 2),
                "label-key",
            )
            if best is None or score > best.score:
                best = match
            if score >= bar and sharp >= SHARP_FLOOR:
                passed.append((match, score))
    distinct: list[Match] = []
    for match, _ in sorted(passed, key=lambda entry: -entry[1]):
        if not any(match.same_place(other) for other in distinct):
            distinct.append(match)
    if len(distinct) != 1:
        # two keys with the same small ink on the same face: nothing tells them apart
        return [], best
    return distinct, distinct[0]


def _key(
    ink: ScreenInk,
    template: Frame,
    box: tuple[int, int, int, int],
    size: tuple[int, int],
    reach: int,
) -> tuple[float, float, int, int] | None:
    """(x scale, y scale, face left, face top) of the key around the ink ``box`` on
    screen when it is the template's key (see the module docstring), else None."""
    import numpy as np

    from automation.blocks.desktop.labels import MAX_SCALE, MIN_SCALE

    x, y, w, h = box
    th, tw = size
    gray = ink.gray
    # the face: the median of a window of the template's size where it would lie
    fx, fy = max(0, x - template.ink[0]), max(0, y - template.ink[1])
    face = float(np.median(gray[fy : fy + th, fx : fx + tw]))
    runs = _runs(gray, (x, y, x + w, y + h), face, reach)
    if runs is None:
        return None
    found = Frame(runs, box)
    (width, height), (width0, height0) = found.size, template.size
    kx, ky = width / width0, height / height0
    if not (min(kx, ky) >= MIN_SCALE and max(kx, ky) <= MAX_SCALE):
        return None
    if max(kx, ky) > KEY_ASPECT * min(kx, ky):
        return None
    _, _, w0, h0 = template.ink
    # sideways a glyph lands on a fraction of a pixel and may spread over a column more;
    # up and down it is hinted to whole rows, and only a hairline may straddle two
    if not (_fits(h, h0, ky, 1 if h0 == 1 else 0) and _fits(w, w0, max(kx, ky), 1)):
        return None
    # where the ink lies in its face: the template's offset, drawn larger or smaller
    (dx, dy), (dx0, dy0) = found.offset, template.offset
    low, high = min(kx, ky), MAX_SCALE
    for offset, offset0 in ((dx, dx0), (dy, dy0)):
        within = _interval(offset, offset0)
        if within is None:
            return None
        low, high = max(low, within[0]), min(high, within[1])
    if low > high:
        return None
    return kx, ky, x - runs[0], y - runs[1]


def _shape(
    ink: ScreenInk, label: Label, box: tuple[int, int, int, int], dark: bool
) -> tuple[float, float]:
    """(soft, sharp) correlation of the label fitted to the ink ``box`` on screen: its ink
    stretched onto the box, blurred alike on both sides for the soft score."""
    import cv2

    from automation.blocks.desktop.correlation import _best_near
    from automation.blocks.desktop.screen_ink import SOFT_SIGMA

    x, y, w, h = box
    ix, iy, iw, ih = label.ink
    sx, sy = w / iw, h / ih
    lh, lw = label.image.shape[:2]
    size = (max(3, round(lw * sx)), max(3, round(lh * sy)))
    interpolation = cv2.INTER_AREA if sx * sy < 1 else cv2.INTER_CUBIC
    tpl = cv2.resize(label.image, size, interpolation=interpolation)
    sign = 1 if dark == label.dark else -1
    corner = [(x - round(ix * sx), y - round(iy * sy))]
    sharp = _best_near(ink.gray, tpl, corner, SHAPE_PAD, sign)
    blurred = cv2.GaussianBlur(tpl, (0, 0), SOFT_SIGMA)
    soft = _best_near(ink.soft(), blurred, corner, SHAPE_PAD, sign)
    if not sharp or not soft:
        return -1.0, -1.0
    return float(soft[0][2]), float(sharp[0][2])
