"""Short text targets answer only where the text is read exactly, again in isolation,
and nowhere else on screen.

``qalculate-light.png`` and ``qalculate-light-150.png`` are parts of
qalculate-gtk's window (GTK 3, Debian) at 100 % and at 150 % font scaling,
taken on Xvfb by ``tests/benchmarks/bench_targeting.py --save``;
``galculator-light-125-window.png`` is galculator's whole window at 125 %
font scaling from the same run.  Over the whole screens they come from,
Tesseract's first pass read the bar under the "+" of the "±" key as a
one-pixel "=" (at 100 %) and the bar over "x̄" as "-" (at 150 %), and the
text targets "=" and "-" answered there; those words are put back where it
read them.  On galculator's window it read the display's "0" and not the
"0" key, and the target "0" answered on the display.
``qalculate-dark-125-window.png`` is qalculate-gtk's window at 125 % in the
dark theme: the "+" of its example text "5 + 2 / 3" is read, the "+" key is
not, and read alone the key reads "--" (confidence 0.80).
``qalculate-light-x-keys.png`` is part of qalculate-gtk's window at 100 %
(light) with its "x =" and "x ➞" keys; with ``qalculate-light-150-x-equals.png``
(the same keys at 150 %), the target "x =" answered at the "x ➞" key, read
whole as "x=" with confidence.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from automation.blocks.desktop import characters, ocr, short_text
from automation.blocks.desktop.display import Box
from tests.unit.automation.desktop.test_labels_captured import load

#: galculator's keys on galculator-light-125-window.png (the accessibility bus's boxes).
GALCULATOR_125: dict[str, Box] = {
    "7": Box(6, 196, 68, 34),
    "2": Box(80, 276, 68, 34),
    "0": Box(6, 316, 68, 34),
}


@pytest.fixture(autouse=True)
def _needs_tesseract() -> None:
    try:
        ocr.tessdata_dir()
    except ocr.OcrUnavailable as exc:
        pytest.skip(str(exc))


def _word(text: str, box: Box) -> ocr.Word:
    return ocr.Word(text, box, 0.9, (1, 1, 1, 1))


def _screen(name: str) -> tuple[np.ndarray, Box, list[ocr.Word]]:
    image = load(name)
    height, width = image.shape[:2]
    origin = Box(0, 0, width, height)
    return image, origin, ocr.read_screen(image, origin, windows=[origin])


def _inside(box: Box, key: Box) -> bool:
    x, y = box.center
    return key.x <= x < key.x + key.width and key.y <= y < key.y + key.height


@pytest.mark.parametrize(
    ("read", "phrase"),
    [("<-", "-"), ("to", "STO"), ("E", "e"), ("x!", "x")],
    ids=["punctuation", "fuzzy", "case", "suffix"],
)
def test_a_short_phrase_needs_an_exact_reading(read: str, phrase: str) -> None:
    """The word is drawn, so its isolated re-read confirms what the first pass read."""
    screen = np.full((60, 200, 3), 255, np.uint8)
    cv2.putText(screen, read, (20, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    words = [_word(read, Box(18, 20, 40, 20)), _word("words", Box(100, 20, 50, 16))]
    assert ocr.find_one(words, phrase) is not None  # the fuzzy rule answers here
    assert ocr.locate(screen, Box(0, 0, 200, 60), words, phrase) is None
    assert ocr.locate(screen, Box(0, 0, 200, 60), words, read) is not None


def test_longer_phrases_stay_fuzzy() -> None:
    screen = np.full((60, 200, 3), 255, np.uint8)
    words = [_word("Calculaton", Box(20, 20, 80, 12))]
    hit = ocr.locate(screen, Box(0, 0, 200, 60), words, "Calculator")
    assert hit is not None and hit.text == "Calculaton"


@pytest.mark.parametrize(
    ("name", "phrase", "bar"),
    [
        ("qalculate-light", "=", Box(444, 99, 8, 1)),
        ("qalculate-light-150", "-", Box(185, 167, 6, 2)),
    ],
    ids=["bar of ±", "bar of x̄"],
)
def test_a_bar_of_a_bigger_glyph_is_no_answer(name: str, phrase: str, bar: Box) -> None:
    image, origin, words = _screen(name)
    words.append(_word(phrase, bar))
    assert ocr.find_one(words, phrase) is not None
    try:
        hit = ocr.locate(image, origin, words, phrase)
    except ocr.AmbiguousText as refused:
        assert all(m.box != bar for m in refused.matches)
    else:
        assert hit is None or hit.box != bar


def test_a_bar_read_without_the_glyph_around_it_would_be_an_answer() -> None:
    """The cut's context is what refuses the bar of "±": without it the bar reads "="."""
    image, origin, _ = _screen("qalculate-light")
    text, confidence = short_text.reread(image, origin, Box(444, 99, 8, 1), text_height=0)
    assert (text, confidence >= short_text.MIN_CONFIDENCE) == ("=", True)


