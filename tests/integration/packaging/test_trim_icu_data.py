"""The bundle's trimmed ICU data serves Qt as the full one does, except time zone names.

packaging/trim_icu_data.py rebuilds Qt's ``libicudata`` without locale display
names, transliterators and number spellings.  This trims the real library from
the installed PySide6 wheel, then runs Qt in two processes, one with the
trimmed library preloaded in place of the wheel's (same soname, so Qt's ICU
binds to it), and compares collation in a language with its own order
(Swedish), case mapping, number formatting, language names and a time zone.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
from PySide6.QtCore import QCollator, QCoreApplication, QLocale, QTimeZone
app = QCoreApplication(sys.argv[:1])
words = ["zebra", "Äpfel", "apple", "öl", "ost", "Zeta", "ähnlich"]
tz = QTimeZone(b"Europe/Berlin")
print(json.dumps({
    "icudata": [l.split()[-1] for l in open("/proc/self/maps") if "libicudata" in l][:1],
    "sv_sorted": sorted(words, key=QCollator(QLocale("sv_SE")).sortKey),
    "de_sorted": sorted(words, key=QCollator(QLocale("de_DE")).sortKey),
    "upper": QLocale("de_DE").toUpper("straße"),
    "number": QLocale("de_DE").toString(1234567.25, "f", 2),
    "language": QLocale("ja_JP").nativeLanguageName(),
    "tz_valid": tz.isValid(),
    "tz_name": tz.displayName(QTimeZone.TimeType.StandardTime, QTimeZone.NameType.LongName, QLocale("de_DE")),
}))
"""


def _trimmer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "trim_icu_data", ROOT / "packaging" / "trim_icu_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _probe(preload: Path | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    if preload is not None:
        env["LD_PRELOAD"] = str(preload)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_trimmed_icu_data_serves_qt_like_the_full_one(tmp_path: Path) -> None:
    if shutil.which("icupkg") is None:
        pytest.skip("icupkg is missing (apt-get install icu-devtools; packaging/system-deps.sh)")
    import PySide6

    wheel = sorted((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
    assert wheel, "the PySide6 wheel ships no libicudata"
    bundle = tmp_path / "deskpilot"
    (bundle / "_internal").mkdir(parents=True)
    trimmed = bundle / "_internal" / wheel[0].name
    shutil.copy2(wheel[0], trimmed)

    assert _trimmer().main([str(bundle)]) == 0
    assert trimmed.stat().st_size < wheel[0].stat().st_size - 10_000_000

    full, trim = _probe(None), _probe(trimmed)
    assert trim["icudata"] == [str(trimmed)], "Qt did not bind to the trimmed library"
    assert full["icudata"] != trim["icudata"]
    for key in ("sv_sorted", "de_sorted", "upper", "number", "language", "tz_valid"):
        assert trim[key] == full[key], key
    # Swedish sorts å, ä and ö after z: the tailoring survives the trim
    assert trim["sv_sorted"][-3:] == ["ähnlich", "Äpfel", "öl"]
    # time zone display names are gone with zone/*: ICU falls back to the offset
    assert full["tz_name"] == "Mitteleuropäische Normalzeit"
    assert trim["tz_name"] == "GMT+01:00"
