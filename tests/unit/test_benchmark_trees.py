"""A benchmark run against another checkout (``--against TREE``) measures that tree's product
with this checkout's benchmark code: its helper modules too, not only its file and ``_util``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.benchmarks import _util


def test_helpers_come_from_this_checkout_and_the_product_from_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "old"
    (tree / "tests" / "benchmarks").mkdir(parents=True)
    (tree / "tests" / "__init__.py").write_text("", encoding="utf-8")
    (tree / "tests" / "benchmarks" / "__init__.py").write_text("", encoding="utf-8")
    # the old tree's own code: what the benchmark drives
    (tree / "tests" / "driven.py").write_text("WHERE = 'old tree'\n", encoding="utf-8")
    script = tmp_path / "bench_probe.py"
    script.write_text(
        "import tests.benchmarks._process_counters as helper, tests.benchmarks._util as util\n"
        "import tests.driven\n"
        "print(helper.__file__); print(util.__file__); print(tests.driven.WHERE)\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", _util.IN_TREE, str(script), _util.__file__],
        cwd=tree,
        env={"PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    helper, util, driven = done.stdout.splitlines()
    here = Path(_util.__file__).resolve().parent
    assert Path(helper).resolve().parent == here
    assert Path(util).resolve().parent == here
    assert driven == "old tree"
