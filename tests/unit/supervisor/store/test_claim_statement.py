"""The claims' SQL as SQLite plans it: the running status is written in, not bound."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from supervisor.store import claims

RUNNING = "running.status = 'running'"


@pytest.mark.parametrize(
    "statement",
    [
        claims._one_run_claim(True, True, False),
        claims._one_run_claim(False, True, True),
        claims._claim_statement(False, True, True, True, False),
        claims._claim_statement(False, False, True, False, True),
    ],
)
def test_sqlite_sees_the_running_status_of_the_desktop_check(statement: Any) -> None:
    # Bound, it could select the partial index over running runs: SQLite then prepares
    # the claim again on every execution to look at the value (0.11 ms of CPU a claim).
    assert RUNNING in str(statement.compile(dialect=sqlite.dialect()))


def test_postgresql_gets_the_same_condition() -> None:
    statement = claims._claim_statement(True, True, True, True, True)
    assert RUNNING in str(statement.compile(dialect=postgresql.dialect()))


GENERAL_CLAIMS = [
    (postgres, routed, desktop, chosen, fenced)
    for postgres in (False, True)
    for routed in (False, True)
    for desktop in (False, True)
    for chosen in (False, True)
    for fenced in (False, True)
]


@pytest.mark.parametrize("case", GENERAL_CLAIMS)
def test_the_general_claim_sees_the_queued_status(case: tuple[bool, ...]) -> None:
    # Bound, it could select the partial index over queued runs (``ix_runs_queue_order``):
    # SQLite prepared the claim again on every execution (a lone supervisor's claim of
    # one run among 1,000 queued: 2.6 ms of CPU against 1.5-2.0 written in), and a plan
    # PostgreSQL keeps for a prepared statement cannot use that index at all.
    postgres = case[0]
    dialect = postgresql.dialect() if postgres else sqlite.dialect()
    sql = str(claims._claim_statement(*case).compile(dialect=dialect))
    assert "runs.status = 'queued'" in sql
    assert "status_1" not in sql  # no status is bound anywhere in its WHERE


@pytest.mark.parametrize("case", [case for case in GENERAL_CLAIMS if case[0]])
def test_postgresql_updates_the_picked_rows_by_their_place(case: tuple[bool, ...]) -> None:
    sql = str(claims._claim_statement(*case).compile(dialect=postgresql.dialect()))
    update = sql[sql.index("UPDATE runs") :]
    assert "WHERE runs.ctid = ANY (array((SELECT picked.place" in update
    # The status check no index serves: an index over queued runs would be walked whole
    # when the table's statistics predate its queue.
    assert "runs.status IS NOT DISTINCT FROM 'queued'" in update
