"""Where Deskpilot keeps its files, decided once from the environment.

``DESKPILOT_HOME`` puts everything under one folder (tests, portable
installs, a second instance); otherwise each kind of file goes where the
platform expects it (platformdirs: ``~/.local/share/deskpilot`` and friends on
Linux, ``~/Library/Application Support/deskpilot`` on macOS, ``%LOCALAPPDATA%``
on Windows).  ``DESKPILOT_DATABASE_URL`` points the history at any SQLAlchemy
URL, a shared PostgreSQL for instance.

The folders hold the API token and run history, so ``ensure()`` makes them
readable by the user only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "deskpilot"
HOME_VARIABLE = "DESKPILOT_HOME"
DATABASE_URL_VARIABLE = "DESKPILOT_DATABASE_URL"
DATABASE_FILE = "history.sqlite3"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True, kw_only=True)
class DeskpilotPaths:
    data_dir: Path
    config_dir: Path
    state_dir: Path
    log_dir: Path
    cache_dir: Path
    workflows_dir: Path
    artifacts_dir: Path
    database_url: str

    @classmethod
    def under(cls, home: Path, *, database_url: str | None = None) -> DeskpilotPaths:
        """Everything inside ``home``: the layout ``DESKPILOT_HOME`` selects."""
        home = home.expanduser().resolve()
        data_dir = home / "data"
        return cls(
            data_dir=data_dir,
            config_dir=home / "config",
            state_dir=home / "state",
            log_dir=home / "logs",
            cache_dir=home / "cache",
            workflows_dir=home / "workflows",
            artifacts_dir=home / "artifacts",
            database_url=database_url or sqlite_url(data_dir / DATABASE_FILE),
        )

    @classmethod
    def platform_default(cls, *, database_url: str | None = None) -> DeskpilotPaths:
        """The user's platform directories for the app ``deskpilot``."""
        dirs = PlatformDirs(APP_NAME, appauthor=False)
        data_dir = Path(dirs.user_data_dir)
        return cls(
            data_dir=data_dir,
            config_dir=Path(dirs.user_config_dir),
            state_dir=Path(dirs.user_state_dir),
            log_dir=Path(dirs.user_log_dir),
            cache_dir=Path(dirs.user_cache_dir),
            workflows_dir=data_dir / "workflows",
            artifacts_dir=data_dir / "artifacts",
            database_url=database_url or sqlite_url(data_dir / DATABASE_FILE),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DeskpilotPaths:
        database_url = environ.get(DATABASE_URL_VARIABLE) or None
        home = environ.get(HOME_VARIABLE)
        if home:
            return cls.under(Path(home), database_url=database_url)
        return cls.platform_default(database_url=database_url)

    @property
    def directories(self) -> tuple[Path, ...]:
        return tuple(
            getattr(self, field.name) for field in fields(self) if field.name.endswith("_dir")
        )

    def ensure(self) -> DeskpilotPaths:
        """Create every folder, readable and writable by the user only; return self."""
        for directory in self.directories:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.name == "posix":
                # mkdir's mode is cut by the umask and ignored for existing folders.
                directory.chmod(0o700)
        return self
