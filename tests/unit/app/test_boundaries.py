"""The GUI's Qt-free parts import without Qt, and Qt warnings fail tests."""

from __future__ import annotations

import subprocess
import sys

from PySide6.QtCore import qWarning

from tests.unit.app.appkit import REPO
from tests.unit.app.conftest import QtWarnings

_BLOCK_QT = """
import sys
class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name == "PySide6" or name.startswith("PySide6."):
            raise ImportError("Qt is blocked in this test")
        return None
sys.meta_path.insert(0, _NoQt())
import app.editor.document, app.editor.layout, app.editor.clipboard, app.editor.checking
import app.library, app.connection
print("ok")
"""


def test_document_library_and_layout_need_no_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCK_QT], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_qt_warnings_are_recorded(qt_warnings: QtWarnings) -> None:
    qt_warnings.expect("^deliberate warning$")
    qWarning("deliberate warning")
    assert any(message == "deliberate warning" for _kind, message in qt_warnings.records)
    assert qt_warnings.unexpected() == []
    qt_warnings.records.append((qt_warnings.records[0][0], "something broke"))
    assert qt_warnings.unexpected() == ["something broke"]
    qt_warnings.records.pop()
