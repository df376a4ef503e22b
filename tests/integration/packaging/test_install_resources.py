"""The installed package finds its icons, examples, templates and README in every install mode.

One wheel is built (``pip wheel --no-deps``, as a user's pip would) and
installed for real, without dependencies (finding files needs none):

- into a fresh venv (what pipx does too: a venv per application);
- with ``pip install --user`` under a temporary ``PYTHONUSERBASE`` and HOME;
- with ``--prefix``, the layout of a system install (``/usr/local``), found
  through the path of the installed module alone.

Each installed copy is asked in a subprocess (``python -m deskpilot app.resources``)
where its files are; the answer must be inside that installation, never this
checkout.  The PyInstaller bundle's ``sys._MEIPASS`` is covered in
tests/unit/app/test_resources.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PIP_TIMEOUT = 120


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    """``env`` without the checkout on PYTHONPATH, or pip finds Deskpilot installed and skips it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True, timeout=PIP_TIMEOUT, env=env, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "-w", str(out), str(REPO))
    (built,) = out.glob("deskpilot-*.whl")
    return built


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No PYTHONPATH (it points at the checkout), no override: only the installation answers."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DESKPILOT_RESOURCES")}
    env.update(HOME=str(home), **extra)
    return env


def ask(python: str, env: dict[str, str], cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        [python, "-m", "deskpilot", "app.resources"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def check(answer: dict[str, object], installed_under: Path) -> None:
    resources = Path(str(answer["resources"]))
    assert Path(str(answer["module"])).is_relative_to(installed_under), answer["module"]
    assert resources == installed_under / "share" / "deskpilot" / "resources", answer
    assert "deskpilot.svg" in answer["icons"] and "run.svg" in answer["icons"]
    shipped = sorted(
        p.relative_to(REPO / "resources" / "examples").as_posix()
        for p in (REPO / "resources" / "examples").rglob("*") if p.is_file()
    )  # fmt: skip
    assert answer["examples"] == shipped
    assert answer["templates"] == sorted(
        p.name for p in (REPO / "resources" / "templates").glob("*.yaml")
    )
    assert answer["readme"] == str(resources / "README.md")


def base_python() -> str:
    return getattr(sys, "_base_executable", sys.executable)


def test_a_venv_install_finds_its_files(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [base_python(), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = str(venv / "bin" / "python")
    pip("--python", python, "install", "--no-deps", str(wheel), env=clean_env(tmp_path))
    check(ask(python, clean_env(tmp_path), tmp_path), venv)


def test_a_user_install_finds_its_files(wheel: Path, tmp_path: Path) -> None:
    userbase = tmp_path / "userbase"
    env = clean_env(tmp_path, PYTHONUSERBASE=str(userbase))
    # --break-system-packages: a distribution's Python refuses --user installs without it
    pip("--python", base_python(), "install", "--user", "--no-deps", "--break-system-packages",
        str(wheel), env=env)  # fmt: skip
    check(ask(base_python(), env, tmp_path), userbase)


def test_a_system_layout_install_finds_its_files(wheel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "usr-local"
    pip("--python", base_python(), "install", "--prefix", str(prefix), "--no-deps",
        "--break-system-packages", str(wheel), env=clean_env(tmp_path))  # fmt: skip
    purelib = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    # only the module's own path leads to <prefix>/share: no env variable, no sys.prefix
    env = clean_env(tmp_path, PYTHONPATH=purelib)
    check(ask(base_python(), env, tmp_path), prefix)
