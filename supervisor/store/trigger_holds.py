"""Releasing a supervisor's hold on a trigger, inside a caller's transaction.

Shared by ``TriggerRows.release`` (a supervisor unloads a trigger) and
``supervisor.store.forget`` (a machine is forgotten): a module of its own,
so the store, which takes ``forget``'s methods, and ``trigger_rows``, which
takes the store, do not import each other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    delete,
    func,
    literal,
    select,
    type_coerce,
    update,
)

from supervisor.store.schema import trigger_holders, triggers
from supervisor.store.types import to_micros


def release_holder(
    connection: Connection, holder: str, workflow: str, key: str, at: datetime
) -> bool:
    """In ``connection``'s transaction: ``holder`` no longer loads this trigger (``TriggerRows.release``).

    Retires it (marked removed at ``at``, ``chains_from`` cleared) if no
    other supervisor holds it; returns whether it did.  Also used when a
    machine is forgotten (``supervisor.store.forget``).
    """
    where = and_(triggers.c.workflow_name == workflow, triggers.c.trigger_key == key)
    found = select(triggers.c.id, triggers.c.state).where(where)
    if connection.dialect.name == "postgresql":
        found = found.with_for_update()  # a load or release of it waits for this one
    row = connection.execute(found).first()
    held = and_(trigger_holders.c.workflow_name == workflow, trigger_holders.c.trigger_key == key)
    connection.execute(
        delete(trigger_holders).where(held, trigger_holders.c.supervisor_id == holder)
    )
    if row is None:
        return False
    others = connection.execute(
        select(func.count()).select_from(trigger_holders).where(held)
    ).scalar_one()
    if others:
        return False
    state = dict(row.state) if isinstance(row.state, dict) else {}
    if state.get("removed_at") is None:
        state["removed_at"] = at.isoformat()
    # ``written_at`` moves with ``updated_at``: their difference is the offset of the machine
    # that saved the mark (``supervisor.triggers.state``), which a release does not change.
    offset = type_coerce(triggers.c.written_at, BigInteger) - type_coerce(
        triggers.c.updated_at, BigInteger
    )
    connection.execute(
        update(triggers)
        .where(triggers.c.id == row.id)
        .values(
            state=state,
            chains_from=None,
            updated_at=at,
            written_at=literal(to_micros(at), BigInteger) + offset,
        )
    )
    return True
