"""Which queued runs each supervisor of a fleet tries first: disjoint shares, claim order kept."""

from __future__ import annotations

from supervisor.fleet_share import put_first, share_of, spread
from supervisor.runqueue import QueuedRun
from tests.unit.supervisor.test_dispatch import plan, run, started

PEERS = ["c" * 32, "a" * 32, "b" * 32]
IDS = [f"run-{i:03d}" for i in range(60)]


def loaded(ids: list[str], *, first_order: int = 10) -> list[QueuedRun]:
    return [run(run_id, order=first_order + i) for i, run_id in enumerate(ids)]


def test_live_supervisors_share_the_runs_each_run_to_one() -> None:
    shares = [set(share_of(member, PEERS, IDS)) for member in PEERS]
    assert all(len(share) >= 10 for share in shares), [len(share) for share in shares]
    assert sorted(i for share in shares for i in share) == list(range(len(IDS)))


def test_looks_a_moment_apart_agree_on_whose_each_run_is() -> None:
    """Windows shifted by the runs claimed between two looks: the shares stay the same."""
    for member in PEERS:
        early = {IDS[i] for i in share_of(member, PEERS, IDS[:50])}
        late = {IDS[5 + i] for i in share_of(member, PEERS, IDS[5:55])}
        assert early & set(IDS[5:50]) == late & set(IDS[5:50])


def test_alone_or_not_heard_from_every_run_is_its_own() -> None:
    assert share_of("a" * 32, ["a" * 32], IDS[:3]) == [0, 1, 2]
    assert share_of("d" * 32, PEERS, IDS[:3]) == [0, 1, 2]  # its heartbeat is late: no share


def test_its_share_goes_first_and_the_others_after_it_in_claim_order() -> None:
    entries = loaded(IDS[:12])
    mine = spread(entries, "b" * 32, PEERS)
    put_first(entries, mine)
    expected = [IDS[i] for i in share_of("b" * 32, PEERS, IDS[:12])]
    assert mine == set(expected) and 0 < len(mine) < 12
    ranked = [entry.run_id for entry in sorted(entries, key=lambda entry: entry.order)]
    assert ranked == expected + [run_id for run_id in IDS[:12] if run_id not in mine]
    assert sorted(entry.order for entry in entries) == list(range(10, 22))  # the same numbers


def test_three_supervisors_choose_three_different_runs_first() -> None:
    """Each dispatches the head of its own order: no claim is lost to another."""
    firsts = []
    for member in PEERS:
        entries = loaded(IDS[:50])
        put_first(entries, spread(entries, member, PEERS))
        firsts.append(started(plan(entries, idle_workers=["w1"]))[0][0])
    assert len(set(firsts)) == 3


def test_priority_still_comes_first() -> None:
    entries = [run(IDS[0], order=1), run("urgent", priority=5, order=2), run(IDS[1], order=3)]
    for member in PEERS:
        put_first(entries, spread(entries, member, PEERS))
        assert started(plan(entries, idle_workers=["w1"])) == [("urgent", "w1")]


def test_its_share_of_a_later_look_comes_before_the_others_left_from_an_earlier_one() -> None:
    """Runs of an earlier look left to their owners were mostly claimed by them meanwhile."""
    earlier, later = loaded(IDS[:4], first_order=1), loaded(IDS[4:8], first_order=5)
    put_first([*earlier, *later], {IDS[1], IDS[5], IDS[6]})
    ranked = sorted([*earlier, *later], key=lambda entry: entry.order)
    assert [entry.run_id for entry in ranked] == [IDS[i] for i in (1, 5, 6, 0, 2, 3, 4, 7)]
