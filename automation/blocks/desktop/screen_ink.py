"""The screen's ink, read once per search and shared by every label check.

Ink is what differs from its neighbourhood's mean by ``INK_CONTRAST`` grey
levels: a stroke of a label on a key's face, whatever the theme. The masks and
their connected components are the costly part of the label stage, so a search
computes them once here and every stage and check of that search reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]

#: Ink differs from the local mean by at least this many grey levels.
INK_CONTRAST = 24
#: Side of the window the local mean is taken over (larger than any stroke is wide).
INK_BLOCK = 25
#: Blur (in screen pixels) of label and screen for the soft verification.
SOFT_SIGMA = 0.8


def full_ink(darkness: Image) -> float:
    """The level a stroke's core reaches: the 90th percentile (numpy's default, linear
    interpolation) of the ``darkness`` values of at least ``INK_CONTRAST``, and no less
    than ``INK_CONTRAST``.

    Computed here rather than by ``np.percentile``, whose index bookkeeping goes
    through ``np.unique`` and so imports ``numpy.ma``: about 10 ms of CPU the first
    search of a process paid on its first label check.  The arithmetic is
    numpy's own, step for step, so the value is the same to the bit.
    """
    import numpy as np

    inked = darkness[darkness >= INK_CONTRAST].ravel()
    count = int(inked.size)
    if not count:
        return float(INK_CONTRAST)
    # numpy's virtual index for the linear method (alpha = beta = 1) and its neighbours
    quantile = np.true_divide(90, 100)
    index = count * quantile + (1 + quantile * (1 - 1 - 1)) - 1
    below = int(np.floor(index))
    if index >= count - 1:
        below = above = count - 1
    elif index < 0:
        below = above = 0
    else:
        above = below + 1
    ordered = np.partition(inked, sorted({0, count - 1, below, above}))
    low, high = ordered[below], ordered[above]
    gamma = float(index - below)
    step = high - low
    level = high - step * (1 - gamma) if gamma >= 0.5 else low + step * gamma
    return max(float(INK_CONTRAST), float(level))


def ink_mask(gray: Image, dark: bool, block: int | None = None) -> Image:
    """255 where ``gray`` has ink of this polarity; ``block`` is the side of the window the
    local mean is taken over (``ink_block`` of the image, unless given)."""
    import cv2

    mode = cv2.THRESH_BINARY_INV if dark else cv2.THRESH_BINARY
    return cv2.adaptiveThreshold(
        gray,
        255,
        cv2.ADAPTIVE_THRESH_MEAN_C,
        mode,
        ink_block(gray) if block is None else block,
        INK_CONTRAST if dark else -INK_CONTRAST,
    )


def ink_block(gray: Image) -> int:
    """``INK_BLOCK``, or less for an image too small for it (odd, at least 3)."""
    return max(3, min(INK_BLOCK, (int(min(gray.shape[:2])) // 2) * 2 + 1))


def labelled(mask: Image) -> tuple[int, Any]:
    """``cv2.connectedComponentsWithStats`` (8-connected): the count and the stats.

    The labels are counted in 16 bits, which OpenCV refuses loudly when more
    than 65,535 components would need them; then in 32.  The labelling
    algorithm is OpenCV's default (Spaghetti), so the components and their
    order are the same either way (checked on every screen ``bench_targeting``
    saved, both polarities, plain and grown), and 16 bits cost less: 149 ms
    of CPU against 393 ms over those 80 masks, 2.6 ms against 7.1 ms for the
    dark ink of qalculate at 200 %.
    """
    import cv2

    try:
        count, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            mask, 8, cv2.CV_16U, cv2.CCL_SPAGHETTI
        )
    except cv2.error:  # too many components for 16 bits
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return int(count), stats


class ScreenInk:
    """The screen's dark and light ink components, computed once per search."""

    def __init__(self, gray: Image, busy: tuple[int, int, int, int] | None = None) -> None:
        self.gray = gray
        #: The box outside which the screen is plain (``correlation._busy_box``), if known.
        self._busy = busy
        self._stats: dict[Any, Any] = {}
        self._masks: dict[bool, Any] = {}
        self._soft: Image | None = None

    def soft(self) -> Image:
        """The grey screen blurred by ``SOFT_SIGMA`` (the soft verification's screen)."""
        import cv2

        if self._soft is None:
            self._soft = cv2.GaussianBlur(self.gray, (0, 0), SOFT_SIGMA)
        return self._soft

    def mask(self, dark: bool) -> Any:
        """255 where the screen has ink of this polarity.

        Only the busy box (outside it every pixel equals its neighbours) and
        half a block around it is thresholded, with the whole screen's block:
        a pixel farther out sees one plain colour in its window, equal to its
        own, so it is no ink; and the plain screen beyond the part repeats its
        edge, as the threshold's border does, so the part's own means are the
        screen's.  The mask is the whole screen's, bit for bit (checked on the
        screens ``bench_targeting`` saved), for a third of the CPU on a window
        that covers a fifth of the screen (qalculate at 100 %: 1.5 -> 0.4 ms
        per polarity).
        """
        import numpy as np

        from automation.blocks.desktop.correlation import _busy_box

        if dark not in self._masks:
            gray = self.gray
            if self._busy is None:
                self._busy = _busy_box(gray)
            block = ink_block(gray)
            reach = block // 2
            h, w = gray.shape[:2]
            x0, y0, x1, y1 = self._busy
            x0, y0 = max(0, x0 - reach), max(0, y0 - reach)
            x1, y1 = min(w, x1 + reach), min(h, y1 + reach)
            mask = np.zeros((h, w), np.uint8)
            if x1 > x0 and y1 > y0:
                part = np.ascontiguousarray(gray[y0:y1, x0:x1])
                mask[y0:y1, x0:x1] = ink_mask(part, dark, block)
            self._masks[dark] = mask
        return self._masks[dark]

    def groups(self, dark: bool) -> Any:
        """Like ``components``, for the ink grown by two pixels sideways and one up and
        down: pieces at most four pixels apart side by side (the letters of a word at
        200 %) or two above each other (the bar under a "+") are one group, its box
        that of its ink."""
        import cv2
        import numpy as np

        key = (dark, "groups")
        if key not in self._stats:
            mask = self.mask(dark)
            x, y, w, h = cv2.boundingRect(mask)
            if w == 0 or h == 0:
                self._stats[key] = np.zeros((0, 5), np.int32)
                return self._stats[key]
            grown = cv2.dilate(
                np.ascontiguousarray(mask[y : y + h, x : x + w]), np.ones((3, 5), np.uint8)
            )
            count, stats = labelled(grown)
            stats = stats[1:count].copy()
            # the grown box less what it grew by (the ink box, within a pixel at the
            # edge of the busy part)
            stats[:, 0] += x + 2
            stats[:, 1] += y + 1
            stats[:, 2] -= 4
            stats[:, 3] -= 2
            self._stats[key] = stats[(stats[:, 2] > 0) & (stats[:, 3] > 0)]
        return self._stats[key]

    def components(self, dark: bool) -> Any:
        """(n, 5) int array: x, y, width, height, area of every ink component."""
        import cv2
        import numpy as np

        if dark not in self._stats:
            mask = self.mask(dark)
            # only the part with ink: most of a desktop is plain, and labelling
            # is the costly step
            x, y, w, h = cv2.boundingRect(mask)
            if w == 0 or h == 0:
                self._stats[dark] = np.zeros((0, 5), np.int32)
                return self._stats[dark]
            count, stats = labelled(np.ascontiguousarray(mask[y : y + h, x : x + w]))
            stats = stats[1:count].copy()
            stats[:, 0] += x
            stats[:, 1] += y
            self._stats[dark] = stats
        return self._stats[dark]
