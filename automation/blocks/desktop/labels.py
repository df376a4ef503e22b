"""Finding a template by its label: the ink inside it, at any size and either polarity.

The ``label`` stage of ``matching.find``, tried when the template as a whole
was not found.  Two changes defeat whole-template correlation on real apps:

* **font-only scaling** (GTK's ``GDK_DPI_SCALE``, a terminal's font size):
  a button's label grows while its border, padding and height do not, so no
  single scale of the whole crop fits;
* **dark themes**: light ink on a dark face instead of dark ink on a light
  one, and a differently drawn border.

What survives both is the label: the ink inside the crop that does not touch
its edge (a border or a neighbour's edge does).  It is cut from the template
with a small pad of face around it, and found on the screen like this:

1. the screen's ink is segmented once per search (dark ink and light ink,
   each against the local mean: ``cv2.adaptiveThreshold``) into connected
   components;
2. every component shaped like the label's *anchor* (its tallest piece of
   ink) at some scale between ``MIN_SCALE`` and ``MAX_SCALE`` proposes a
   place and a scale: the scale is the height ratio, so no fixed list of
   scales is tried and font sizes in between are found too.  A label whose
   tallest ink is flat ("-", "−", "÷": under 4 pixels high) is scaled by the
   width of its widest stroke instead, if that is at least
   ``FLAT_MIN_WIDTH``; a lone dot gives no scale and has no label;
3. each proposal is verified at full resolution by the normalised
   correlation of the label (resized to the proposed scale) in a small window
   around the proposed place, with the sign of the ink's polarity (light ink
   on dark anti-correlates with dark ink on light).

Only the verified scores count.  A label is small evidence, so the stage is
stricter than the others: the best place must reach the bar, and every other
distinct place must stay ``LABEL_GAP`` below it, or the stage answers
nothing (a miss is an error the user sees; a wrong click is not).  The match
is reported as the template's box around the label, scaled, so its centre is
where the template's centre falls.

**Soft verification.**  A toolkit re-hints text at another font size, and a
small label lands on another sub-pixel phase: on the three calculators of
the targeting benchmark, true labels ("*", "x", "sin", "f(x)") scored 0.65 to
0.84 at full resolution, under the bar, while their look-alikes scored
lower still.  When the sharp verification gives no answer, the proposals are
verified again with label and screen blurred alike (``SOFT_SIGMA`` pixels,
about the shift re-hinting makes): the true label then scores 0.9 to 0.97.
Blur raises look-alikes too, so the soft answer keeps every safeguard, on the
soft scores: the bar, the ``LABEL_GAP`` to every other distinct place and the
clear ring; and the place must also correlate at least ``SOFT_SHARP_FLOOR``
at full resolution, so a blob that only resembles the label once blurred
(a small "*" on a bigger key's corner) is not it.  Matches found this way
say ``label-soft`` as their method.

**Labels of several pieces.**  Another size joins or parts a label's pieces:
the "E" and "x" of "Exact" touch at 100 % and stand apart at 150 %, the "+"
and the bar of "±" are apart at 100 % and one piece at 125 %.  Then no piece
on screen is shaped like the anchor, and nothing is proposed.  So when the
anchors found nothing (from the start for one joined by a faint seam, "!":
``glyphs.seamed``), such a label's whole ink proposes places too, against the
screen's ink grouped across gaps of a few pixels (``ScreenInk.groups``), its
scale from the longer side and flush with either end (``word_ink``), and all
places are judged together.

**Rivals that are not the label.**  When the best place shows every piece
of the label (``glyphs.complete``), two kinds of place within the gap are no
rivals: one that lacks a piece (the "x" keys for "x̄": ``glyphs.rivals``), and,
for a soft answer, one whose sharp score is under the sharp verification's
floor and ``LABEL_GAP`` under the best place's (a blob that looks like "3"
only once blurred).

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from automation.blocks.desktop import face_fit, glyphs, small_ink
from automation.blocks.desktop.screen_ink import (
    INK_CONTRAST,
    SOFT_SIGMA,
    ScreenInk,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.lookalikes import Place
    from automation.blocks.desktop.matching import Match

    Image: TypeAlias = npt.NDArray[Any]

#: Sizes of the label relative to the template searched for (font sizes, toolkit scaling).
MIN_SCALE = 0.6
MAX_SCALE = 2.4
#: Every other distinct place must score at least this much below the best label match.
LABEL_GAP = 0.12
#: Face kept around the label's ink, in template pixels.
LABEL_PAD = 2
#: Proposed places are verified within this many pixels of where the anchor puts them.
VERIFY_PAD = 3
#: Proposed scales are rounded to this step (one resized label per step).
SCALE_STEP = 0.04
#: Clear face around the label checked on screen, at most this many pixels on a side.
RING = 5
#: Ink this close to the label's own box belongs to it (anti-aliasing at another size).
RING_SLACK = 2
#: A flat anchor (a dash) this wide or wider gives the scale by its width.
FLAT_MIN_WIDTH = 6
#: A soft label match must still correlate this well at full resolution.
SOFT_SHARP_FLOOR = 0.75
#: At least this share of the label's ink must read as ink on screen too (``isolated``).
LABEL_INK = 0.5
_MIN_INK_AREA = 3
_MAX_PROPOSALS = 3000


@dataclass(frozen=True)
class Label:
    """The label cut from a grey template, and where it lies in the template."""

    image: Image  # grey, the ink plus LABEL_PAD of face
    x: int  # the label's top-left corner in the template
    y: int
    dark: bool  # dark ink on a lighter face
    # the anchor component: its box relative to the label image
    ax: int
    ay: int
    aw: int
    ah: int
    # the ink's box relative to the label image, and the clear face around it in
    # the template (left, top, right, bottom), capped at RING
    ink: tuple[int, int, int, int] = (0, 0, 0, 0)
    ring: tuple[int, int, int, int] = (0, 0, 0, 0)
    # the anchor is a flat stroke: its width gives the scale, not its height
    by_width: bool = False
    # a second anchor (x, y, width, height relative to the label image): the tallest
    # piece of the anchor at twice the contrast, when the anchor is letters that
    # anti-aliasing joins here ("cos" as one blob) and another size may draw apart
    split: tuple[int, int, int, int] | None = None
    # the template's (height, width): where the ring is read on screen, its face is
    # the median of the template's box there, as the template's is of the template
    size: tuple[int, int] = (0, 0)
    # pixels of the label's ink in the template (read against its face)
    area: int = 0
    face: tuple[int, int, int, int] | None = None  # ``keyface.extent``: ``small_ink.faced``


def extract(gray_tpl: Image, *, anchored: bool = True) -> Label | None:
    """The template's label, or None when it has no ink clear of its edge.

    The polarity is the one whose ink is more (in area) inside the crop:
    a label is the densest detail on its face.  With ``anchored`` (the label
    stage's search needs it) a label whose ink gives no scale (a dot, a
    short dash) is None; without, it is cut all the same, for checking an
    answer that already says where and at what scale (``verification``).
    A label may fill its crop: a glyph-only crop is cut tight round its ink
    (qalculate's "a(x)ᵇ": 35 by 19 of 37 by 21).  A label over 80 % of its
    crop was once not cut ("nothing to gain" on the whole-crop stages), and
    that glyph crop was lost at 125-200 % in all 6 replayed cases; the label
    stage (scale by anchor, letter by letter) finds them.
    """
    import cv2
    import numpy as np

    th, tw = gray_tpl.shape[:2]
    if th < 6 or tw < 6:
        return None
    # the face colour: the median grey; ink is what differs from it by the contrast
    face = float(np.median(gray_tpl))
    best: tuple[int, Any, bool] | None = None
    for dark in (True, False):
        diff = (face - gray_tpl.astype(np.int16)) if dark else (gray_tpl.astype(np.int16) - face)
        mask = (diff >= INK_CONTRAST).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        inner = [
            s
            for s in stats[1:count]
            if s[4] >= _MIN_INK_AREA
            and s[0] > 0
            and s[1] > 0
            and s[0] + s[2] < tw
            and s[1] + s[3] < th
        ]
        area = sum(int(s[4]) for s in inner)
        if inner and (best is None or area > best[0]):
            best = (area, inner, dark)
    if best is None:
        return None
    _, inner, dark = best
    ix0, iy0 = min(int(s[0]) for s in inner), min(int(s[1]) for s in inner)
    ix1, iy1 = max(int(s[0] + s[2]) for s in inner), max(int(s[1] + s[3]) for s in inner)
    x0, y0 = max(0, ix0 - LABEL_PAD), max(0, iy0 - LABEL_PAD)
    x1, y1 = min(tw, ix1 + LABEL_PAD), min(th, iy1 + LABEL_PAD)
    if x1 - x0 < 5 or y1 - y0 < 5:
        return None  # a speck: nothing to scale or verify
    image = np.ascontiguousarray(gray_tpl[y0:y1, x0:x1])
    if float(image.std()) < 6.0:
        return None
    anchor = max(inner, key=lambda s: (int(s[3]), int(s[4])))
    ax, ay, aw, ah = (int(v) for v in anchor[:4])
    by_width = False
    if ah < 4:
        # a flat stroke ("-", "−", the bar of "÷"): its height says nothing about
        # the scale, its width does; a dot says nothing at all
        anchor = max(inner, key=lambda s: (int(s[2]), int(s[4])))
        ax, ay, aw, ah = (int(v) for v in anchor[:4])
        if aw < FLAT_MIN_WIDTH or aw < 2 * ah:
            if anchored:
                return None
        else:
            by_width = True
    # the clear face around the ink: up to RING pixels on each side where the
    # template has no ink of either polarity (the ring is checked on screen too)
    any_ink = np.abs(gray_tpl.astype(np.int16) - face) >= INK_CONTRAST
    ring = []
    for side in range(4):
        width = 0
        for step in range(1, RING + 1):
            box = _grow((ix0, iy0, ix1, iy1), side, step)
            if box is None or box[0] < 0 or box[1] < 0 or box[2] > tw or box[3] > th:
                break
            if any_ink[box[1] : box[3], box[0] : box[2]].any():
                break
            width = step
        ring.append(width)
    split = None if by_width else _split(gray_tpl, face, dark, (ax, ay, aw, ah))
    return Label(
        image,
        x0,
        y0,
        dark,
        ax - x0,
        ay - y0,
        aw,
        ah,
        (ix0 - x0, iy0 - y0, ix1 - ix0, iy1 - iy0),
        (ring[0], ring[1], ring[2], ring[3]),
        by_width,
        None if split is None else (split[0] - x0, split[1] - y0, split[2], split[3]),
        (th, tw),
        int(sum(int(s[4]) for s in inner)),
    )


def _anchors(label: Label) -> list[tuple[int, int, int, int, bool]]:
    """The label's anchors (x, y, width, height, by width): its tallest ink, and the
    tallest piece of it at twice the contrast when that is narrower (see ``Label.split``)."""
    anchors = [(label.ax, label.ay, label.aw, label.ah, label.by_width)]
    if label.split is not None:
        anchors.append((*label.split, False))
    return anchors


def _whole_ink(label: Label) -> tuple[int, int, int, int, bool]:
    """The label's whole ink as one anchor (x, y, width, height, by width), for
    ``search`` with ``grouped``."""
    ix, iy, iw, ih = label.ink
    return ix, iy, iw, ih, False


def several(label: Label) -> bool:
    """True when the label's ink is more than its anchor: several pieces ("Exact",
    "f(x)", "±"), which another size may join or part differently."""
    ix, iy, iw, ih = label.ink
    return not label.by_width and (iw, ih) != (label.aw, label.ah) and min(iw, ih) >= 4


def _split(gray_tpl: Image, face: float, dark: bool, anchor: tuple[int, int, int, int]) -> Any:
    """The tallest piece of the anchor's ink at twice the ink contrast, when the anchor
    splits there into narrower pieces (letters joined by anti-aliasing), else None."""
    import cv2
    import numpy as np

    ax, ay, aw, ah = anchor
    box = gray_tpl[ay : ay + ah, ax : ax + aw].astype(np.int16)
    diff = (face - box) if dark else (box - face)
    mask = (diff >= 2 * INK_CONTRAST).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    pieces = [s for s in stats[1:count] if s[4] >= _MIN_INK_AREA and s[3] >= max(4, ah - 2)]
    if not pieces:
        return None
    piece = max(pieces, key=lambda s: (int(s[3]), int(s[4])))
    if int(piece[2]) > aw - 3:
        return None
    return ax + int(piece[0]), ay + int(piece[1]), int(piece[2]), int(piece[3])


def _grow(box: tuple[int, int, int, int], side: int, step: int) -> tuple[int, int, int, int] | None:
    """The strip ``step`` pixels outside one side (0 left, 1 top, 2 right, 3 bottom) of a
    (x0, y0, x1, y1) box, spanning that side."""
    x0, y0, x1, y1 = box
    if side == 0:
        return x0 - step, y0, x0 - step + 1, y1
    if side == 1:
        return x0, y0 - step, x1, y0 - step + 1
    if side == 2:
        return x1 + step - 1, y0, x1 + step, y1
    return x0, y1 + step - 1, x1, y1 + step


def isolated(ink: ScreenInk, label: Label, x: int, y: int, scale: float, dark: bool) -> bool:
    """True when the screen around a verified label is as clear of ink as the template.

    A label can be part of a longer one: "x" inside "x=", "1" inside "10".  Where
    the template shows clear face next to the ink (``Label.ring``), the screen
    must too (its sides scaled as the label is), beyond a pixel of slack, else
    the place is not this label ("+" inside "M+" or "+/-").  Only
    ink of the label's polarity on screen (``dark``) counts: the face next to
    dark text is lighter than it, a halo, not a neighbour.

    The ring is read on screen as ``extract`` read it in the template: ink is
    what differs from the face by ``INK_CONTRAST``, the face being the median
    of the template's box where the label puts it (``screen_face``).  At a
    true answer that is the template's own face, so the template and the
    screen read the same ring alike at any score and scale.  The screen's
    local means took in what lies around the template instead: a key cropped
    with some of the window around it read its own face as a neighbour, and
    the key itself was refused.  The label's own ink must read as ink against
    that face too (``LABEL_INK`` of it): correlation ignores contrast, and a
    faint pattern (a light line on a light face, the dark counter of a light
    "o") has no ink of the label's polarity around it either.
    """
    import numpy as np

    ix, iy, iw, ih = label.ink
    x0, y0 = x + round(ix * scale), y + round(iy * scale)
    x1, y1 = x0 + round(iw * scale), y0 + round(ih * scale)
    # the ring's sides grow with the label: galculator's "M" stands 6 pixels left of
    # the "+" of "M+" at 150 %, clear of a ring of 5 template pixels but not of 5 at
    # that scale.  Above and below, a key's border does not move away when only
    # the font grows (the "sqrt" key at 150 %), and a longer label runs sideways
    left, top, right, bottom = label.ring
    left, right = round(left * scale), round(right * scale)
    outer = (x0 - left, y0 - top, x1 + right, y1 + bottom)
    # the slack, within the ring only: ink beyond the ring (a line under a label
    # whose ring is a pixel deep) is not the screen's business here, and once
    # subtracted as "the label's own" it hid a letter right beside the label
    # ("exp" inside a tooltip's "expression" was taken for the "exp" key)
    inner = (
        max(outer[0], x0 - RING_SLACK),
        max(outer[1], y0 - RING_SLACK),
        min(outer[2], x1 + RING_SLACK),
        min(outer[3], y1 + RING_SLACK),
    )
    height, width = ink.gray.shape[:2]
    if outer[0] < 0 or outer[1] < 0 or outer[2] > width or outer[3] > height:
        return False
    # the ink around the label as far as a frame around it is looked for (``_frame_ink``)
    reach = max(2 * RING, (x1 - x0) + (y1 - y0))
    wx0, wy0 = max(0, min(outer[0], x0 - reach)), max(0, min(outer[1], y0 - reach))
    wx1, wy1 = min(width, max(outer[2], x1 + reach)), min(height, max(outer[3], y1 + reach))
    region = ink.gray[wy0:wy1, wx0:wx1].astype(np.int16)
    darker = screen_face(ink.gray, label, x, y, scale) - region
    mask = ((darker if dark else -darker) >= INK_CONTRAST).astype(np.uint8)

    def here(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return box[0] - wx0, box[1] - wy0, box[2] - wx0, box[3] - wy0

    outer, inner, box = here(outer), here(inner), here((x0, y0, x1, y1))
    total = int(np.count_nonzero(mask[outer[1] : outer[3], outer[0] : outer[2]]))
    kept = int(np.count_nonzero(mask[inner[1] : inner[3], inner[0] : inner[2]]))
    if kept < LABEL_INK * label.area * scale * scale:
        # not ink against that same face: a faint pattern that correlates (an "o"'s counter)
        return False
    if total - kept > 1 and total - kept - _frame_ink(mask, outer, inner, box) > 1:
        return False
    return small_ink.faced(ink, label, x, y, scale)  # a whole key's face (``Label.face``)


def screen_face(gray: Image, label: Label, x: int, y: int, scale: float) -> float:
    """The face grey of the template's box on screen, read as ``extract`` read the
    template's: the median of the box (its part on screen), the label's corner
    at (``x``, ``y``) and the template resized by ``scale``."""
    import numpy as np

    th, tw = label.size
    height, width = gray.shape[:2]
    fx0, fy0 = x - round(label.x * scale), y - round(label.y * scale)
    fx1, fy1 = fx0 + max(1, round(tw * scale)), fy0 + max(1, round(th * scale))
    box = gray[max(0, fy0) : min(height, fy1), max(0, fx0) : min(width, fx1)]
    if box.size == 0:  # a label made without its template's size: its own box
        lh, lw = label.image.shape[:2]
        box = gray[
            max(0, y) : y + max(1, round(lh * scale)), max(0, x) : x + max(1, round(lw * scale))
        ]
    return float(np.median(box))


def _frame_ink(
    mask: Image,
    outer: tuple[int, int, int, int],
    inner: tuple[int, int, int, int],
    box: tuple[int, int, int, int],
) -> int:
    """Pixels of the ring (``outer`` less ``inner``) whose ink belongs to a frame
    around the label's ink ``box`` (x0, y0, x1, y1), not to a neighbour.

    A button under the pointer or with the focus draws its border thicker,
    closer to the label (xmessage's "Save" when hovered), into the clear ring.
    A frame surrounds the label: one connected piece of ink with ink beyond
    the slack on all four sides, within the label's rows left and right of it
    and within its columns above and below.  Another glyph beside the label
    (the "M" of "M+", the "/-" of "+/-", the "0" of "10", the bar of "x̄", the
    radical of a square root) is on one, two or three sides, never all four,
    and still counts.  The frame is looked for around the label as far as the
    label is long and high; a frame wider than that is not seen and its ink
    counts (a refusal, never a wrong answer).
    """
    import cv2
    import numpy as np

    x0, y0, x1, y1 = box
    height, width = mask.shape[:2]
    reach = max(2 * RING, (x1 - x0) + (y1 - y0))
    wx0, wy0 = max(0, min(outer[0], x0 - reach)), max(0, min(outer[1], y0 - reach))
    wx1, wy1 = min(width, max(outer[2], x1 + reach)), min(height, max(outer[3], y1 + reach))
    count, pieces = cv2.connectedComponents(
        np.ascontiguousarray(mask[wy0:wy1, wx0:wx1]), connectivity=8
    )
    if count <= 1:
        return 0
    # the box and the slack around it, in the window's coordinates
    bx0, by0, bx1, by1 = x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0
    s = RING_SLACK
    sides = (
        pieces[by0:by1, : max(0, bx0 - s)],  # left, within the label's rows
        pieces[by0:by1, bx1 + s :],  # right
        pieces[: max(0, by0 - s), bx0:bx1],  # above, within the label's columns
        pieces[by1 + s :, bx0:bx1],  # below
    )
    around = set(range(1, count))
    for side in sides:
        around &= set(np.flatnonzero(np.bincount(side.ravel(), minlength=count)).tolist())
    if not around:
        return 0
    ring = pieces[outer[1] - wy0 : outer[3] - wy0, outer[0] - wx0 : outer[2] - wx0].copy()
    ring[inner[1] - outer[1] : inner[3] - outer[1], inner[0] - outer[0] : inner[2] - outer[0]] = 0
    return int(np.isin(ring, list(around)).sum())


def search(
    ink: ScreenInk, label: Label, floor: float, *, soft: bool = False, grouped: bool = False
) -> list[tuple[int, int, float, float, float, bool]]:
    """Verified label places (x, y, score, scale, sharp score, dark ink on screen), x
    and y of the label's top-left corner.

    Scores are signed so that the template's own polarity and the opposite one
    both count positively (the opposite polarity is a theme swap).  With
    ``soft`` the score is that of the blurred label on the blurred screen and
    the sharp score that of the label itself at the same spot (within a
    pixel); otherwise the two are the same.  With ``grouped`` the places are
    proposed by the label's whole ink instead of its anchors, against the
    screen's ink grouped across small gaps (``ScreenInk.groups``).
    """
    import cv2
    import numpy as np

    from automation.blocks.desktop import word_ink
    from automation.blocks.desktop.correlation import _best_near

    lh, lw = label.image.shape[:2]
    places: list[tuple[int, int, float, float, float, bool]] = []
    anchors = [_whole_ink(label)] if grouped else _anchors(label)
    bare = replace(label, face=None)  # the key's face is judged per place (``face_fit``)
    for screen_dark in (True, False):
        stats = ink.groups(screen_dark) if grouped else ink.components(screen_dark)
        if not len(stats):
            continue
        sign = 1 if screen_dark == label.dark else -1
        heights = stats[:, 3].astype(np.float32)
        widths = stats[:, 2].astype(np.float32)
        # each proposal: the screen component's corner, the anchor's offset in the label
        proposals, proposed_scales = [], []
        for ax, ay, aw, ah, by_width in anchors:
            if grouped:  # the whole ink against the screen's groups (``word_ink``)
                found, scales = word_ink.proposals(
                    stats, (ax, ay, aw, ah), MIN_SCALE, MAX_SCALE, _MIN_INK_AREA
                )
                proposals += found
                proposed_scales += scales
                continue
            if by_width:
                # a stroke a pixel or two thick is drawn one pixel thicker or thinner
                # at another size: its thickness only has to be about right
                scales = widths / aw
                expected = ah * scales
                shaped = np.abs(heights - expected) <= np.maximum(1.5, 0.5 * expected)
            else:
                scales = heights / ah
                expected = aw * scales
                shaped = np.abs(widths - expected) <= np.maximum(2.0, 0.3 * expected)
            ok = (
                (scales >= MIN_SCALE)
                & (scales <= MAX_SCALE)
                & shaped
                & (stats[:, 4] >= _MIN_INK_AREA)
            )
            found = stats[ok][:, :2]
            offsets = np.tile(np.array([[ax, ay]], found.dtype), (len(found), 1))
            proposals.append(np.hstack([found, offsets]))
            proposed_scales.append(scales[ok])
        picked = np.vstack(proposals)
        picked_scales = np.concatenate(proposed_scales)
        if len(picked) > _MAX_PROPOSALS:
            return []  # ink everywhere (text, a pattern): the label cannot single out a place
        # group proposals by scale step, one resized label per step; each proposal is
        # also tried a step either side (a height is off by a pixel now and then), within
        # the stage's sizes: a "?" tried at 0.56 answered a "7" key (``label_shape``)
        steps = np.round(picked_scales / SCALE_STEP).astype(int)
        for step in sorted(set(np.concatenate([steps - 1, steps, steps + 1]).tolist())):
            scale = step * SCALE_STEP
            chosen = (picked[:, :2] - picked[:, 2:4] * scale)[np.abs(steps - step) <= 1]
            if not MIN_SCALE <= round(scale, 6) <= MAX_SCALE:
                continue
            size = (max(3, round(lw * scale)), max(3, round(lh * scale)))
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            tpl = cv2.resize(label.image, size, interpolation=interpolation)
            corners = sorted(set(map(tuple, chosen.astype(int).tolist())))  # int() truncates
            pad = VERIFY_PAD + int(abs(scale - 1) * 2)
            verified: list[tuple[int, int, float, float]]
            if soft:
                blurred = cv2.GaussianBlur(tpl, (0, 0), SOFT_SIGMA)
                near = _best_near(ink.soft(), blurred, corners, pad, sign)
                kept = [(x, y, score) for x, y, score in near if score >= floor]
                # the sharp score at each soft spot (a pixel of play: the blur moves peaks)
                sharp = _best_near(ink.gray, tpl, [(x, y) for x, y, _ in kept], 1, sign)
                verified = [
                    (x, y, score, crisp)
                    for (x, y, score), (_, _, crisp) in zip(kept, sharp, strict=True)
                ]
            else:
                verified = [
                    (x, y, score, score)
                    for x, y, score in _best_near(ink.gray, tpl, corners, pad, sign)
                ]
            for x, y, score, crisp in verified:
                if score >= floor and isolated(ink, bare, x, y, scale, screen_dark):
                    places.append(
                        (int(x), int(y), float(score), float(scale), float(crisp), screen_dark)
                    )
    return places


def answer(
    ink: ScreenInk, label: Label, bar: float, size: tuple[int, int]
) -> tuple[list[Match], Match | None]:
    """The label stage's answer (one place, or none) and its best place as evidence.

    ``size`` is the template's (height, width): a match is the template's box
    around the label, scaled.  The sharp verification answers first, as it
    always did; when it has no place reaching ``bar`` (and only then: a sharp
    look-alike within the gap is an ambiguity the blur must not hide), the
    soft one may, provided its place is clear of look-alikes by ``LABEL_GAP``
    in soft scores, reaches ``SOFT_SHARP_FLOOR`` in sharp score, and is the
    place the sharp verification liked best, if it liked any.  A look-alike
    within the gap is no longer a refusal when the pixels where it differs
    from the best place side with the best place (``lookalikes``).
    """
    searched: dict[tuple[float, bool, bool], list[Any]] = {}  # by (floor, soft, grouped)
    found, best = _decide(ink, label, bar, size, glyphs.seamed(label), searched)
    if found or not several(label):
        return found, best
    # no anchor of a label of several pieces proposed its place: another size may
    # join or part its pieces ("Ex" of "Exact" apart at 150 %, the "+" and bar of
    # "±" joined at 125 %), so its whole ink proposes places too, and every place
    # of both kinds is judged together
    again, evidence = _decide(ink, label, bar, size, True, searched)
    if again or best is None:
        return again, evidence
    return [], best if evidence is None or best.score >= evidence.score else evidence


def _decide(
    ink: ScreenInk, label: Label, bar: float, size: tuple[int, int], grouped: bool, searched: Any
) -> tuple[list[Match], Match | None]:
    """``answer`` on its anchors' places, with ``grouped`` its whole ink's too (``searched``)."""

    def search_both(floor: float, soft: bool = False) -> list[Any]:
        keys = [(floor, soft, kind) for kind in (False, True)[: 1 + grouped]]
        for key in (key for key in keys if key not in searched):  # each search once
            searched[key] = search(ink, label, floor, soft=soft, grouped=key[2])
        places = [place for key in keys for place in searched[key]]
        return face_fit.at_best_fit(ink, label, places, size)

    sharp = _placed(search_both(bar - LABEL_GAP), label, size, "label")
    best = sharp[0][0] if sharp else None
    # the stage's own bar, not a higher one: a sharp look-alike that reaches it
    # (galculator's "3" scores 0.852 on its "8") is refused afterwards, on its
    # label blurred (``verification.check``), while a bar of 0.9 here lost the
    # true "9" at 150 % to a soft answer that was not clear of its look-alikes
    if best is not None and best.score >= bar:
        return ([best] if _clear(ink, label, sharp) else []), best
    loose = search_both(min(bar - LABEL_GAP, glyphs.GLYPH_SOFT_FLOOR), soft=True)
    soft = _placed([p for p in loose if p[2] >= bar - LABEL_GAP], label, size, "label-soft")
    if not soft:
        return _by_glyphs(ink, label, loose, bar, size, best)
    winner, crisp, _ = soft[0]
    evidence = best if best is not None and best.score >= winner.score else winner
    if (
        winner.score < bar
        or crisp < SOFT_SHARP_FLOOR
        or (best is not None and not best.same_place(winner))
        or not _clear(ink, label, soft, bar - LABEL_GAP)
    ):
        found, glyph_best = _by_glyphs(ink, label, loose, bar, size, best)
        return (found, glyph_best) if found else ([], evidence)
    return [winner], winner


def _by_glyphs(
    ink: ScreenInk,
    label: Label,
    loose: list[tuple[int, int, float, float, float, bool]],
    bar: float,
    size: tuple[int, int],
    sharp_best: Match | None,
) -> tuple[list[Match], Match | None]:
    """The label verified piece by piece (see ``glyphs``) at the soft places: the
    answer (one place or none) and the best place as evidence."""
    from dataclasses import replace

    parts = glyphs.pieces(label)
    ranked = _placed(loose, label, size, "label-glyphs")
    if len(parts) < 2 or not ranked or len(ranked) > glyphs.MAX_PLACES:
        return [], sharp_best
    scored: list[tuple[Match, float, Place]] = []
    for match, crisp, place in ranked:
        if crisp < glyphs.GLYPH_SHARP_FLOOR:
            continue
        mean, lowest = glyphs.score(ink, label, parts, place)
        if lowest >= glyphs.GLYPH_MIN:
            scored.append((replace(match, score=mean), crisp, place))
    scored.sort(key=lambda entry: -entry[0].score)
    if not scored:
        return [], sharp_best
    top = scored[0][0]
    if (
        top.score < bar
        or (sharp_best is not None and not sharp_best.same_place(top))
        # every piece, down to the dot of "!": "x!" fits the "x" and the "y" of "xʸ"
        or not glyphs.complete(ink, label, scored[0][2])
        or not _clear(ink, label, scored)
    ):
        return [], top
    return [top], top


def _clear(
    ink: ScreenInk,
    label: Label,
    ranked: list[tuple[Match, float, Place]],
    sharp_floor: float = -1.0,
) -> bool:
    """True when the best of ``ranked`` places stands apart: every other distinct place
    scores ``LABEL_GAP`` below it, or differs from it where the label sides with the best.

    ``sharp_floor``: a place whose sharp score is under it, and ``LABEL_GAP``
    under the best place's, is no rival (the soft verification's: a blob that
    resembles the label only once blurred, which the sharp verification would
    not even have listed, while the best place is clear of it sharp too).
    Rivals are set aside this way, or for lacking a piece of the label
    (``glyphs.rivals``), only when the best place shows every piece: an absent
    "x̄" key's look-alike, the "x" of "x →", lacks its bar, and a blob at
    another size was what refused it.
    """
    from automation.blocks.desktop import lookalikes

    top, top_crisp, top_place = ranked[0]
    rivals = [
        (match, crisp, place)
        for match, crisp, place in ranked[1:]
        if match.score > top.score - LABEL_GAP
    ]
    if rivals and glyphs.complete(ink, label, top_place):
        rivals = [
            entry for entry in rivals if entry[1] >= sharp_floor or entry[1] > top_crisp - LABEL_GAP
        ]
        places = glyphs.rivals(ink, label, top_place, [place for _, _, place in rivals])
    else:
        places = [place for _, _, place in rivals]
    return not places or lookalikes.tells_apart(ink, label, top_place, places)


def _placed(
    places: list[tuple[int, int, float, float, float, bool]],
    label: Label,
    size: tuple[int, int],
    method: str,
) -> list[tuple[Match, float, Place]]:
    """Verified label places as template-sized matches with their sharp scores and
    label places, best first, one per distinct place (lower-scoring copies at other
    scales dropped)."""
    from automation.blocks.desktop.matching import Match

    th, tw = size
    found = sorted(
        (
            (
                Match(
                    round(x - label.x * scale),
                    round(y - label.y * scale),
                    max(1, round(tw * scale)),
                    max(1, round(th * scale)),
                    score,
                    round(scale, 2),
                    method,
                ),
                crisp,
                (x, y, scale, dark),
            )
            for x, y, score, scale, crisp, dark in places
        ),
        key=lambda pair: -pair[0].score,
    )
    kept: list[tuple[Match, float, Place]] = []
    for match, crisp, place in found:
        if not any(match.same_place(k) for k, _, _ in kept):
            kept.append((match, crisp, place))
    return kept
