"""Work a search used to do twice is done once: the ink share of an image in a label
check, and a label search in the label stage, on keys captured from real apps."""

from __future__ import annotations

from typing import Any

from automation.blocks.desktop import labels, matching, verification
from tests.unit.automation.desktop.test_labels_captured import GALCULATOR_LIGHT, crop, load


def test_an_image_s_ink_share_is_read_once_and_kept_read_only() -> None:
    image = matching.to_gray(crop(load("galculator-light"), GALCULATOR_LIGHT["AC"]))
    first = verification._ink_share(image, True)
    assert verification._ink_share(image.copy(), True) is first  # the same pixels
    assert not first.flags.writeable
    assert verification._ink_share(image, False) is not first
    changed = image.copy()
    changed[image.shape[0] // 2, :] = 0
    assert (verification._ink_share(changed, True) != first).any()


def test_a_label_search_is_done_once_per_answer(monkeypatch) -> None:
    """galculator's "AC" key, searched on its keypad drawn at 200 %: its anchors propose
    nothing, so its whole ink proposes places too, beside the same anchors' places,
    which are not searched again."""
    searched: list[Any] = []
    decided: list[bool] = []
    search, decide = labels.search, labels._decide

    def counting(*args: Any, **kwargs: Any) -> Any:
        searched.append((args[2], kwargs.get("soft", False), kwargs.get("grouped", False)))
        return search(*args, **kwargs)

    def deciding(*args: Any, **kwargs: Any) -> Any:
        decided.append(args[4] if len(args) > 4 else kwargs["grouped"])
        return decide(*args, **kwargs)

    monkeypatch.setattr(labels, "search", counting)
    monkeypatch.setattr(labels, "_decide", deciding)
    template = crop(load("galculator-light"), GALCULATOR_LIGHT["AC"])
    matching.find(load("galculator-light-200"), template)
    assert decided == [False, True]  # both kinds of places judged
    assert len(searched) == len(set(searched))
