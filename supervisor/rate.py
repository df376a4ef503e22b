"""Run-rate ceilings for triggers: no trigger, and no set of triggers, floods the history.

``interval: 1ms`` once made 11,000 runs in 11 s and a 170 MB database, and a
folder receiving thousands of files does the same through a file trigger.
Schedules have a minimum interval (``automation.model``); on top of it every
fire of every trigger passes ``RunRate.admit``: at most ``per_trigger`` runs
per ``window`` seconds from one trigger, and ``total`` from all triggers
together.  A fire past a ceiling starts nothing; the manager records it as
not run, with the reason (one record per trigger per second at most, counting
the fires it stands for, so a storm of refused fires cannot flood the history
either).  Manual submits (CLI, GUI, API) are not triggers and are not counted;
the circuit breaker watches every run's start rate (``supervisor.breaker``).

Both ceilings come from ``SupervisorConfig.rate_limits``, which ``deskpilotd``
reads from ``[rate_limits]`` in ``config.toml``::

    [rate_limits]
    runs_per_trigger = 600     # per window, from one trigger
    runs_total = 1200          # per window, from every trigger together
    window_seconds = 60

Decisions are a pure function of (recorded starts, now), as the breaker's are.
"""

from __future__ import annotations

import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.errors import DeskpilotError

SECTION = "rate_limits"
_KEYS = {"runs_per_trigger": "per_trigger", "runs_total": "total", "window_seconds": "window"}


class RateLimitConfigError(DeskpilotError, ValueError):
    """``[rate_limits]`` in config.toml is not valid."""


@dataclass(frozen=True, kw_only=True)
class RateLimits:
    #: Runs one trigger may start per window.
    per_trigger: int = 600
    #: Runs all triggers together may start per window.
    total: int = 1200
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.per_trigger < 1 or self.total < 1:
            raise RateLimitConfigError(
                f"run-rate ceilings must be at least 1, got runs_per_trigger={self.per_trigger}, "
                f"runs_total={self.total}"
            )
        if self.window <= 0:
            raise RateLimitConfigError(f"the rate window must be positive, got {self.window}")

    @classmethod
    def from_config(cls, config_dir: Path) -> RateLimits:
        """``[rate_limits]`` of ``config_dir/config.toml``; defaults where it says nothing."""
        path = config_dir / "config.toml"
        try:
            with path.open("rb") as stream:
                section: Any = tomllib.load(stream).get(SECTION, {})
        except FileNotFoundError:
            return cls()
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise RateLimitConfigError(f"cannot read {path}: {exc}") from None
        if not isinstance(section, dict):
            raise RateLimitConfigError(f"[{SECTION}] in {path} must be a table of settings")
        unknown = sorted(set(section) - set(_KEYS))
        if unknown:
            raise RateLimitConfigError(
                f"unknown setting {', '.join(unknown)} in [{SECTION}] of {path}; "
                f"known: {', '.join(_KEYS)}"
            )
        values: dict[str, Any] = {}
        for key, field_name in _KEYS.items():
            if key not in section:
                continue
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RateLimitConfigError(f"{key} in [{SECTION}] of {path} must be a number")
            values[field_name] = value if field_name == "window" else int(value)
        return cls(**values)


class RunRate:
    """Starts counted per trigger and in total over a sliding window."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._per: dict[str, deque[float]] = {}
        self._total: deque[float] = deque()

    def admit(self, key: str, now: float) -> str | None:
        """Count a start by trigger ``key`` at ``now``; or say why it must not start."""
        limits = self.limits
        mine = self._per.setdefault(key, deque())
        for starts in (mine, self._total):
            while starts and now - starts[0] >= limits.window:
                starts.popleft()
        if len(mine) >= limits.per_trigger:
            return (
                f"skipped: trigger {key} already started {len(mine)} runs in the last "
                f"{limits.window:g} s, its ceiling (runs_per_trigger in [{SECTION}] of config.toml)"
            )
        if len(self._total) >= limits.total:
            return (
                f"skipped: triggers already started {len(self._total)} runs in the last "
                f"{limits.window:g} s, the ceiling for all of them (runs_total in [{SECTION}] "
                "of config.toml)"
            )
        mine.append(now)
        self._total.append(now)
        return None

    def forget(self, key: str) -> None:
        self._per.pop(key, None)
