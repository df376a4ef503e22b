"""A light/dark-swapped answer under the inverted stage's own bar, passed on its label.

The ``inverted`` stage of ``matching.find`` answers a strongly negative grey
correlation: a dark theme that maps light to dark and dark to light.  Its
bar, ``matching.INVERTED_CONFIDENCE`` (0.9), is stricter than the other
stages' (0.85) because that correlation was taken on trust: nothing checked
the label of an inverted answer, and text on a plain background
anti-correlates with light text on a dark button.

Where the dark theme is a plain inversion, the swapped score is the light
one: qalculate's "Keypad" toggle, cut glyph-only, scores 0.858 at 125 % and
0.859 at 200 % in both themes.  Light, the scales stage answers it (bar
0.85, its label checked by ``verification``); dark, it was missed (2 of the
11 hittable misses of ``bench_targeting --every 4``).

So between the two bars an inverted answer passes when its label passes
the checks a direct answer's does (``verification.check``), in the swapped
polarity, and one more: the label must reach the bar unblurred as well
(``sharp_score``), not only blurred.  The blur forgives a pixel of play,
which a label the toolkit re-hinted needs, and which is all that tells
speedcrunch's "÷" from its "+" (a stroke cut a pixel above and below the
bar): with its key painted out on the dark screen, the "÷" glyph scores
0.895 inverted on the "+" key at 110 % and its label 0.904 blurred, every
check of ``verification`` passed, but 0.806 unblurred.  The true answers
gained score 0.868 to 0.903 unblurred.  A template with no label to check
keeps the stricter bar.  Above 0.9 nothing changes.

**Pieces drawn at their own size.**  A toolkit that draws a key bigger lays
its label out on the bigger face, but may draw each piece of it at its own
pixel size: qalculate's "‹ ›" push button at 150 % shows both arrows
pixel for pixel as at 100 %, 24 pixels apart instead of 19.  The whole
template answers swapped at 120 % (0.879), where the label resized to
120 % is as far apart as the arrows, but each arrow a fifth too big: 0.784
unblurred.  So a label of several pieces (``glyphs.pieces``) also reaches
the bar unblurred when every piece does at its captured size, within
``verification.PAD`` of where the answer puts it (``pieces_score``: 0.990
and 0.991 for the arrows).  A piece drawn at its own size is drawn as
captured, pixel for pixel; a look-alike's stroke is not: speedcrunch's
"÷" on the "+" key (a stroke cut a pixel above and below the bar) loses
its gaps there.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.matching import Match
    from automation.blocks.desktop.verification import Refusal

    Image: TypeAlias = npt.NDArray[Any]


def check(
    gray: Image, label: Label | None, match: Match, *, bar: float, strict: float, template: Image
) -> Refusal | None:
    """None when the inverted answer ``match`` (on ``gray``, the grey screen) may pass
    at ``bar``: it reaches ``strict`` (``matching.INVERTED_CONFIDENCE``), or its label
    (``labels.extract`` of the grey ``template``, or None) is there light/dark-swapped,
    as ``verification`` checks a direct answer's."""
    from automation.blocks.desktop import verification

    if match.score >= strict:
        return None
    if label is None:
        return verification.Refusal(
            match,
            f"it is light/dark-swapped at {match.score:.3f}, under {strict:g}, "
            "and the template has no label to check it on",
        )
    refusal = verification.check(gray, label, match, bar=bar, sign=-1, template=template)
    if refusal is not None:
        return refusal
    sharp = sharp_score(gray, label, match)
    if sharp < bar:
        sharp = max(sharp, pieces_score(gray, label, match))
    if sharp < bar:
        return verification.Refusal(
            match,
            f"it is light/dark-swapped at {match.score:.3f}, under {strict:g}, and its "
            f"label correlates only {sharp:.3f} there unblurred ({bar:g} needed)",
        )
    return None


def sharp_score(gray: Image, label: Label, match: Match) -> float:
    """The label's best swapped correlation, unblurred and resized by the answer's
    scale, within ``verification.PAD`` of where ``match`` puts it (-1: it does not fit)."""
    import cv2

    from automation.blocks.desktop.correlation import _best_near
    from automation.blocks.desktop.verification import PAD

    scale = match.scale
    lh, lw = label.image.shape[:2]
    tpl = label.image
    if scale != 1.0:
        size = (max(3, round(lw * scale)), max(3, round(lh * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        tpl = cv2.resize(label.image, size, interpolation=interpolation)
    th, tw = tpl.shape[:2]
    lx, ly = match.x + round(label.x * scale), match.y + round(label.y * scale)
    height, width = gray.shape[:2]
    x0, y0 = max(0, lx - PAD), max(0, ly - PAD)
    window = gray[y0 : min(height, ly + th + PAD), x0 : min(width, lx + tw + PAD)]
    near = _best_near(window, tpl, [(lx - x0, ly - y0)], PAD, -1)
    return float(near[0][2]) if near else -1.0


def pieces_score(gray: Image, label: Label, match: Match) -> float:
    """The lowest swapped, unblurred correlation of the label's pieces (``glyphs.pieces``),
    each at its captured size, centred within ``verification.PAD`` of where ``match``
    puts it; -1 for a label of fewer than two pieces or a piece that does not fit."""
    from automation.blocks.desktop import glyphs
    from automation.blocks.desktop.correlation import _best_near
    from automation.blocks.desktop.verification import PAD

    parts = glyphs.pieces(label)
    if len(parts) < 2:
        return -1.0
    lowest = 1.0
    for px, py, pw, ph, _ in parts:
        piece = label.image[py : py + ph, px : px + pw]
        cx = match.x + (label.x + px + pw / 2) * match.scale
        cy = match.y + (label.y + py + ph / 2) * match.scale
        near = _best_near(gray, piece, [(round(cx - pw / 2), round(cy - ph / 2))], PAD, -1)
        lowest = min(lowest, float(near[0][2]) if near else -1.0)
    return lowest
