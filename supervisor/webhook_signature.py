"""Signed webhook calls: an HMAC-SHA256 of a timestamp and the body, as GitHub, Stripe and
Slack sign theirs.

A caller sends::

    X-Deskpilot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

keyed with the webhook's secret (its UTF-8 bytes).  The supervisor accepts it
when the HMAC matches (compared in constant time), ``t`` is within the replay
window of now (default 5 minutes, either way: clocks drift), and the same
signature was not accepted before within that window (the nonce cache).  The
signature covers the exact bytes sent, so it is checked before the body is
parsed.  Several ``v1=`` values may be sent (while a secret is rotated); one
matching is enough.

Only the standard library here: the client imports it to sign.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from dataclasses import dataclass

HEADER = "X-Deskpilot-Signature"
#: Seconds a signed request stays acceptable, before and after its timestamp.
REPLAY_WINDOW = 300.0
#: Most signatures remembered; past it the oldest are forgotten first.
MAX_REMEMBERED = 100_000

_PART = re.compile(r"^\s*(t|v1)=([0-9A-Za-z]+)\s*$")


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a caller sends for ``body`` at ``timestamp``."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


@dataclass(frozen=True)
class Signature:
    timestamp: int
    candidates: tuple[str, ...]


def parse(header: str | None) -> Signature | None:
    """The header's timestamp and ``v1`` values; None when it is absent or malformed."""
    if not header or len(header) > 4096:
        return None
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        match = _PART.match(part)
        if match is None:
            continue  # unknown schemes are ignored, as Stripe does, so v2 can be added later
        key, value = match.groups()
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        return None
    return Signature(timestamp, tuple(candidates))


def matches(signature: Signature, secret: str, body: bytes) -> str | None:
    """The matching ``v1`` value, or None (every candidate compared in constant time)."""
    expected = digest(secret, signature.timestamp, body)
    found = None
    for candidate in signature.candidates:
        if hmac.compare_digest(candidate.encode("ascii"), expected.encode("ascii")):
            found = candidate
    return found


class ReplayCache:
    """Signatures accepted within the replay window: the same request twice is a replay."""

    def __init__(self, window: float = REPLAY_WINDOW, limit: int = MAX_REMEMBERED) -> None:
        self.window = window
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, value: str, now: float) -> bool:
        """Remember ``value`` (seen at unix time ``now``); False if it was seen already."""
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if seen_at + 2 * self.window >= now and len(self._seen) < self.limit:
                break
            del self._seen[oldest]
        if value in self._seen:
            return False
        self._seen[value] = now
        return True
