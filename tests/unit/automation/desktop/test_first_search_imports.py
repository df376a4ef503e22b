"""The first search of a process imports no more of numpy than it needs.

``np.percentile``, ``np.unique`` and ``np.median`` of floats import ``numpy.ma``
(its masked-array checks): about 10 ms of CPU that the first search of a worker
paid on its first label check.  The matcher computes those values itself
(``screen_ink.full_ink``, ``straight_ink.straight``), to the bit the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from automation.blocks.desktop import screen_ink, straight_ink
from automation.blocks.desktop.screen_ink import INK_CONTRAST


def test_a_search_through_every_stage_does_not_import_numpy_ma() -> None:
    # the "~" of a synthetic key on speedcrunch's dark keypad is refused on its "-" key
    # (a straight bar) and then looked for by every later stage: labels, ink shares
    code = textwrap.dedent(
        """
        import sys
        from automation.blocks.desktop import matching
        from tests.unit.automation.desktop.test_labels_captured import load
        from tests.unit.automation.desktop.test_straight_captured import tilde_glyph

        assert "numpy.ma" not in sys.modules
        result = matching.find(load("speedcrunch-dark"), tilde_glyph(True))
        assert any("straight bar" in r.reason for r in result.refused), result.refused
        print(sorted(n for n in sys.modules if n == "numpy.ma" or n.startswith("numpy.ma.")))
        """
    )
    root = Path(__file__).resolve().parents[4]  # this checkout, not an installed copy
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=root,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_full_ink_is_numpy_s_90th_percentile_to_the_bit() -> None:
    rng = np.random.default_rng(7)
    for _ in range(3000):
        count = int(rng.integers(0, 200))
        face = float(rng.integers(0, 256)) + float(rng.choice([0.0, 0.5]))
        pixels = rng.integers(0, 256, count).astype(np.float32)
        darkness = (face - pixels) * float(rng.choice([1, -1]))
        inked = darkness[darkness >= INK_CONTRAST]
        expected = max(float(INK_CONTRAST), float(np.percentile(inked, 90)) if inked.size else 0.0)
        assert screen_ink.full_ink(darkness) == expected


def test_straight_takes_each_row_s_median_as_numpy_does() -> None:
    rng = np.random.default_rng(11)
    for _ in range(3000):
        rows, columns = int(rng.integers(1, 8)), int(rng.integers(7, 30))
        # a bar's rows, each along the columns with some noise (none to a lot)
        profile = rng.random((rows, 1)) * (rng.random(columns) < 0.8)
        noise = rng.normal(0, float(rng.choice([0.0, 0.02, 0.05, 0.2])), (rows, columns))
        share = np.clip(profile + noise, 0, 1).astype(np.float32)
        inked = straight_ink._inked(share)
        expected = False
        if len(inked) >= straight_ink.MIN_LENGTH:
            inner = share[:, inked[0] + 1 : inked[-1]]
            median = np.median(inner, axis=1, keepdims=True)
            expected = float(np.abs(inner - median).max()) <= straight_ink.STRAIGHT
        assert straight_ink.straight(share) == expected
