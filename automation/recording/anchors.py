"""A recorded click's target: anchors that find the same thing again, and nothing else.

For each click, from the screen as it was just before the press:

* **accessibility**: the element under the pointer, where the application
  exposes one (AT-SPI), when the accessibility helpers are installed;
* **image**: a crop around the click, grown (``SIZES``) until no other place on
  that screen resembles it (the best other place scores below ``UNIQUE_BELOW``,
  in grey, which is the stricter test): ambiguous targets fail at replay, so a
  recorded one must not be; crops too uniform to match reliably are skipped;
  the anchor's ``offset`` is the click's distance from the crop's centre;
* **text**: the OCR word under the pointer (tesseract, full screen, as the
  replay reads it), only when it has two characters or more and appears once.

The anchors are listed best first: accessibility, image, text.  A click with
no anchor at all (a plain background) is replayed at its coordinates, and the
node says so in its notes.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Image

logger = logging.getLogger(__name__)

#: Crop sizes tried in turn, (width, height).
SIZES = ((32, 32), (48, 40), (64, 48), (96, 64), (128, 96), (192, 128), (256, 192), (384, 256))
#: A crop is unique when every other place on screen scores below this (normalised, grey).
UNIQUE_BELOW = 0.8
#: Below this standard deviation of grey levels a crop is too plain to match reliably.
MIN_SPREAD = 12.0
OCR_TIMEOUT = 20.0


@dataclass
class ClickTarget:
    """What the recorder knows about one click's target."""

    x: int
    y: int
    anchors: list[dict[str, Any]] = field(default_factory=list)
    crop: Image | None = None  # BGR, saved as the image anchor's template
    notes: list[str] = field(default_factory=list)


def find_target(
    image: Image,
    origin: tuple[int, int],
    x: int,
    y: int,
    *,
    text: bool = True,
    element: dict[str, Any] | None = None,
) -> ClickTarget:
    """Anchors for a click at virtual-desktop (x, y) on ``image`` (BGRA, top-left at ``origin``).

    ``element`` is the accessibility anchor looked up as the button went down.
    """
    target = ClickTarget(x, y)
    if element is not None:
        target.anchors.append(element)
    local_x, local_y = x - origin[0], y - origin[1]
    crop = unique_crop(image, local_x, local_y)
    if crop is None:
        target.notes.append("no crop around the click is unique on screen")
    else:
        picture, (dx, dy) = crop
        target.crop = picture
        target.anchors.append(
            {"image": "", "offset": [dx, dy]} if (dx, dy) != (0, 0) else {"image": ""}
        )
    if text:
        word = text_anchor(image, local_x, local_y)
        if word is not None:
            target.anchors.append(word)
    return target


def unique_crop(image: Image, x: int, y: int) -> tuple[Image, tuple[int, int]] | None:
    """The smallest crop around (x, y) found once on ``image``, with the click's offset."""
    import cv2
    import numpy as np

    height, width = image.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        return None
    gray = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_BGR2GRAY)
    for w, h in SIZES:
        if w > width or h > height:
            break
        x0 = min(max(0, x - w // 2), width - w)
        y0 = min(max(0, y - h // 2), height - h)
        patch = gray[y0 : y0 + h, x0 : x0 + w]
        if float(patch.std()) < MIN_SPREAD:
            continue
        scores = cv2.matchTemplate(gray, patch, cv2.TM_CCOEFF_NORMED)
        # the crop's own place and its immediate neighbourhood are not "another place"
        sx0, sy0 = max(0, x0 - w // 2), max(0, y0 - h // 2)
        scores[sy0 : y0 + h // 2 + 1, sx0 : x0 + w // 2 + 1] = -1.0
        if float(scores.max()) < UNIQUE_BELOW:
            crop = np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w, :3])
            cx, cy = x0 + w // 2, y0 + h // 2
            return crop, (x - cx, y - cy)
    return None


def ocr_words(image: Image) -> list[tuple[str, tuple[int, int, int, int], float]]:
    """Words tesseract reads on ``image``: (text, (x, y, w, h), confidence 0..100)."""
    import cv2
    import numpy as np

    tesseract = shutil.which("tesseract")
    if tesseract is None:
        return []
    ok, png = cv2.imencode(".png", np.ascontiguousarray(image[:, :, :3]))
    if not ok:
        return []
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        done = subprocess.run(
            [tesseract, "stdin", "stdout", "tsv"],
            input=png.tobytes(),
            capture_output=True,
            timeout=OCR_TIMEOUT,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        logger.warning("OCR took longer than %gs; the click gets no text anchor", OCR_TIMEOUT)
        return []
    words = []
    for line in done.stdout.decode(errors="replace").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 12 and parts[11].strip():
            bx, by, bw, bh = (int(v) for v in parts[6:10])
            words.append((parts[11].strip(), (bx, by, bw, bh), float(parts[10])))
    return words


def text_anchor(image: Image, x: int, y: int) -> dict[str, Any] | None:
    """A text anchor for the word under (x, y), if it is long enough and the only one."""
    words = ocr_words(image)
    under = [
        (text, box, conf)
        for text, box, conf in words
        if box[0] - 2 <= x <= box[0] + box[2] + 2 and box[1] - 2 <= y <= box[1] + box[3] + 2
    ]
    if not under:
        return None
    text, box, conf = under[0]
    if len(text) < 2 or conf < 60 or sum(1 for t, _, _ in words if t == text) != 1:
        return None
    cx, cy = box[0] + box[2] // 2, box[1] + box[3] // 2
    anchor: dict[str, Any] = {"text": text}
    if (x - cx, y - cy) != (0, 0):
        anchor["offset"] = [x - cx, y - cy]
    return anchor


def accessibility_supported() -> bool:
    """Whether targets accept an ``accessibility`` anchor (the AT-SPI selector kind)."""
    from automation.blocks.desktop.targets import Anchor

    return "accessibility" in Anchor.model_fields


def accessibility_anchor(x: int, y: int) -> dict[str, Any] | None:
    """An accessibility anchor for the named element at (x, y), or None (no bus, no element).

    Called as the button goes down: after the click the element may be gone
    (a dialog's button closes the dialog).  Only elements with a name are
    used: an anonymous panel's path says little and breaks at the next layout.
    """
    if not accessibility_supported():
        return None
    from automation.blocks.desktop import accessibility

    try:
        element = accessibility.element_at(x, y)
    except Exception as exc:  # the accessibility bus is optional: a click still gets its image
        logger.info("no accessibility anchor at %d,%d: %s", x, y, exc)
        return None
    if element is None or not element.name or not element.path or element.box is None:
        return None
    cx, cy = element.box.center
    anchor: dict[str, Any] = {"accessibility": element.path}
    if (x - cx, y - cy) != (0, 0) and not _inside_middle(element.box.as_list(), x, y):
        anchor["offset"] = [x - cx, y - cy]
    return anchor


def _inside_middle(box: list[int], x: int, y: int) -> bool:
    """A click in the middle half of an element is a click on the element, not at an offset."""
    bx, by, bw, bh = box
    return abs(x - (bx + bw / 2)) <= bw / 4 and abs(y - (by + bh / 2)) <= bh / 4
