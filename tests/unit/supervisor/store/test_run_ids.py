"""A run named by its id or a unique prefix of it (``HistoryStore.run_id_for``), on both stores.

This machine's CLI and every machine's API resolve a short id here, so
they agree: an ambiguous prefix is refused with its candidates, never
picked.
"""

from __future__ import annotations

import pytest

from automation.engine.events import RunStatus
from supervisor.store.errors import AmbiguousRunId, RunNotFound
from tests.helpers.storage import StoreFactory

TWINS = ("5e5e5e5e" + "a" * 24, "5e5e5e5e" + "b" * 24, "5e5e5e5e" + "b" * 23 + "c")


def test_a_unique_prefix_names_its_run_and_an_ambiguous_one_lists_them(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    for run_id in (*TWINS, "Manual-Run-01"):
        store.create_run(run_id, "w", status=RunStatus.CANCELLED)
    assert store.run_id_for(" 5e5e5e5ea ") == TWINS[0]
    assert store.run_id_for("5E5E5E5EA") == TWINS[0]  # typed in capitals
    assert store.run_id_for(TWINS[1]) == TWINS[1]
    assert store.run_id_for("Manual-Run") == "Manual-Run-01"  # an id given at submit
    with pytest.raises(AmbiguousRunId) as several:
        store.run_id_for("5e5e5e5eb")
    assert str(several.value) == (
        f"'5e5e5e5eb' starts 2 run ids ({TWINS[1]}, {TWINS[2]}); give more of the id"
    )
    assert several.value.candidates == sorted(TWINS[1:])
    for unknown in ("5e5e5e5ed", "", "5e5e\x00", "5e5e5e5e" + chr(0x10FFFF)):
        with pytest.raises(RunNotFound):
            store.run_id_for(unknown)


def test_more_candidates_than_shown_say_so(store_factory: StoreFactory) -> None:
    store = store_factory()
    for index in range(7):
        store.create_run(f"7a7a7a7a{index}" + "0" * 23, "w", status=RunStatus.CANCELLED)
    with pytest.raises(
        AmbiguousRunId, match=r"'7a7a' starts 5\+ run ids \(7a7a7a7a0…, 7a7a7a7a1…, "
    ):
        store.run_id_for("7a7a")
