"""The store's retry policy: which errors a write transaction is run again after, and how often.

The driver errors are built by hand (a real deadlock is provoked on
PostgreSQL in ``tests/integration/fleet/test_store_retry.py``); they carry
the SQLSTATE psycopg gives, wrapped as SQLAlchemy and the store wrap them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import exc as sa_exc

from supervisor.store.errors import StoreError
from supervisor.store.retry import ATTEMPTS, retrying, transient


class OperationalError(Exception):
    """Named as psycopg's is: a connection lost without a reply carries no SQLSTATE."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(sqlstate: str | None, *, invalidated: bool = False) -> StoreError:
    driver = OperationalError(sqlstate)
    outer = sa_exc.OperationalError("UPDATE runs", {}, driver, connection_invalidated=invalidated)
    error = StoreError("The history database could not be used")
    error.__cause__ = outer
    return error


def failing(error: BaseException, times: int) -> tuple[Callable[[], str], list[int]]:
    calls = [0]

    def write() -> str:
        calls[0] += 1
        if calls[0] <= times:
            raise error
        return "written"

    return write, calls


@pytest.mark.parametrize("sqlstate", ["40P01", "40001", "55P03"])
def test_a_transaction_the_server_rolled_back_runs_again_and_lands_once(sqlstate: str) -> None:
    write, calls = failing(wrapped(sqlstate), 2)

    assert retrying(write, "a test write", sleep=lambda _: None) == "written"
    assert calls == [3]


def test_it_gives_up_after_its_attempts_with_the_last_error() -> None:
    error = wrapped("40P01")
    write, calls = failing(error, ATTEMPTS)

    with pytest.raises(StoreError) as raised:
        retrying(write, "a test write", sleep=lambda _: None)

    assert raised.value is error and calls == [ATTEMPTS]


def test_other_errors_are_not_retried() -> None:
    write, calls = failing(wrapped("53100"), 1)  # disk full: the user must act

    with pytest.raises(StoreError):
        retrying(write, "a test write", idempotent=True, sleep=lambda _: None)
    assert calls == [1]
    assert transient(ValueError("a bug"), idempotent=True) is None


@pytest.mark.parametrize(
    "error",
    [wrapped(None), wrapped("08006"), wrapped("57P01"), wrapped("XX000", invalidated=True)],
    ids=["no reply", "connection failure", "server shut down", "invalidated"],
)
def test_a_lost_connection_is_retried_only_for_idempotent_work(error: StoreError) -> None:
    # The commit may have landed before the reply was lost: a claim or a fire must not repeat.
    assert transient(error, idempotent=False) is None
    assert transient(error, idempotent=True) == "connection lost"

    write, calls = failing(error, 1)
    with pytest.raises(StoreError):
        retrying(write, "a claim", sleep=lambda _: None)
    assert retrying(write, "a heartbeat", idempotent=True, sleep=lambda _: None) == "written"
    assert calls == [2]


def test_a_raw_sqlalchemy_error_is_recognised_too() -> None:
    """The recorder's writer sees SQLAlchemy's error, not the store's translation."""
    raw = sa_exc.OperationalError("INSERT", {}, OperationalError("40P01"))

    assert transient(raw, idempotent=False) == "deadlock detected"
