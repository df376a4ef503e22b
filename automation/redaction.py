"""The one place that keeps secret values out of logs, events, history and exports.

A ``Redactor`` learns each secret value when it is read from the keyring and
then replaces it wherever it appears: as is, URL-encoded, JSON-escaped, and
base64-encoded, including inside a longer base64 text (an HTTP Basic
``Authorization`` header, for example) at any of the three byte alignments.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
#: Values shorter than this are not redacted: masking "a" would ruin every log line.
MIN_SECRET_LENGTH = 4


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode().rstrip("="))
        # Inside a longer base64 text the secret starts at offset 0, 1 or 2 of a
        # 3-byte group; encode with that much padding in front and keep only the
        # characters that depend on the secret alone.
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + raw).decode().rstrip("=")
            inner = encoded[(offset * 4 + 2) // 3 : (len(offset * b"\0" + raw) * 4) // 3]
            if len(inner) >= MIN_SECRET_LENGTH:
                forms.add(inner)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces known secret values; thread-safe, shared by a run's engine and sinks."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            # longest first, so a form that contains another is masked whole
            self._forms = tuple(sorted(set(self._forms) | _forms(secret), key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, value: str) -> str:
        # Repeat until nothing matches: a mask next to a '*' in the text can
        # spell a secret again.  Each replacement shortens or keeps the text
        # shorter than the form it removed, so this ends.
        changed = True
        while changed:
            changed = False
            for form in self._forms:
                if form in value:
                    value = value.replace(form, MASK)
                    changed = True
        return value

    def value(self, value: Any) -> Any:
        """Redact strings anywhere inside JSON-like data; other values pass through."""
        if not self._forms:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(str(k)) if isinstance(k, str) else k: self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace")).encode()
        return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message and arguments."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor:
            record.msg = self.redactor.text(record.getMessage())
            record.args = None
        return True
