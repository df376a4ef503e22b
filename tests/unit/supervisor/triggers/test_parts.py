"""The small pure parts of the triggers: labels, hashes, bursts, chains, webhook checks, state rows."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from automation.model import FileTrigger, ScheduleTrigger, WebhookTrigger
from supervisor.store.store import HistoryStore
from supervisor.triggers.chain import loop_refusal
from supervisor.triggers.errors import WebhookRejected, WebhookReplayed
from supervisor.triggers.files import Debouncer, burst_event, resolve_folder
from supervisor.triggers.specs import (
    LABEL_WIDTH,
    after_label,
    fit,
    parse_after_label,
    schedule_label,
    spec_hash,
    summary,
)
from supervisor.triggers.state import UNKNOWN_HISTORY, NotRun, TriggerState, TriggerStateStore
from supervisor.triggers.webhooks import verify_call, webhook_inputs
from supervisor.webhook_signature import ReplayCache, sign
from supervisor.webhook_signature import parse as parse_signature

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_labels_name_the_fire_and_the_run_that_started_a_chain() -> None:
    assert schedule_label("report:0", NOW) == "schedule:report:0@2026-05-04T10:00:00+00:00"
    label = after_label("a:b" * 200, "f" * 32)
    assert len(label) <= LABEL_WIDTH and parse_after_label(label) == "f" * 32
    assert parse_after_label("manual") is None


def test_a_schedule_hash_covers_its_timing_only() -> None:
    base = ScheduleTrigger(interval=60)
    assert spec_hash(base) == spec_hash(
        ScheduleTrigger(interval=60, misfire="skip", inputs={"x": 1})
    )
    assert spec_hash(base) != spec_hash(ScheduleTrigger(interval=120))
    assert spec_hash(base) != spec_hash(ScheduleTrigger(interval=60, timezone="Europe/Paris"))


def test_summaries_read_as_a_sentence() -> None:
    assert summary(ScheduleTrigger(cron="0 9 * * mon-fri", timezone="Europe/Paris")) == (
        "cron '0 9 * * mon-fri' (Europe/Paris), misfire run_once within 300s"
    )
    assert summary(FileTrigger(path="in", glob="*.csv")) == "file created in/*.csv (debounce 1s)"


@pytest.mark.parametrize(
    ("kinds", "exists", "event"),
    [
        (["created", "modified", "modified"], True, "created"),
        (["modified", "modified"], True, "modified"),
        (["modified", "deleted"], False, "deleted"),
        (["created", "modified", "deleted"], False, None),
        (["moved", "modified"], True, "moved"),
        (["deleted", "created"], True, "created"),
    ],
)
def test_a_burst_amounts_to_one_event(kinds: list[str], exists: bool, event: str | None) -> None:
    assert burst_event(kinds, exists) == event


def test_the_debouncer_calls_once_per_path_after_the_last_event() -> None:
    async def scenario() -> list[tuple[Path, list[str]]]:
        loop = asyncio.get_running_loop()
        calls: list[tuple[Path, list[str]]] = []
        done = asyncio.Event()

        def settled(path: Path, kinds: list[str]) -> None:
            calls.append((path, kinds))
            if len(calls) == 2:
                done.set()

        debouncer = Debouncer(loop, 0.05, settled)
        for kind in ("created", "modified", "modified"):
            debouncer.add(Path("a"), kind)
        debouncer.add(Path("b"), "deleted")
        await asyncio.wait_for(done.wait(), 5)
        return calls

    calls = asyncio.run(scenario())
    assert sorted(calls) == [
        (Path("a"), ["created", "modified", "modified"]),
        (Path("b"), ["deleted"]),
    ]


def test_a_relative_watch_folder_is_resolved_against_the_workflow_folder(tmp_path: Path) -> None:
    assert resolve_folder(FileTrigger(path="../inbox"), tmp_path / "flows") == tmp_path / "inbox"
    assert resolve_folder(FileTrigger(path=str(tmp_path)), Path("/elsewhere")) == tmp_path


def test_a_chain_that_comes_back_is_refused_with_its_path() -> None:
    assert loop_refusal(["b", "a"], "c", 60) is None
    message = loop_refusal(["b", "a"], "a", 60)
    assert message is not None and "(a → b → a) within 60s" in message


def test_the_webhook_signature_check() -> None:
    spec = WebhookTrigger(name="deploy", secret="token")
    replays = ReplayCache(window=300)
    body = '{"a": "✓"}'.encode()
    header = sign("s3cret ✓", body, 1_000)
    verify_call("deploy", spec, header, body, "s3cret ✓", now=1_200, replays=replays)
    with pytest.raises(WebhookReplayed):
        verify_call("deploy", spec, header, body, "s3cret ✓", now=1_201, replays=replays)
    for name, the_spec, presented, expected, now in [
        ("deploy", spec, None, "s3cret", 1_000),
        ("deploy", spec, sign("s3cret!", body, 1_000), "s3cret", 1_000),
        ("deploy", spec, sign("s3cret", body, 1_000), "s3cret", 1_301),
        ("deploy", spec, sign("s3cret", body, 1_000), None, 1_000),
        ("other", None, sign("s3cret", body, 1_000), None, 1_000),
    ]:
        with pytest.raises(WebhookRejected) as refused:
            verify_call(name, the_spec, presented, body, expected, now=now, replays=replays)
        assert refused.value.status_code == 401


def test_the_signature_is_the_documented_hmac() -> None:
    """What the README's curl example computes with openssl."""
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("k", b"{}", 1_700_000_000) == f"t=1700000000,v1={expected}"
    parsed = parse_signature(f" t=1700000000 , v1={expected.upper()}, v0=ignored")
    assert parsed is not None and parsed.candidates == (expected,)
    assert parse_signature("t=12,v2=abc") is None


