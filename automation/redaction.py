"""The one place that keeps secret values out of logs, events, history and exports.

A ``Redactor`` learns each secret value when it is read from the keyring and
then replaces it wherever it appears, in every form it takes on the way out:

* as is;
* URL-encoded, by any library's choice of safe characters: each character
  may be itself or ``%XX`` (either hex case), a space may be ``+`` or ``%20``.
  httpx, for one, keeps ``+ / = ?`` of a query as they are but encodes a space
  and non-ASCII, so the text it logs is neither ``quote`` nor ``quote_plus``
  of the secret; matching character by character catches every such mix;
* JSON- or JavaScript-escaped (``\\uXXXX`` either case, ``\\"``, ``\\/``...),
  Python ``repr`` (``\\'``, ``\\xXX`` of str and of bytes), and a backslash
  before punctuation (``re.escape``, shell quoting);
* base64, standard and URL-safe, alone or inside a longer base64 text (an
  HTTP Basic ``Authorization`` header, for example) at each of the three byte
  alignments, with or without padding;
* hex, either case.

All forms of all known secrets are one compiled regular expression, rebuilt
when a secret is added, so a text is scanned once whatever the number of
secrets.

Mask before anything cuts, encodes or quotes a text: a message cut short
keeps a secret's prefix that no longer matches anything.  ``clip`` and
``clip_tail`` cut a text and mask it in one go, masking a secret that
straddles the cut as a whole.

Each process has one ``process_redactor()``: every secret value any run of
the process resolves is added to it, and ``redact_logging()`` puts a filter
with it on every log handler of the process, so a library's log line (httpx
logs each request's URL) is masked like the run's own events.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import re
import threading
from typing import Any, TextIO

MASK = "***"
#: Values shorter than this are not redacted: masking "a" would ruin every log line.
#: ``deskpilot secrets set`` asks for more (``automation.secrets.MIN_SECRET_VALUE_LENGTH``).
MIN_SECRET_LENGTH = 4
#: The longest text one character of a secret can become (4 UTF-8 bytes as ``\\xHH``).
_WIDEST_CHAR = 16

_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_REPR_SHORT = {"'": "\\'", "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hex(digits: str) -> str:
    """A pattern for hex digits in either case: 'c3' matches 'c3' and 'C3'."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in digits)


#: Characters no URL, JSON or repr encoder changes: they stand for themselves.
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

#: One way to write a character: the literal text it starts with, and a pattern for the rest.
_Option = tuple[str, str]


@functools.cache
def _options(ch: str) -> tuple[_Option, ...]:
    """Every way one character of a secret may be written in the encodings it travels in."""
    if ch in _PLAIN:
        return ((ch, ""),)
    utf8 = ch.encode("utf-8", "surrogatepass")
    code = ord(ch)
    options: set[_Option] = {(ch, "")}
    # URL (each UTF-8 byte), and repr of bytes (the same bytes as \xHH)
    for lead, mark in (("%", ""), ("\\", "x")):
        first, *rest = (f"{b:02x}" for b in utf8)
        more = "".join(re.escape(lead + mark) + _hex(b) for b in rest)
        options.add((lead, mark + _hex(first) + more))
    if ch == " ":
        options.add(("+", ""))  # form encoding
    if code > 0xFFFF:  # JSON: a surrogate pair; repr: \U0001xxxx
        high = 0xD800 + ((code - 0x10000) >> 10)
        low = 0xDC00 + ((code - 0x10000) & 0x3FF)
        options.add(("\\", "u" + _hex(f"{high:04x}") + re.escape("\\u") + _hex(f"{low:04x}")))
        options.add(("\\", "U" + _hex(f"{code:08x}")))
    else:
        options.add(("\\", "u" + _hex(f"{code:04x}")))
        if code < 0x100:
            options.add(("\\", "x" + _hex(f"{code:02x}")))  # repr of a str
    for table in (_JSON_SHORT, _REPR_SHORT):
        if ch in table:
            options.add(("\\", re.escape(table[ch][1:])))
    if code < 0x80:
        options.add(("\\", re.escape(ch)))  # re.escape, a shell's backslash

    return tuple(sorted(options))


def _char(ch: str) -> str:
    """A pattern for one character in any of its encodings."""
    alternatives = sorted({re.escape(lead) + rest for lead, rest in _options(ch)}, key=len)
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(reversed(alternatives)) + ")"


def _spelled(text: str) -> str:
    """A pattern for ``text`` with each character in any of its encodings."""
    return "".join(_char(ch) for ch in text)


