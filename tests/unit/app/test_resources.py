"""Where resources are looked for: the override, a PyInstaller bundle, then installs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app import resources


def test_the_override_comes_first_then_the_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(resources.RESOURCES_VARIABLE, str(tmp_path / "override"))
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "bundle"), raising=False)
    found = resources.candidate_dirs()
    assert found[:2] == [tmp_path / "override", tmp_path / "bundle" / "resources"]


def test_a_bundle_is_found_by_its_unpack_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(resources.RESOURCES_VARIABLE, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.candidate_dirs()[0] == tmp_path / "resources"


def test_the_checkout_has_everything_the_window_needs() -> None:
    answer = resources.report()
    assert "deskpilot.svg" in answer["icons"]  # type: ignore[operator]
    assert "images/save.png" in answer["examples"]  # type: ignore[operator]
    assert answer["templates"] == ["desktop_task.yaml", "file_watcher.yaml", "http_to_file.yaml"]
    assert answer["readme"] is not None
