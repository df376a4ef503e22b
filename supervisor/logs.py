"""Structured JSON logs for the daemon and its workers, with secrets masked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from automation.redaction import RedactingFilter, Redactor, process_redactor

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields (run_id, node_id, attempt) are kept."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "t": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # the redacting filter leaves the masked traceback here
            data["exc"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


def json_handler(
    path: Path | None,
    redactor: Redactor | None = None,
    *,
    max_bytes: int = 10_000_000,
    backups: int = 5,
) -> logging.Handler:
    """A rotating JSON log file (or stderr when ``path`` is None), secrets masked.

    Masked with ``redactor``, by default the process's: every secret a run of
    this process resolved.
    """
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(redactor if redactor is not None else process_redactor()))
    return handler
