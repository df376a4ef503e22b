"""Redaction benchmark: what masking costs per log line and per event, by number of secrets.

    .venv/bin/python -m tests.benchmarks.bench_redaction [--lines N] [--repeat K]

For 0, 1, 5, 20 and 100 known secrets (each 24 characters, with '+', '/',
'=', a space and a non-ASCII letter, like the canary test's), it reports:

* ``add 1 by 1``: the time to learn them one by one (the pattern is rebuilt
  on each ``add``, as in a worker whose run resolves them one after another);
* ``add all``: the time to learn them in one ``add`` (as the supervisor does
  for hang evidence);
* ``line``: ``Redactor.text`` on a typical JSON log line without a secret
  (what every log record of a process pays once a secret is known);
* ``hit``: a line holding one secret in httpx's re-encoded URL form;
* ``event``: ``Redactor.value`` on an event-sized dict (a step's outputs).

Each figure is the best of ``--repeat`` runs over ``--lines`` texts.  Every
hit is checked to be masked; the process exits 1 if one was not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from automation.redaction import MASK, Redactor

LINE = (
    '{"t": "2026-12-06T12:00:00.000+00:00", "level": "info", "logger": "httpx", '
    '"msg": "HTTP Request: GET http://127.0.0.1:4555/echo?page=2 \\"HTTP/1.1 200 OK\\""}'
)
EVENT = {
    "status": 200,
    "headers": {"content-type": "application/json", "server": "BaseHTTP/0.6 Python/3.11"},
    "body": '{"items": [1, 2, 3], "next": "http://127.0.0.1:4555/echo?page=3"}',
    "json": {"items": [1, 2, 3], "next": "http://127.0.0.1:4555/echo?page=3"},
    "url": "http://127.0.0.1:4555/echo?page=2",
    "elapsed": 0.012,
}


def secret(i: int) -> str:
    return f"Se/cr+et={i:04d} wörd-{i * 7919:08x}"


def per_item(repeat: int, function: Callable[[Any], Any], items: list[Any]) -> float:
    """Seconds per item, the best of ``repeat`` passes over ``items``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            function(item)
        times.append(time.perf_counter() - started)
    return min(times) / len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    failures = 0
    print(
        f"{'secrets':>7}  {'add 1 by 1 (ms)':>15}  {'add all (ms)':>12}  {'line (us)':>9}  "
        f"{'hit (us)':>8}  {'event (us)':>10}"
    )
    for count in (0, 1, 5, 20, 100):
        values = [secret(i) for i in range(count)]

        started = time.perf_counter()
        redactor = Redactor()
        for value in values:
            redactor.add(value)
        add_seconds = time.perf_counter() - started
        started = time.perf_counter()
        Redactor(values)
        add_at_once = time.perf_counter() - started
        hit = LINE.replace("page=2", "token=" + quote(values[-1], safe="/+=")) if values else LINE
        line_s = per_item(args.repeat, redactor.text, [LINE] * args.lines)
        hit_s = per_item(args.repeat, redactor.text, [hit] * args.lines)
        event_s = per_item(args.repeat, redactor.value, [EVENT] * (args.lines // 10))
        if values and MASK not in redactor.text(hit):
            failures += 1
            print(f"NOT MASKED with {count} secrets: {redactor.text(hit)}", file=sys.stderr)
        print(
            f"{count:>7}  {add_seconds * 1e3:>15.1f}  {add_at_once * 1e3:>12.1f}  "
            f"{line_s * 1e6:>9.2f}  "
            f"{hit_s * 1e6:>8.2f}  {event_s * 1e6:>10.2f}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
