"""Terminal text captured at one font size, looked for at others, in xterm from Debian.

A template of ``deploy-42`` is cut from xterm at 12 pt (DejaVu Sans Mono)
and looked for at 8-24 pt, on a line without and on a line with the
look-alike ``deploy-41``.  At
other sizes a terminal's glyphs are redrawn, not scaled: cell widths are
whole pixels (7, 8, 8, 9 px at 8-11 pt against 10 px at 12 pt), hinting
changes the strokes, so an image correlates well with the right word only
near the captured size and about as well with its look-alike further away.

What must hold at every size:

* an image-only target finds the right word or fails loudly (not found, or
  ambiguous): never the look-alike (a wrong hit is the worst failure);
* with no look-alike near, the image alone finds it from 9 to 14 pt (about
  -25 % to +17 %), at the scales and fallbacks the matcher tries, and at 16,
  20 and 24 pt: the cells there are 1.3, 1.7 and 2 times as wide, and a
  near miss at the listed 1.33 and 1.75 (0.75 and 0.72) is refined to the
  scale where the word correlates 0.9 (``refine``);
* a target whose anchors are the image and the same text (``text:``, read by
  OCR, which does not care about the font size) finds the right word at every
  size from 8 to 24 pt, and says which anchor did.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from automation.blocks.desktop.image import ImageFind
from automation.blocks.desktop.windows import WindowInfo, list_windows
from automation.errors import BlockError
from automation.testing import run_block
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.apps import need

pytestmark = pytest.mark.timeout(180)

PLAIN = "status: build-all failed, deploy-42 ok"
LOOK_ALIKE = "status: deploy-41 failed, deploy-42 ok"
WORD = "deploy-42"
COLUMNS = 50
CAPTURED = 12
#: Sizes where the image alone must find the word when no look-alike is near (about
#: -25 % to +17 %, and the larger sizes whose cell widths a refined scale fits);
#: elsewhere it may fail, loudly, and the text anchor finds it.
IMAGE_FINDS = frozenset({9, 11, 13, 16, 20, 24})


@contextmanager
def _xterm(display: XDisplay, size: int, line: str) -> Iterator[WindowInfo]:
    need("xterm")
    title = f"fonts-{size}pt"
    process = subprocess.Popen(
        ["xterm", "-fa", "DejaVu Sans Mono", "-fs", str(size), "-geometry", f"{COLUMNS}x3+300+400",
         "-T", title, "-e", "sh", "-c", f"printf '\\033[?25l{line}'; exec sleep 120"],
        env=display.env(), stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        window = eventually(
            lambda: next(iter(list_windows(f"^{title}$", include_hidden=False)), None), timeout=20
        )
        yield window
    finally:
        process.kill()
        process.wait()
        eventually(lambda: not list_windows(f"^{title}$"), timeout=10, interval=0.05)


_last_inner: Any = None


def _word_box(window: WindowInfo, line: str) -> tuple[int, int, int, int]:
    """Where ``WORD`` is drawn: xterm's cells are the window's inner width / columns."""
    from automation.blocks.desktop.display import grab

    image, screen = grab()
    box = window.box
    inner = image[box.y - screen.y : box.y - screen.y + box.height, box.x - screen.x :][
        :, : box.width
    ]
    import numpy as np

    ys, xs = np.nonzero(inner.min(axis=2) < 128)  # black text on white
    cell = (box.width - 4) / COLUMNS  # xterm's internal border is 2 px each side
    drawn = (int(xs.max()) - int(xs.min())) / cell if len(xs) else 0.0
    if drawn < len(line) - 2:
        raise AssertionError(f"xterm has drawn {drawn:.1f} of {len(line)} columns so far")
    global _last_inner
    if _last_inner is None or _last_inner.shape != inner.shape or (_last_inner != inner).any():
        _last_inner = inner.copy()
        raise AssertionError("xterm is still drawing")  # the same picture twice in a row
    start = line.index(WORD)
    left = box.x + 2 + round(start * cell)
    width = round(len(WORD) * cell)
    top, bottom = box.y + int(ys.min()), box.y + int(ys.max())
    return left, top, width, bottom - top + 1


def _capture(display: XDisplay, tmp: Path, line: str) -> Path:
    import cv2

    from automation.blocks.desktop.display import grab

    with _xterm(display, CAPTURED, line) as window:
        x, y, w, h = eventually(lambda: _word_box(window, line), timeout=10, interval=0.05)
        image, screen = grab()
        crop = image[y - screen.y - 2 : y - screen.y + h + 2, x - screen.x - 1 : x - screen.x + w]
        path = tmp / "deploy-42.png"
        cv2.imwrite(str(path), crop)
        return path


def _right_place(found: dict[str, object], word: tuple[int, int, int, int]) -> bool:
    x, y, w, h = word
    cx, cy = int(found["x"]), int(found["y"])  # type: ignore[call-overload]
    return x <= cx < x + w and y - h <= cy < y + 2 * h


@pytest.mark.parametrize(
    ("line", "sizes"),
    [
        pytest.param(PLAIN, (8, 9, 10, 11, 13, 14, 16, 20, 24), id="plain"),
        pytest.param(LOOK_ALIKE, (8, 11, 13, 20), id="look-alike"),
    ],
)
def test_terminal_text_across_font_sizes_is_right_or_loud(
    xvfb_display: XDisplay, tmp_path: Path, line: str, sizes: tuple[int, ...]
) -> None:
    need("tesseract")
    template = _capture(xvfb_display, tmp_path, line)
    rows = []
    for size in sizes:
        with _xterm(xvfb_display, size, line) as window:
            word = eventually(
                lambda window=window: _word_box(window, line), timeout=10, interval=0.05
            )
            region = list(window.box.as_list())
            try:
                alone = run_block(
                    ImageFind, {"template": str(template), "region": region}, workflow_dir=tmp_path
                ).last
                image = "found" if alone["found"] else "not found"
                if alone["found"]:
                    assert _right_place(alone, word), f"{size} pt: a wrong hit {alone}, word {word}"
            except BlockError as exc:
                assert "ambiguous" in str(exc), exc
                image = "ambiguous"
            if line == PLAIN and size in IMAGE_FINDS:
                assert image == "found", f"{size} pt: {image}"
            both = run_block(
                ImageFind,
                {
                    "region": region,
                    "target": {
                        "anchors": [
                            {"image": str(template)},
                            {"text": WORD, "confidence": 0.95},
                        ]
                    },
                },
                workflow_dir=tmp_path,
            ).last
            assert both["found"] and _right_place(both, word), f"{size} pt: {both}, word {word}"
            rows.append((size, image, both["method"], both["anchor"]))
    print(f"\n{line!r}: size, image alone, image+text")  # noqa: T201 - the table is the point
    for size, image, method, anchor in rows:
        print(f"{size:>4}  {image:<11}  {method:<6}  {Path(str(anchor)).name}")  # noqa: T201