def test_the_replay_cache_forgets_after_twice_the_window_and_stays_bounded() -> None:
    cache = ReplayCache(window=10, limit=3)
    assert cache.first_time("a", 0) and not cache.first_time("a", 19)
    assert cache.first_time("a", 21)
    for value in "bcd":
        assert cache.first_time(value, 22)
    assert len(cache._seen) <= 3


def test_webhook_payload_keys_become_declared_inputs_only() -> None:
    spec = WebhookTrigger(name="deploy", secret="token", inputs={"who": "trigger", "n": 1})
    declared = {"who": None, "n": None, "payload": None}
    assert webhook_inputs(spec, declared, {"who": "alice", "other": 2}) == {
        "who": "alice",
        "n": 1,
        "payload": {"who": "alice", "other": 2},
    }
    assert webhook_inputs(spec, {"who": None}, {"other": 2}) == {"who": "trigger", "n": 1}


def test_trigger_state_and_not_run_records_round_trip(tmp_path: Path) -> None:
    with HistoryStore.open(f"sqlite:///{tmp_path / 'h.sqlite3'}") as store:
        states = TriggerStateStore(store, lambda: NOW)
        state = TriggerState(
            workflow="w",
            key="w:0",
            spec={"type": "schedule"},
            spec_hash="abc",
            paused=True,
            anchor=NOW,
            checked_through=NOW,
            last_error="boom",
        )
        states.save(state)
        state.last_fire_at = NOW
        states.save(state)
        assert states.load_all() == {"w:0": state}
        [run_id] = states.record_not_run(
            [NotRun(workflow="w", trigger="schedule:w:0@x", error="missed: because", at=NOW)]
        )
        record = store.get_run(run_id)
        assert record is not None and record.status == "cancelled"
        assert (record.error, record.queued_at) == ("missed: because", NOW)
        assert states.recorded("w", ["schedule:w:0@x", "schedule:w:0@y"]) == {"schedule:w:0@x"}


def test_states_are_saved_together_and_the_newest_fire_is_read_from_the_labels(
    tmp_path: Path,
) -> None:
    with HistoryStore.open(f"sqlite:///{tmp_path / 'h.sqlite3'}") as store:
        states = TriggerStateStore(store, lambda: NOW)
        first = TriggerState(workflow="a", key="a:1", spec={}, spec_hash="1", checked_through=NOW)
        states.save(first)
        first.last_error = "changed"
        second = TriggerState(workflow="a", key="a:10", spec={}, spec_hash="2", paused=True)
        states.save_many([first, second])  # one update and one insert, in one transaction
        assert states.load_all() == {"a:1": first, "a:10": second}

        assert states.newest_fire("a", "a:1") is None
        labels = [
            schedule_label("a:1", NOW),
            schedule_label("a:1", NOW.replace(second=30)),
            schedule_label("a:10", NOW.replace(minute=9)),  # another key sharing the prefix
        ]
        states.record_not_run(
            [NotRun(workflow="a", trigger=t, error="missed:", at=NOW) for t in labels]
        )
        assert states.newest_fire("a", "a:1") == NOW.replace(second=30)
        start, end = NOW.replace(minute=10), NOW.replace(minute=30)
        gap = f"schedule:a:10@{start.isoformat()}..{end.isoformat()}"
        states.record_not_run([NotRun(workflow="a", trigger=gap, error="missed:", at=NOW)])
        assert states.newest_fire("a", "a:10") == NOW.replace(minute=30)
        cut = fit(f"schedule:a:2@{'x' * LABEL_WIDTH}")
        states.record_not_run([NotRun(workflow="a", trigger=cut, error="missed:", at=NOW)])
        assert states.newest_fire("a", "a:2") == UNKNOWN_HISTORY
