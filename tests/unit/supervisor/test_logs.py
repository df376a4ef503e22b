"""The daemon's log: JSON lines, rotated by size, extra fields kept, secrets masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.redaction import Redactor
from supervisor.logs import json_handler


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("deskpilot.test.logs")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def test_every_line_is_a_json_object_with_the_extra_fields(
    tmp_path: Path, logger: logging.Logger
) -> None:
    path = tmp_path / "logs" / "deskpilotd.log"
    logger.addHandler(json_handler(path))
    logger.warning("run %s interrupted", "r1", extra={"run_id": "r1", "attempt": 2})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("step failed")

    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["msg"] == "run r1 interrupted"
    assert first["level"] == "warning" and first["logger"] == "deskpilot.test.logs"
    assert first["run_id"] == "r1" and first["attempt"] == 2
    assert first["t"].endswith("+00:00")
    assert "ValueError: boom" in second["exc"]


def test_the_file_rotates_by_size_keeping_a_bounded_number_of_old_files(
    tmp_path: Path, logger: logging.Logger
) -> None:
    path = tmp_path / "deskpilotd.log"
    logger.addHandler(json_handler(path, max_bytes=2_000, backups=2))
    for number in range(200):
        logger.info("line %d %s", number, "x" * 50)

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["deskpilotd.log", "deskpilotd.log.1", "deskpilotd.log.2"]
    for name in files:
        text = (tmp_path / name).read_text()
        assert len(text.encode()) <= 2_000
        assert all(json.loads(line)["msg"].startswith("line ") for line in text.splitlines())
    newest = json.loads((tmp_path / "deskpilotd.log").read_text().splitlines()[-1])
    assert newest["msg"].startswith("line 199 ")


def test_secret_values_are_masked(tmp_path: Path, logger: logging.Logger) -> None:
    redactor = Redactor()
    redactor.add("hunter2-canary")
    path = tmp_path / "deskpilotd.log"
    logger.addHandler(json_handler(path, redactor))
    logger.info("password is %s", "hunter2-canary")
    assert "hunter2-canary" not in path.read_text()


def test_a_secret_in_a_traceback_and_an_extra_field_is_masked_before_json_escaping(
    tmp_path: Path, logger: logging.Logger
) -> None:
    secret = 'pa"ss wörd/+='
    path = tmp_path / "deskpilotd.log"
    logger.addHandler(json_handler(path, Redactor([secret])))
    try:
        raise RuntimeError(f"login failed for {secret!r}")
    except RuntimeError:
        logger.exception("GET /x?token=%s", secret, extra={"detail": {"password": secret}})

    text = path.read_text(encoding="utf-8")
    line = json.loads(text)
    assert "RuntimeError: login failed for '***'" in line["exc"]
    assert line["msg"] == "GET /x?token=***" and line["detail"] == {"password": "***"}
    assert json.dumps(secret)[1:-1] not in text and secret not in text
