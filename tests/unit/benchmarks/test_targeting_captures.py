"""Templates captured in the dark theme for ``bench_targeting``'s replay: cut from the
saved dark screen as the light capture is cut, searched on every saved screen, kept
apart from the light cases (whose JSON and tables stay as they were)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.benchmarks import bench_targeting
from tests.benchmarks._targeting_captures import (
    CAPTURE_STEMS,
    cut_templates,
    glyph_box,
    parse_captures,
)
from tests.helpers.desktop_apps import Button
from tests.unit.automation.desktop.test_keypad import keypad

ROLE = "push button"


def test_dark_templates_are_the_dark_screens_pixels_at_the_dark_truth() -> None:
    light, light_boxes = keypad((40, 60))
    dark, dark_boxes = keypad((610, 250), dark=True)
    buttons = {(label, ROLE, 0): Button(label, ROLE, *box) for label, box in dark_boxes.items()}
    wanted = [((label, ROLE, 0), crop) for label in ("7", "5") for crop in ("whole", "glyph")]
    cut = cut_templates(dark, buttons, wanted)
    assert [(name, crop) for name, crop, _ in cut] == wanted
    for name, crop, template in cut:
        x, y, w, h = buttons[name].box if crop == "whole" else glyph_box(buttons[name])
        assert np.array_equal(template, dark[y : y + h, x : x + w])
        lx, ly = light_boxes[name[0]][:2]
        dx, dy = x - dark_boxes[name[0]][0], y - dark_boxes[name[0]][1]
        assert np.array_equal(template, 255 - light[ly + dy : ly + dy + h, lx + dx : lx + dx + w])
    # the capture is cut exactly as the light templates are: the benchmark's glyph box
    assert bench_targeting.glyph_box is glyph_box


def test_a_key_missing_from_the_capture_or_off_its_screen_gives_no_template() -> None:
    dark, boxes = keypad(dark=True)
    x, y, w, h = boxes["9"]
    buttons = {
        ("9", ROLE, 0): Button("9", ROLE, 1280 - w // 2, y, w, h),  # half off the screen
        ("8", ROLE, 0): Button("8", ROLE, *boxes["8"]),
    }
    wanted = [(("9", ROLE, 0), "whole"), (("4", ROLE, 0), "whole"), (("8", ROLE, 0), "glyph")]
    assert [(n, c) for n, c, _ in cut_templates(dark, buttons, wanted)] == [wanted[2]]


def test_capture_themes_are_checked_and_ordered() -> None:
    assert parse_captures("dark, light") == ("light", "dark")
    assert parse_captures("dark") == ("dark",)
    with pytest.raises(ValueError, match="sepia"):
        parse_captures("light,sepia")


def _save(folder: Path, stem: str, screen: np.ndarray, boxes: dict[str, tuple[int, ...]]) -> None:
    cv2.imwrite(str(folder / f"{stem}.png"), screen)
    scale, theme, position = stem.split("-")
    rows = [{"button": [label, ROLE, 0], "box": list(box)} for label, box in boxes.items()]
    meta = {"scale": float(scale) / 100, "dark": theme == "dark", "position": int(position)}
    (folder / f"{stem}.json").write_text(json.dumps({"config": meta, "truth": rows}))


def _replay(saved: Path, out: Path, captures: str) -> dict[str, list[dict[str, Any]]]:
    args = argparse.Namespace(
        replay=saved,
        apps="keypad",
        every=4,
        buttons=None,
        quick=False,
        method_names=("deskpilot",),
        captures=parse_captures(captures),
        json=out,
    )
    assert bench_targeting.replay(args) == 0
    loaded: dict[str, list[dict[str, Any]]] = json.loads(out.read_text())
    return loaded


def _answers(rows: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """What each case answered, without its (noisy) times."""
    return [
        (
            r["config"],
            tuple(r["button"]),
            r["crop"],
            r["deskpilot"]["outcome"],
            r["deskpilot"]["point"],
        )
        for r in rows
    ]


def test_the_replay_searches_dark_captures_on_every_screen_apart_from_the_light_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the not-found keys are drawn like this keypad's keys: not a measure here
    monkeypatch.setattr(bench_targeting, "measure_not_found", lambda *a, **k: [(1.0, 1.0)])
    folder = tmp_path / "keypad"
    (folder / "templates").mkdir(parents=True)
    light, light_boxes = keypad((40, 60))
    dark, dark_boxes = keypad((610, 250), dark=True)
    assert CAPTURE_STEMS == {"light": "100-light-0", "dark": "100-dark-1"}
    _save(folder, "100-light-0", light, light_boxes)
    _save(folder, "100-dark-1", dark, dark_boxes)
    index = []
    for number, (label, box) in enumerate(light_boxes.items()):
        button = Button(label, ROLE, *box)
        for crop, (x, y, w, h) in (("whole", button.box), ("glyph", glyph_box(button))):
            name = f"{2 * number + (crop == 'glyph'):03d}-{crop}.png"
            cv2.imwrite(str(folder / "templates" / name), light[y : y + h, x : x + w])
            index.append({"button": [label, ROLE, 0], "crop": crop, "file": name})
    (folder / "templates" / "index.json").write_text(json.dumps(index))

    searched: list[list[tuple[Any, str, np.ndarray]]] = []
    run_cases = bench_targeting.run_cases

    def spy(*args: Any) -> None:
        searched.append(args[3])
        run_cases(*args)

    monkeypatch.setattr(bench_targeting, "run_cases", spy)
    plain = _replay(tmp_path, tmp_path / "light.json", "light")
    assert set(plain) == {"cases", "not_found_ms"}  # the default JSON as it was
    assert "captured at 100 % dark" not in capsys.readouterr().out

    both = _replay(tmp_path, tmp_path / "both.json", "light,dark")
    assert _answers(both["cases"]) == _answers(plain["cases"])
    rows = both["cases_captured_dark"]
    keys = ["7", "4", "1", "0"]  # every 4th key, as the light templates are chosen
    truth = {(k, ROLE, 0): Button(k, ROLE, *box) for k, box in dark_boxes.items()}
    cut = cut_templates(dark, truth, [((k, ROLE, 0), c) for k in keys for c in ("whole", "glyph")])

    def same(one: list[tuple[Any, str, np.ndarray]]) -> bool:
        return len(one) == len(cut) and all(
            a[:2] == b[:2] and np.array_equal(a[2], b[2]) for a, b in zip(one, cut, strict=True)
        )

    # each screen searched once with the dark capture's own pixels, once with the light ones
    assert [same(one) for one in searched] == [False, False, False, True, False, True]
    assert sorted((r["config"], r["button"][0], r["crop"]) for r in rows) == sorted(
        (config, key, crop)
        for config in ("100% light pos1", "100% dark pos2")
        for key in keys
        for crop in ("whole", "glyph")
    )
    assert all(r["captured"] == "dark" for r in rows)
    on_itself = [r for r in rows if r["config"] == "100% dark pos2"]
    assert [r["deskpilot"]["outcome"] for r in on_itself] == ["hit"] * 8
    assert {tuple(r["truth"]) for r in on_itself} == {dark_boxes[k] for k in keys}
    out = capsys.readouterr().out
    assert "templates captured at 100 % dark (100-dark-1)" in out
    assert "wrong answers on templates captured at 100 % dark: 0" in out
