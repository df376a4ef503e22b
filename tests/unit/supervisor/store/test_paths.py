"""Where Deskpilot keeps its files (``supervisor.paths``; the history's file lives there)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore


def test_deskpilot_home_puts_everything_under_one_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"

    paths = DeskpilotPaths.from_env({"DESKPILOT_HOME": str(home)})

    assert paths.data_dir == home / "data"
    assert paths.config_dir == home / "config"
    assert paths.state_dir == home / "state"
    assert paths.log_dir == home / "logs"
    assert paths.cache_dir == home / "cache"
    assert paths.workflows_dir == home / "workflows"
    assert paths.artifacts_dir == home / "artifacts"
    assert paths.database_url == f"sqlite:///{home / 'data' / 'history.sqlite3'}"


def test_without_a_home_the_platform_folders_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.name != "posix" or os.uname().sysname != "Linux":
        pytest.skip("XDG folders are Linux's")
    for variable in ("DATA", "CONFIG", "STATE", "CACHE"):
        monkeypatch.setenv(f"XDG_{variable}_HOME", str(tmp_path / variable.lower()))

    paths = DeskpilotPaths.from_env({})

    assert paths.data_dir == tmp_path / "data" / "deskpilot"
    assert paths.config_dir == tmp_path / "config" / "deskpilot"
    assert paths.state_dir == tmp_path / "state" / "deskpilot"
    assert paths.cache_dir == tmp_path / "cache" / "deskpilot"
    assert paths.log_dir.is_relative_to(tmp_path / "state" / "deskpilot")
    assert paths.workflows_dir == paths.data_dir / "workflows"
    assert paths.artifacts_dir == paths.data_dir / "artifacts"
    assert paths.database_url.endswith("/data/deskpilot/history.sqlite3")


def test_a_database_url_overrides_the_history_location(tmp_path: Path) -> None:
    url = "postgresql://deskpilot@db.internal/history"

    paths = DeskpilotPaths.from_env(
        {"DESKPILOT_HOME": str(tmp_path), "DESKPILOT_DATABASE_URL": url}
    )

    assert paths.database_url == url
    assert paths.data_dir == tmp_path / "data"


def test_ensure_creates_private_folders_and_the_history_opens_there(tmp_path: Path) -> None:
    paths = DeskpilotPaths.from_env({"DESKPILOT_HOME": str(tmp_path / "home")})
    paths.data_dir.mkdir(parents=True, mode=0o755)
    paths.data_dir.chmod(0o755)

    assert paths.ensure() is paths

    for directory in paths.directories:
        assert directory.is_dir()
        if os.name == "posix":
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    with HistoryStore.open(paths.database_url) as store:
        assert store.integrity_check() == "ok"
    assert (paths.data_dir / "history.sqlite3").is_file()