def _base64_forms(raw: bytes) -> set[str]:
    """The characters of the base64 of ``raw`` that depend on ``raw`` alone.

    Inside a longer base64 text the secret starts at offset 0, 1 or 2 of a
    3-byte group; encode it with that much in front and keep only the
    characters no neighbour contributes to.  Without padding, so a form
    matches with or without it (the ``=`` left over says nothing).
    """
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode().rstrip("="))
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + raw).decode().rstrip("=")
            forms.add(encoded[(offset * 4 + 2) // 3 : ((offset + len(raw)) * 4) // 3])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _alternatives(secret: str) -> list[_Option]:
    """Every form of one secret, as (first literal text, pattern for the rest), longest first.

    Plain, base64 and hex; base64 and hex are ASCII, and URL- or JSON-escaping
    them changes only '+', '/' and '=', which the character patterns cover.
    """
    raw = secret.encode("utf-8", "surrogatepass")
    forms = [secret, *sorted(_base64_forms(raw), key=len, reverse=True)]
    found: list[_Option] = []
    for form in forms:
        rest = _spelled(form[1:])
        found += [(lead, first + rest) for lead, first in _options(form[0])]
    digits = raw.hex()
    found += [(lead, _hex(digits[1:])) for lead in sorted({digits[0], digits[0].upper()})]
    return found


def _compile(secrets: set[str]) -> re.Pattern[str]:
    """One pattern for every form of every secret, branching on the first character.

    Python's regex engine tries a top-level alternation's branches one after
    the other at each position; grouped by their first literal character it
    looks at most one branch per position, and skips positions where no
    branch can start (its charset prefix check): 8x faster on log lines.
    """
    groups: dict[str, list[str]] = {}
    for secret in sorted(secrets, key=len, reverse=True):  # a longer secret wins the position
        for lead, rest in _alternatives(secret):
            groups.setdefault(lead, []).append(rest)
    return re.compile(
        "|".join(re.escape(lead) + "(?:" + "|".join(rests) + ")" for lead, rests in groups.items())
    )


def secret_pattern(secret: str) -> re.Pattern[str]:
    """The regular expression for every form of one secret (see the module docstring)."""
    return _compile({secret})


class Redactor:
    """Replaces known secret values; thread-safe, shared by a run's engine and sinks.

    A redactor made with a ``parent`` adds every secret it learns to the
    parent too: a run's redactor teaches the process-wide one, so the
    process's log handlers mask what the run resolved.
    """

    def __init__(self, secrets: list[str] | None = None, *, parent: Redactor | None = None) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._reach = 0
        self.parent = parent
        self.add(*(secrets or []))

    def add(self, *secrets: str) -> None:
        """Learn these values; the pattern is rebuilt once for all of them."""
        if self.parent is not None:
            self.parent.add(*secrets)
        new = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH} - self._secrets
        if not new:
            return
        with self._lock:
            known = self._secrets | new
            if known == self._secrets:
                return
            longest = max(len(s.encode("utf-8", "surrogatepass")) for s in known)
            # publish the pattern before the set: a reader never sees a secret as known early
            self._pattern, self._reach = _compile(set(known)), longest * _WIDEST_CHAR
            self._secrets = known

    def __bool__(self) -> bool:
        return self._pattern is not None

    @property
    def reach(self) -> int:
        """An upper bound of the length of any form of any known secret (0: none known)."""
        return self._reach

    def text(self, value: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return value
        # Repeat until nothing matches: a mask next to a '*' in the text can
        # spell a secret again.  Every form is longer than the mask, so each
        # pass shortens the text and this ends.
        while True:
            masked = pattern.sub(MASK, value)
            if masked == value:
                return value
            value = masked

    def clip(self, value: str, limit: int, suffix: str = "") -> str:
        """The first ``limit`` characters of ``value``, masked; ``suffix`` added when cut.

        A secret that starts before the cut and ends after it is masked whole
        rather than left as a prefix.
        """
        if len(value) <= limit:
            return self.text(value)
        cut = limit
        pattern = self._pattern
        if pattern is not None:
            for match in pattern.finditer(value, 0, limit + self._reach):
                if match.end() <= limit:
                    continue
                if match.start() < limit:
                    cut = match.end()
                break
        return self.text(value[:cut]) + suffix

    def clip_tail(self, value: str, limit: int, prefix: str = "") -> str:
        """The last ``limit`` characters of ``value``, masked; ``prefix`` added when cut.

        A secret that ends after the cut and starts before it is masked whole
        rather than left as a suffix.
        """
        if len(value) <= limit:
            return self.text(value)
        start = len(value) - limit
        pattern = self._pattern
        if pattern is not None:
            for match in pattern.finditer(value, max(0, start - self._reach)):
                if match.start() >= start:
                    break
                if match.end() > start:
                    start = match.start()
                    break
        return prefix + self.text(value[start:])

    def value(self, value: Any) -> Any:
        """Redact strings anywhere inside JSON-like data; other values pass through."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace")).encode()
        return value


_process_redactor = Redactor()


def process_redactor() -> Redactor:
    """This process's redactor: every secret any run here resolved; what log handlers use."""
    return _process_redactor


_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message, traceback and extra fields.

    The message is formatted and masked here, before any formatter quotes or
    escapes it (a JSON formatter would turn a secret's '"' into '\\"').
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor if redactor is not None else process_redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        if not redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it; this must not raise
            message = f"{record.msg} {record.args!r}"
        record.msg = redactor.text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.text(record.exc_text)
            record.exc_info = None  # formatters print exc_text; nothing formats it again
        if record.stack_info:
            record.stack_info = redactor.text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_RECORD_FIELDS and not key.startswith("_"):
                setattr(record, key, redactor.value(value))
        return True


def redact_logging(logger: logging.Logger | None = None) -> None:
    """Put a ``RedactingFilter`` with the process redactor on every handler of ``logger``.

    Each process calls this once its handlers are set up (the root logger's by
    default); a handler that already has a redacting filter is left as it is.
    """
    target = logger if logger is not None else logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


class RedactingStream(io.TextIOBase):
    """A text stream that masks what is written through it (a worker's stderr).

    Prints and tracebacks written straight to ``sys.stderr`` bypass logging;
    this catches them.  Each ``write`` is masked as a whole: ``print`` writes
    its text in one call, so a secret inside it is never split.
    """

    def __init__(self, stream: TextIO, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._redactor = redactor if redactor is not None else process_redactor()

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.text(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    def writable(self) -> bool:
        return True
