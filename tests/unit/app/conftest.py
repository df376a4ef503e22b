"""GUI tests run offscreen, and any Qt warning fails the test that caused it.

``QT_QPA_PLATFORM`` must be set before Qt is imported, hence at the top of
this file.  The message handler records every Qt warning (and worse) during
a test and fails the test at teardown, so a binding error, a bad signal
connection or a painter misuse cannot pass unnoticed.  A test that expects a
warning says so with ``qt_warnings.expect(pattern)``.
"""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re  # noqa: E402
import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QtMsgType, qInstallMessageHandler  # noqa: E402

from tests.unit.app.appkit import EXAMPLES  # noqa: E402

#: Messages from the offscreen platform itself, which cannot do what a real one does.
PLATFORM_NOISE = (
    re.compile(r"^This plugin does not support propagateSizeHints\(\)$"),
    re.compile(r"^This plugin does not support raise\(\)$"),
    re.compile(r"^This plugin does not support grabbing the keyboard$"),
)
_FAILING = {QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg}


@dataclass
class QtWarnings:
    records: list[tuple[QtMsgType, str]] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [
            message
            for kind, message in self.records
            if kind in _FAILING
            and not any(p.search(message) for p in (*PLATFORM_NOISE, *self.expected))
        ]


@contextlib.contextmanager
def failing_on_qt_warnings(
    expected: tuple[re.Pattern[str], ...] = (),
) -> Iterator[QtWarnings]:
    """Record Qt's messages while the block runs; fail the test on an unexpected warning."""
    recorder = QtWarnings()
    recorder.expected.extend(expected)
    previous = None

    def handler(kind: QtMsgType, context: object, message: str) -> None:
        recorder.records.append((kind, message))
        if previous is not None:
            previous(kind, context, message)

    previous = qInstallMessageHandler(handler)
    try:
        yield recorder
    finally:
        qInstallMessageHandler(previous)
    bad = recorder.unexpected()
    if bad:
        pytest.fail("Qt warnings during the test:\n" + "\n".join(f"  {m}" for m in bad))


@pytest.fixture(autouse=True)
def qt_warnings() -> Iterator[QtWarnings]:
    with failing_on_qt_warnings() as recorder:
        yield recorder


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of resources/examples (subflows included) that tests may change."""
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target
