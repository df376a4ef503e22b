"""Places a label's whole ink proposes, against the screen's ink grouped across gaps.

The ``grouped`` search of ``labels.search``, for a label of several pieces
that another size joins or parts ("Exact", "±"): the label's whole ink box
is matched to a group of the screen's ink (``ScreenInk.groups``).

**The scale.**  The longer side gives it (a pixel off is less of it), and
each end of a pixel's play either way is proposed too: letters re-hinted
apart or together make a word a pixel or two longer or shorter.

**Either end of the group.**  A word may come with an icon that keeps its
size while the font grows: qalculate's "Keypad" toggle draws its menu arrow
12 by 6 pixels at 100 % and at 150 %, while the word grows by 1.48.  The
group is then 86 pixels wide where the label at the word's scale is 90, and
its left edge (the arrow's) is 6 pixels from where the label puts it, beyond
the verification's reach (3 pixels): nothing was found at 150 %, light or
dark.  The word's far end is where the label puts it, so each group proposes
the label flush with its left end and flush with its right end.  The
letter-by-letter verification (``glyphs``) then reads every piece, the arrow
too, within its few pixels of play (0.81 to 0.93 each at 1.46).

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Array: TypeAlias = npt.NDArray[Any]


def proposals(
    stats: Array, ink: tuple[int, int, int, int], min_scale: float, max_scale: float, min_area: int
) -> tuple[list[Array], list[Array]]:
    """Proposals (screen x, y, label x, y: each row a point of the group and the point
    of the label's ``ink`` box (x, y, width, height in the label) it falls on) and their
    scales, for groups ``stats`` (x, y, width, height, area) shaped like the ink box."""
    import numpy as np

    ax, ay, aw, ah = ink
    heights = stats[:, 3].astype(np.float32)
    widths = stats[:, 2].astype(np.float32)
    long_side = widths / aw if aw >= ah else heights / ah
    expected = (ah if aw >= ah else aw) * long_side
    short = heights if aw >= ah else widths
    ok = np.abs(short - expected) <= np.maximum(2.0, 0.3 * expected)
    ok &= stats[:, 4] >= min_area
    step = 1.0 / max(aw, ah)
    found: list[Array] = []
    scales_found: list[Array] = []
    for scales in (long_side - step, long_side, long_side + step):
        kept = ok & (scales >= min_scale) & (scales <= max_scale)
        groups = stats[kept]
        for right in (False, True):
            corner = groups[:, :2].copy()
            offsets = np.tile(np.array([[ax, ay]], corner.dtype), (len(corner), 1))
            if right:  # the group's right end on the ink's right end
                corner[:, 0] += groups[:, 2]
                offsets[:, 0] += aw
            found.append(np.hstack([corner, offsets]))
            scales_found.append(scales[kept])
    return found, scales_found
