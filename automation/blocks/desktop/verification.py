"""Checking a whole-template answer on its label's ink before it may pass.

The ``direct`` and ``scales`` stages of ``matching.find`` correlate the whole
template, and on a keypad most of a button's pixels are its face and border,
which every key shares.  With the true key gone (a dialog over it, another
mode of the app), a look-alike can reach the bar on those shared pixels alone:
galculator's "3" answered the "8" key at 0.916 whole and 0.877 glyph-only,
qalculate's "." and "x̄" answered other keys, its "*" at 200 % the wrong one.
What tells keys apart is their label, a small part of the crop.

So an answer of those stages is checked on the label (``labels.extract``)
where the answer puts it, with the label stage's own verification:

* the label, scaled as the answer says and blurred alike on both sides
  (``screen_ink.SOFT_SIGMA``), must correlate at least the stage's bar within
  ``PAD`` pixels of where the answer puts it, and sharp at least
  ``labels.SOFT_SHARP_FLOOR``.  Blurred, a label the toolkit re-hinted at
  another size scores higher than sharp, another label does not: the "3"
  scores 0.852 sharp on the "8" but 0.842 blurred;
* the face around the label must be as clear of ink as the template's
  (``labels.isolated``: "x" is not "x=", "+" is not the "+" of "M+");
* at about the captured size, every stroke of the label must have ink
  under it (``missing_ink``): qalculate's "x̄" correlates 0.864 with its "x";
* no strong ink on screen may lie more than a stroke's play from the
  label's own ink, inside its box (``stray_ink``);
* at about the captured size, the label unresized must not have its gaps
  filled or its strokes cut on screen (``bridged_gaps``): speedcrunch's "÷"
  is its "+" with the stroke cut a pixel above and below the bar, and each
  answered the other with every other check passed.  Only there: a label
  resized by the answer's scale smears a one-pixel gap, and a label the
  toolkit drew at 200 % differs from the resized one in as many gap pixels
  (26 on galculator's "MR") as a look-alike does (19, speedcrunch's "8" for
  its "6");
* there too, the screen's ink must not enclose face the label's ink leaves
  open (more than ``BRIDGED_PIXELS`` pixels, ``bridged_gaps``): the stem of
  galculator's "R" closes the open side of its "S" inside one piece, joins
  no two pieces, and lies within the pixel of play of the other checks; the
  "MS" template answered the "MR" key (edge stage, 0.888) on 4 of 540
  absent-key cases of ``bench_absent_targets --every 1 --apps galculator``;
  the "R" encloses 7 pixels there;
* a label resized to fewer than ``MIN_INK_SIDE`` pixels is no evidence at
  all: a blob that fits a dot as well as a star, or a comma as well as a dot;
  it is checked drawn whole instead, at the whole multiples either side of
  the answer's scale (``dot_scale``: a dot's correlation does not tell its size).
* a speck of the template's ink beside the label, too small to be part of
  it (the dot of an "i"), must be on screen too (``label_ink``): without
  its dot qalculate's italic "i" is a slash, and answered the "∕" key.
* a label drawn smaller than captured must have no wider strokes on screen
  (``label_ink``): the "7" at 0.68 answered a comma of larger text; and the
  edges of its ink must run the same directions, part by part
  (``stroke_directions``): a "K" at 0.64 answered an "x".
* near the captured size, the label resized must show as many pieces on
  screen, and above it, a whole-template answer's strong ink must all have
  ink within a pixel (``ink_fidelity``): speedcrunch's "7" answered a "?"
  at 0.9, galculator's bold "0" a "Q" at 1.75.
* a label that reads the same turned half round must read so on screen,
  within a loss the toolkit's re-drawing explains (``half_turn``): a "Z"
  answered speedcrunch's bold "2", a "Z" with a rounded top, at 0.64 to 1.32;
  nor one that reads the same mirrored (``mirrored``): a "U" answered
  qalculate's "u" at 0.67 and 0.8.
* the screen's holes are counted whole where the label's box cuts them
  (``cut_holes``): an "R" answered speedcrunch's "8" at 0.67, its lower hole
  cut open by the box.
* where the screen's ink is a straight bar, the label must be one too
  (``straight_ink``): the Hershey "~" answered the "−" keys at 0.67 to 1.5.
* right beside the label, the screen may show no piece of ink the template
  does not (``beside_ink``): qalculate's "−" cut at 150 % answered one bar of
  its "=" at 100 %, the other bar two pixels below it.

The label stage's and the edge stage's answers get the same checks, in
whichever polarity correlates better (they find labels light on dark as
well).  A template with
no label (an icon that touches its edges, a plain patch of text) is not
checked: there is nothing smaller to check on.  A refused answer is not
replaced by the next best place: the stage answers nothing, and the refusal
(``Refusal``) is the evidence the error shows.  Nor does an answer pass
when a place refused here scores within the margin of it (``shadowed``):
the score no longer sets it apart from keys that are not the template.

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

    Image: TypeAlias = npt.NDArray[Any]

#: A label resized to fewer pixels than this (its ink's longer side) is a blob: galculator's
#: "*" (6 pixels) at 67 % answered its "." key at 200 %, qalculate's "." at 125 % its ",".
#: At a whole multiple (200 %) a dot stays a dot, only doubled: that is still evidence.
MIN_INK_SIDE = 5
#: An answer this close to scale 1 is at the captured size: every stroke of its label
#: must be on screen (``missing_ink``).
SAME_SIZE = 0.1
#: At most this share of the label's ink may be missing on screen.
MISSING_INK = 0.1
#: At most this share of the label's ink may be matched by stray ink beside it on screen.
STRAY_INK = 0.15
#: The sharp correlation a label resized to another scale must still reach.
RESIZED_SHARP_FLOOR = 0.7
#: Pixels of play around where the answer puts the label.
PAD = 2
#: A pixel's ink differs from the label's by this share of full ink beyond what a half-pixel
#: shift explains (``bridged_gaps``) ...
UNFAITHFUL_LEVEL = 0.3
#: ... and lies in a gap one side bridges: more such pixels than this, and it is another label.
BRIDGED_PIXELS = 3
#: The share of full ink that bounds a gap: a resized label smears a stroke of one pixel
#: over three at a third of its ink or more ("÷" at 110 %).
GAP_INK = 1 / 3


@dataclass(frozen=True)
class Refusal:
    """Why an answer was refused, in words a user can act on, and where it was."""

    match: Match
    reason: str

    def describe(self, dx: int = 0, dy: int = 0) -> str:
        """The refusal in words, the place shifted by (``dx``, ``dy``) to screen pixels."""
        m = self.match
        return (
            f"the best place [{m.x + dx}, {m.y + dy}, {m.width}, {m.height}] "
            f"(score {m.score:.3f}, "
            f"scale {m.scale:g}) was refused: {self.reason}"
        )


def check(
    gray: Image,
    label: Label | None,
    match: Match,
    *,
    bar: float = 0.85,
    sign: int = 1,
    template: Image | None = None,
) -> Refusal | None:
    """None when ``match`` shows the template's label on ``gray`` (the grey screen),
    else why not.  ``label`` is ``labels.extract`` of the grey template (None:
    nothing to check).

    ``bar`` is the stage's.  ``sign`` 1: the label must be there in the
    template's own colours (a whole-template stage's answer); 0: in either
    polarity, whichever correlates better (the label stage's).  ``template``: the
    grey template, whose specks beside the label must be there too (``label_ink``).
    """
    import cv2

    from automation.blocks.desktop import (
        beside_ink,
        cut_holes,
        dot_scale,
        half_turn,
        ink_fidelity,
        label_ink,
        label_shape,
        labels,
        mirrored,
        screen_ink,
        straight_ink,
        stroke_directions,
    )
    from automation.blocks.desktop.correlation import _best_near

    if label is None:
        return None
    scale = match.scale
    side = max(label.ink[2], label.ink[3]) * scale
    if side < MIN_INK_SIDE and abs(scale - round(scale)) > 0.01:
        # a dot's correlation does not tell its scale: it is checked drawn whole (``dot_scale``)
        for whole in dot_scale.whole_scales(scale):
            again = dot_scale.rescaled(match, label, whole)
            if not dot_scale.fits(gray, label, again, sign):
                continue
            if check(gray, label, again, bar=bar, sign=sign, template=template) is None:
                return None
        return Refusal(
            match,
            f"its label would be {side:.0f} pixels there, too small to tell from a dot "
            "or another label",
        )
    lh, lw = label.image.shape[:2]
    if scale == 1.0:
        tpl = label.image
    else:
        size = (max(3, round(lw * scale)), max(3, round(lh * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        tpl = cv2.resize(label.image, size, interpolation=interpolation)
    th, tw = tpl.shape[:2]
    lx, ly = match.x + round(label.x * scale), match.y + round(label.y * scale)
    # the screen around the label: enough for the play, the clear ring and the
    # answer's box, whose face the ring's ink is judged against (``labels.isolated``)
    reach = PAD + round(labels.RING * scale) + screen_ink.INK_BLOCK // 2 + 1
    height, width = gray.shape[:2]
    x0, y0 = max(0, min(lx - reach, match.x - PAD)), max(0, min(ly - reach, match.y - PAD))
    x1 = min(width, max(lx + tw + reach, match.x + match.width + PAD))
    y1 = min(height, max(ly + th + reach, match.y + match.height + PAD))
    window = gray[y0:y1, x0:x1]
    corner = [(lx - x0, ly - y0)]
    probe = sign == 0
    if probe:
        plain = _best_near(window, tpl, corner, PAD, 1)
        swapped = _best_near(window, tpl, corner, PAD, -1)
        near = max(plain, swapped, key=lambda found: found[0][2] if found else -2.0)
        sign = 1 if near is plain else -1
    else:
        near = _best_near(window, tpl, corner, PAD, sign)
    if not near:
        return Refusal(match, "its label does not fit on the screen there")
    bx, by, sharp = near[0]
    refusal = _correlation(window, tpl, corner, sharp, sign, bar, match, scale)
    if refusal is not None:
        return refusal
    dark = label.dark if sign > 0 else not label.dark
    if not labels.isolated(screen_ink.ScreenInk(window), label, bx, by, scale, dark):
        return Refusal(match, "its label is part of a longer label there")
    here = window[by : by + th, bx : bx + tw]
    if abs(scale - 1.0) <= SAME_SIZE:
        missing = missing_ink(tpl, label.dark, here, dark)
        if missing is not None:
            return Refusal(match, missing)
    stray = stray_ink(tpl, label.dark, here, dark, scale)
    if stray is not None:
        return Refusal(match, stray)
    if template is not None:
        specks = label_ink.specks(template, label)
        speck = label_ink.missing_speck(window, here, specks, (bx, by), scale, dark)
        if speck is not None:
            return Refusal(match, speck)
    if scale < 1.0 - SAME_SIZE:
        smaller = label_ink.wider_strokes(label, here, dark)
        if smaller is None:  # a "K" drawn small on an "x": its stem where the x's arms cross
            smaller = stroke_directions.refusal(tpl, label.dark, here, dark)
        if smaller is not None:
            return Refusal(match, smaller)
    shape = label_shape.refusal(label, tpl, here, dark, scale)  # at another size
    if shape is None:
        shape = ink_fidelity.refusal(label, tpl, here, dark, scale, whole=not probe)
    if shape is None:
        shape = half_turn.refusal(tpl, label.dark, here, dark, scale)
    if shape is None:
        shape = mirrored.refusal(tpl, label.dark, here, dark)
    if shape is None:  # the holes ``label_shape`` sees, whole where the label's box cuts them
        shape = cut_holes.refusal(tpl, label.dark, window, (bx, by), dark, scale)
    if shape is None:
        shape = straight_ink.refusal(tpl, label.dark, here, dark)
    if shape is None:  # beside the label's ink, where the clear ring forgives or is not read
        shape = beside_ink.refusal(window, template, label, (bx, by), dark, scale)
    if shape is not None:
        return Refusal(match, shape)
    if round(abs(scale - 1.0), 6) <= SAME_SIZE:  # 1.1 and 0.9 too, whatever the float
        captured = _at_captured_size(window, label, (bx + tw / 2, by + th / 2), sign)
        gaps = None if captured is None else bridged_gaps(label.image, label.dark, captured, dark)
        if gaps is not None:
            return Refusal(match, gaps)
    return None


def _at_captured_size(
    window: Image, label: Label, centre: tuple[float, float], sign: int
) -> Image | None:
    """The part of ``window`` the label, unresized, fits best within ``PAD`` of being
    centred on ``centre``; None when it does not fit there."""
    from automation.blocks.desktop.correlation import _best_near

    lh, lw = label.image.shape[:2]
    corner = (round(centre[0] - lw / 2), round(centre[1] - lh / 2))
    near = _best_near(window, label.image, [corner], PAD, sign)
    if not near:
        return None
    x, y, _ = near[0]
    return window[y : y + lh, x : x + lw]


def _darkness(image: Image, dark: bool) -> Any:
    """How much darker than the face (its frame's median) each pixel is, for ``dark``
    ink; how much lighter, for light ink."""
    import numpy as np

    frame = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return (float(np.median(frame)) - image.astype(np.int16)) * (1 if dark else -1)


def stray_ink(
    label: Image, label_dark: bool, screen: Image, dark: bool, scale: float
) -> str | None:
    """None when every pixel of strong ink on ``screen`` (a window the size of
    ``label``, ink plus its pad) lies at most a stroke's play from the label's
    own ink, else how much does not.

    The clear ring (``labels.isolated``) forgives ink within two pixels of the
    label, and correlation forgives a small extra stroke: qalculate's "."
    glyph answered a key with a comma-like mark at 125 %.  The play is a
    pixel, ``scale`` pixels at larger sizes; ``STRAY_INK`` of the label's
    strong ink may be stray, and two pixels.  ``label_dark`` and ``dark``: the
    label's ink and the screen's are darker than their faces (a dark theme
    swaps the screen's).
    """
    import cv2
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    ours, theirs = _darkness(label, label_dark), _darkness(screen, dark)
    reach = max(1, round(scale))
    near = cv2.dilate(
        (ours >= INK_CONTRAST // 2).astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)
    )
    stray = int(((theirs >= 2 * INK_CONTRAST) & (near == 0)).sum())
    total = int((ours >= 2 * INK_CONTRAST).sum())
    if stray > max(2.0, STRAY_INK * total):
        return f"the screen has {stray} pixels of ink there beside its label's {total}"
    return None


def missing_ink(label: Image, label_dark: bool, screen: Image, dark: bool) -> str | None:
    """None when every stroke of ``label`` has ink under it on ``screen`` (a window of
    its size, at about the captured size), else how much is missing.

    Correlation forgives a missing stroke: qalculate's "x̄" scores 0.864 on
    its "x" key, the bar over it missing.  A pixel of the label's strong ink
    (``screen_ink.INK_CONTRAST`` twice) needs at least faint ink (half of it)
    within a pixel on screen (a stroke re-hinted a pixel aside is there);
    ``MISSING_INK`` of them may lack it, and two pixels.  Polarities as in
    ``stray_ink``.
    """
    import cv2
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    ours, theirs = _darkness(label, label_dark), _darkness(screen, dark)
    strong = ours >= 2 * INK_CONTRAST
    faint = cv2.dilate((theirs >= INK_CONTRAST // 2).astype(np.uint8), np.ones((3, 3), np.uint8))
    missing = int((strong & (faint == 0)).sum())
    total = int(strong.sum())
    if missing > max(2.0, MISSING_INK * total):
        return (
            f"{missing} of its label's {total} pixels of ink have none under them there: "
            "a look-alike with a stroke less"
        )
    return None


def _ink_share(image: Image, dark: bool) -> Any:
    """Each pixel's ink as a share of the image's full ink (0: face, 1: a stroke's core),
    so a faint dark-theme label compares with a black one.

    One ``check`` reads the share of its label and of the screen under it in
    up to seven of its tests, so the last few are kept by the image's pixels
    (a copy: equal pixels, equal share) and handed out read-only.
    """
    import numpy as np

    from automation.blocks.desktop.screen_ink import full_ink

    key = (image.shape, image.dtype.str, image.tobytes(), dark)
    for seen, share in _SHARES:
        if seen == key:
            return share
    darkness = _darkness(image, dark).astype(np.float32)
    full = full_ink(darkness)
    share = np.clip(darkness / full, 0.0, 1.0)
    share.flags.writeable = False
    _SHARES[:] = [(key, share), *_SHARES[: _SHARES_KEPT - 1]]
    return share


#: ``_ink_share``'s last answers, newest first: (the image's shape, type, pixels and
#: ``dark``; the share).
_SHARES: list[tuple[Any, Any]] = []
_SHARES_KEPT = 8


def _shifted(image: Any, dx: int, dy: int) -> Any:
    """``image`` moved by (-``dx``, -``dy``): each pixel takes its neighbour's value, the
    border repeated."""
    import numpy as np

    height, width = image.shape[:2]
    padded = np.pad(image, 1, mode="edge")
    return padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def _between(ink: Any) -> Any:
    """Pixels whose two opposite neighbours (along a row, a column or a diagonal) are
    ``ink`` of two different pieces (8-connected components): a gap that parts them."""
    import cv2
    import numpy as np

    _, pieces = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    padded = np.pad(pieces, 1)
    height, width = ink.shape[:2]

    def towards(dx: int, dy: int) -> Any:
        return padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    between = np.zeros(ink.shape[:2], bool)
    for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
        one, other = towards(dx, dy), towards(-dx, -dy)
        between |= (one > 0) & (other > 0) & (one != other)
    return between


def bridged_gaps(label: Image, label_dark: bool, screen: Image, dark: bool) -> str | None:
    """None when the ink on ``screen`` (a window the size of ``label``, where the answer
    puts it) is the label's where the label has gaps, else how many pixels are not.

    Correlation, the clear ring and the stroke's play of ``stray_ink`` and
    ``missing_ink`` all forgive a pixel of ink more or less beside a stroke,
    which re-hinting at another size needs.  They forgive as well a one-pixel
    gap filled or opened: speedcrunch's "÷" is its "+" with the vertical
    stroke cut a pixel above and below the bar, and each answered the other
    at 0.937 whole, 0.909 glyph-only, with every check passed.  Re-hinting
    moves a stroke's edge, or a whole piece by a pixel (qalculate's "< >" at
    125 % fills the tip of its ">" a pixel further right: 6 pixels between
    that piece's own arms); it does not join two pieces nor cut a stroke.

    So each pixel's ink (a share of full ink, ``_ink_share``) must lie within
    what shifting the label by half a pixel explains (between the pixel's own
    ink and the mean of it and any neighbour's), give or take
    ``UNFAITHFUL_LEVEL``; where it does not, and the pixel lies in a gap
    between two pieces (``_between``: of the label, for ink the screen adds;
    of the screen's ink, for ink it lacks), it counts.  More than
    ``BRIDGED_PIXELS`` of them: another label, one that joins what this one
    parts or parts what it joins.  Measured on every key of the three
    keypads of ``bench_targeting`` (every second one at 125-200 %), a true
    key at about the captured size shows at most 2 such pixels; "÷" and
    "+" show 4 each.
    """
    import numpy as np

    ours, theirs = _ink_share(label, label_dark), _ink_share(screen, dark)
    low, high = ours.copy(), ours.copy()
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                half = (ours + _shifted(ours, dx, dy)) / 2
                low, high = np.minimum(low, half), np.maximum(high, half)
    added = (theirs - high >= UNFAITHFUL_LEVEL) & _between(ours >= GAP_INK)
    lacking = (low - theirs >= UNFAITHFUL_LEVEL) & _between(theirs >= GAP_INK)
    count = int(added.sum()) + int(lacking.sum())
    if count > BRIDGED_PIXELS:
        return (
            f"{count} pixels of ink there join or part what its label parts or joins "
            f"({int(added.sum())} added, {int(lacking.sum())} missing): another label"
        )
    # a stroke that closes a letter's open side joins no two pieces, but it encloses
    # face the label leaves open: galculator's "R" (a bowl) where its "S" was
    closed = _enclosed(theirs >= GAP_INK) & ~_enclosed(ours >= GAP_INK) & (ours < GAP_INK)
    if int(closed.sum()) > BRIDGED_PIXELS:
        return (
            f"the ink there encloses {int(closed.sum())} pixels of face that its label "
            "leaves open: another label"
        )
    return None


def _enclosed(ink: Any) -> Any:
    """Pixels that are not ``ink`` and cannot reach the image's border without crossing
    it (4-connected, as ink is 8-connected): the holes of "o", "R" or "8"."""
    import cv2
    import numpy as np

    face = np.pad(~ink, 1, constant_values=True).astype(np.uint8)
    _, parts = cv2.connectedComponents(face, connectivity=4)
    return ((parts > 0) & (parts != parts[0, 0]))[1:-1, 1:-1]


def _correlation(
    window: Image,
    tpl: Image,
    corner: list[tuple[int, int]],
    sharp: float,
    sign: int,
    bar: float,
    match: Match,
    scale: float,
) -> Refusal | None:
    """The label, blurred alike on both sides (``screen_ink.SOFT_SIGMA``), must correlate
    at least ``bar``, and sharp at least ``labels.SOFT_SHARP_FLOOR`` at the
    captured size, ``RESIZED_SHARP_FLOOR`` at another ``scale`` (qalculate's
    "Exact" and "f(x)" labels, re-hinted at 125 and 150 %, score 0.74 sharp and
    0.87 blurred on their own keys).

    Blurred, a label re-hinted at another size or phase scores higher than
    sharp (its strokes moved by a pixel), while another label does not (a
    stroke more or less is still there): galculator's "3" scores 0.852 sharp
    on its "8", but 0.842 blurred.
    """
    import cv2

    from automation.blocks.desktop import labels, screen_ink
    from automation.blocks.desktop.correlation import _best_near

    blurred = cv2.GaussianBlur(tpl, (0, 0), screen_ink.SOFT_SIGMA)
    soft_screen = cv2.GaussianBlur(window, (0, 0), screen_ink.SOFT_SIGMA)
    soft = _best_near(soft_screen, blurred, corner, PAD, sign)
    score = soft[0][2] if soft else -1.0
    # (not ... >=: a flat window correlates NaN with anything, and NaN passes no bar)
    floor = labels.SOFT_SHARP_FLOOR if abs(scale - 1.0) <= 0.01 else RESIZED_SHARP_FLOOR
    if not (score >= bar and sharp >= floor):
        return Refusal(
            match,
            f"its label correlates only {score:.3f} there blurred ({sharp:.3f} sharp; "
            f"{bar:g} and {floor:g} needed): a look-alike with another label",
        )
    return None


def shadowed(best: Match, others: list[Refusal], margin: float) -> Refusal | None:
    """A refusal of ``best`` when a place refused on its label (``others``, of the same
    stage) scores within ``margin`` of it, else None.

    The whole template's score is what sets an answer apart from the keys
    that share its face and border: the true key, drawn as captured, scores
    well above them.  When a place that is not the template scores within the
    margin of the best, the score no longer tells the template from its
    look-alikes, and the best rests on the label check alone, which a label
    with a stroke more or less can pass: with speedcrunch's "9" painted out,
    the "8" key answered at 0.876, the "5" key scoring 0.854 beside it; with
    its "6" gone, the "8" answered at 0.909, the "5" at 0.880.  Both are
    look-alikes of one another, and the answer is refused as they are.
    """
    close = [other for other in others if other.match.score >= best.score - margin]
    if not close:
        return None
    m = close[0].match
    return Refusal(
        best,
        f"a look-alike at [{m.x}, {m.y}, {m.width}, {m.height}] scores {m.score:.3f}, within "
        f"{margin:g} of it, and is not the template ({close[0].reason}): the template does "
        "not stand out from its look-alikes here",
    )