def test_labels_the_first_pass_left_unread_are_found_in_isolation() -> None:
    image, origin, words = _screen("galculator-light-125-window")
    assert ocr.find_one(words, "7") is None  # the sparse-text pass did not read the keys
    for label in ("7", "2"):
        hit = ocr.locate(image, origin, words, label)
        assert hit is not None and _inside(hit.box, GALCULATOR_125[label])


def test_text_read_once_while_a_mark_holding_it_is_unread_is_refused() -> None:
    """The display's "0" is read; the "0" key is read only as "0)": it may be a "0"."""
    image, origin, words = _screen("galculator-light-125-window")
    assert ocr.find_one(words, "0") is not None  # the display, and only it
    with pytest.raises(ocr.UnsureText, match="could not be read") as refused:
        ocr.locate(image, origin, words, "0")
    assert "[33, 326, 14, 14]" in str(refused.value)  # the "0" key's label


def test_an_unread_look_alike_makes_short_text_ambiguous() -> None:
    """At 150 % the first pass reads the "2" key; "∑", read alone, reads "2" too."""
    image, origin, words = _screen("qalculate-light-150")
    assert ocr.find_one(words, "2") is not None
    with pytest.raises(ocr.AmbiguousText, match="2 places read it"):
        ocr.locate(image, origin, words, "2")


def test_a_blurred_second_copy_the_first_pass_missed_is_refused() -> None:
    """Read alone, the blurred copy is a "7" of low confidence, shaped like the answer."""
    screen = np.full((80, 300, 3), 255, np.uint8)
    for text, at in (("Total due", (10, 25)), ("7", (40, 60)), ("7", (200, 60))):
        cv2.putText(screen, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    blurred = screen[40:70, 190:230]
    screen[40:70, 190:230] = cv2.GaussianBlur(blurred, (0, 0), 1.6)
    origin = Box(0, 0, 300, 80)
    words = ocr.read_screen(screen, origin, windows=[origin])
    assert [w.text for w in words].count("7") == 1
    with pytest.raises(ocr.UnsureText, match=r"\[201, 46, 12, 14\]"):
        ocr.locate(screen, origin, words, "7")


def test_a_mark_read_otherwise_but_shaped_like_the_answer_is_refused() -> None:
    image, origin, words = _screen("qalculate-dark-125-window")
    assert ocr.find_one(words, "+") is not None  # the example text's "+"
    assert short_text.reread(image, origin, Box(742, 521, 16, 14), 13)[0] == "--"
    with pytest.raises(ocr.UnsureText, match=r"\[742, 521, 16, 14\]"):  # the "+" key
        ocr.locate(image, origin, words, "+")


#: qalculate-light-x-keys.png: qalculate-gtk's "x =" and "x ➞" keys at 100 % (light).
X_EQUALS = Box(9, 50, 59, 34)
X_ARROW = Box(9, 88, 59, 34)
#: Their labels' ink, as the first pass boxed it there ("Me" and "x=").
X_EQUALS_LABEL = Box(27, 64, 22, 7)
X_ARROW_LABEL = Box(28, 102, 22, 7)


def test_the_symbols_of_short_text_must_read_alone() -> None:
    """Read whole, the "x ➞" label reads "x=" with confidence; its arrow alone is no "="."""
    image, origin, words = _screen("qalculate-light-x-keys")
    assert any(w.text == "x=" and _inside(w.box, X_ARROW) for w in words)
    text, confidence = short_text.reread(image, origin, X_ARROW_LABEL, 11)
    assert (text, confidence >= short_text.MIN_CONFIDENCE) == ("x=", True)
    assert not characters.symbols_read_alone(image, origin, X_ARROW_LABEL, "x =")
    assert characters.symbols_read_alone(image, origin, X_EQUALS_LABEL, "x =")


@pytest.mark.parametrize(
    ("name", "arrow"),
    [("qalculate-light-x-keys", X_ARROW), ("qalculate-light-150-x-equals", Box(4, 86, 84, 39))],
    ids=["100", "150"],
)
def test_a_key_whose_symbol_reads_otherwise_alone_is_no_answer(name: str, arrow: Box) -> None:
    image, origin, words = _screen(name)
    try:
        hit = ocr.locate(image, origin, words, "x =")
    except ocr.AmbiguousText as refused:
        assert not any(_inside(m.box, arrow) for m in refused.matches)
    else:
        assert hit is None or not _inside(hit.box, arrow)


def test_a_line_image_is_read_once_for_the_same_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every lookup re-reads the same unread marks: the second reading is the kept one."""
    image = np.full((60, 120), 255, np.uint8)
    cv2.putText(image, "42", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2, cv2.LINE_AA)
    calls: list[int] = []
    real = ocr._tsv

    def counted(*args: object, **kwargs: object) -> str:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ocr, "_tsv", counted)
    first = ocr.read_line(image)
    assert ocr.read_line(image.copy()) == first
    assert len(calls) <= 1  # none when an earlier test read the same pixels
    image[0, 0] = 0
    ocr.read_line(image)
    assert len(calls) >= 1
