"""An installed Deskpilot survives PyPI's ``supervisor`` being installed and removed beside it.

Top-level packages named ``supervisor`` used to collide: pip merged PyPI's
``supervisor`` into Deskpilot's folder and its uninstall deleted Deskpilot's
``supervisor/__init__.py``.  A wheel now keeps the packages in
``site-packages/deskpilot/`` (setup.py, packaging/deskpilot/).  This test builds
the real wheel, installs it non-editable into a fresh venv, installs and
uninstalls the real PyPI ``supervisor`` beside it, and runs Deskpilot in between
and after, in-process and through a supervisor and its worker.

One shortcut, for time: the fresh venv gets the dependencies (PySide6, OpenCV...)
from the test's own environment through a ``.pth`` line rather than downloading
them again; Deskpilot itself and PyPI's ``supervisor`` are real installs into
the fresh venv's own site-packages, which is where the collision happened.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HELLO = ROOT / "resources" / "examples" / "hello.yaml"


#: Outside the source tree, so that neither PYTHONPATH nor the working directory finds it.
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DESKPILOT_HOME", "DISPLAY")
}


def _run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=env or CLEAN_ENV,
        cwd="/",
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _pip(python: Path, *args: str | Path) -> str:
    return _run(
        sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", *args
    )


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT, timeout=300)
    return next(out.glob("deskpilot-*.whl"))


def test_pypi_supervisor_beside_an_installed_deskpilot(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    _pip(python, "install", "--no-deps", "-q", wheel)
    # after the install, or pip would see this environment's editable Deskpilot and skip it
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    assert (site / "deskpilot" / "supervisor" / "__init__.py").is_file()
    assert not (site / "supervisor").exists(), "Deskpilot must not own a top-level 'supervisor'"

    env = {**CLEAN_ENV}
    env["DESKPILOT_HOME"] = str(tmp_path / "home")
    deskpilot = venv / "bin" / "deskpilot"

    def works() -> None:
        assert _run(deskpilot, "--version", env=env).startswith("deskpilot")
        out = _run(deskpilot, "run", HELLO, "--input", "who=pip", env=env)
        assert "Hello, pip!" in out, out

    works()
    _pip(python, "install", "--no-deps", "-q", "supervisor")
    # Both installed: other programs get PyPI's supervisor, Deskpilot's programs get their own.
    theirs = _run(python, "-c", "import supervisor.supervisord as s; print(s.__file__)", env=env)
    assert Path(theirs.strip()).parent == site / "supervisor"
    works()
    # Deskpilot's supervisor starts its daemon and a worker through the launcher.
    _run(deskpilot, "supervisor", "start", env=env)
    try:
        out = _run(deskpilot, "submit", HELLO, "--input", "who=worker", "--wait", env=env)
        assert "succeeded" in out, out
    finally:
        _run(deskpilot, "supervisor", "stop", env=env)

    _pip(python, "uninstall", "-y", "-q", "supervisor")
    assert not (site / "supervisor").exists()
    assert (site / "deskpilot" / "supervisor" / "__init__.py").is_file()
    works()
