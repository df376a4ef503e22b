"""``deskpilotd``'s settings from ``config.toml``: ``SupervisorConfig`` as the user wrote it.

Two sections of ``<config_dir>/config.toml`` shape the supervisor::

    [supervisor]
    handover_timeout = 13      # seconds a claimed run may wait for its worker to start it

    [rate_limits]              # supervisor.rate
    runs_per_trigger = 600

A missing file or section means the defaults.  A bad value is a
``SupervisorConfigError`` naming the file, the section and the key, and
what to write instead, raised before the supervisor starts (``deskpilotd``
prints it and exits 1) rather than a guess that hides the mistake.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from automation.errors import DeskpilotError
from supervisor.config import SupervisorConfig
from supervisor.rate import RateLimits

CONFIG_FILE = "config.toml"
SECTION = "supervisor"
#: Keys of ``[supervisor]``, and what each means (for the "known:" part of an error).
KNOWN = {"handover_timeout": "seconds, > 0"}


class SupervisorConfigError(DeskpilotError, ValueError):
    """``[supervisor]`` in config.toml is not valid."""


def _section(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            section: Any = tomllib.load(stream).get(SECTION, {})
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise SupervisorConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(section, dict):
        raise SupervisorConfigError(
            f"[{SECTION}] in {path} must be a table of settings, such as\n"
            f"[{SECTION}]\nhandover_timeout = 13"
        )
    return section


def _handover_timeout(value: object, path: Path) -> float:
    where = f"handover_timeout in [{SECTION}] of {path}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SupervisorConfigError(
            f"{where} must be a number of seconds, got {value!r}; "
            "write e.g. handover_timeout = 13, or remove it for the default"
        )
    if not math.isfinite(value) or value <= 0:
        raise SupervisorConfigError(
            f"{where} must be a positive number of seconds, got {value!r}; "
            "a claimed run waits this long for its worker to start it before it is "
            "queued again (remove it for the default, a worker's start-up time plus "
            "two heartbeat leases)"
        )
    return float(value)


def load_supervisor_config(config_dir: Path) -> SupervisorConfig:
    """The supervisor's settings from ``config_dir/config.toml``, defaults where it says nothing."""
    path = config_dir / CONFIG_FILE
    section = _section(path)
    unknown = sorted(set(section) - set(KNOWN))
    if unknown:
        raise SupervisorConfigError(
            f"unknown setting {', '.join(unknown)} in [{SECTION}] of {path}; known: "
            + ", ".join(f"{key} ({meaning})" for key, meaning in KNOWN.items())
        )
    handover = section.get("handover_timeout")
    return SupervisorConfig(
        rate_limits=RateLimits.from_config(config_dir),
        handover_timeout=None if handover is None else _handover_timeout(handover, path),
    )
