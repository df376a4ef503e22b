"""The dispatch plan: a function of the queue, capacity, breakers and a number for the clock."""

from __future__ import annotations

from supervisor.breaker import BreakerPolicy, CircuitBreaker
from supervisor.dispatch import plan_dispatch
from supervisor.runqueue import QueuedRun

NOW = 100.0


def run(run_id: str, *, priority: int = 0, order: int = 0, **fields: object) -> QueuedRun:
    return QueuedRun(
        run_id=run_id,
        workflow=str(fields.pop("workflow", "wf")),
        text="",
        path=None,
        inputs={},
        priority=priority,
        order=order,
        **fields,  # type: ignore[arg-type]
    )


class Breakers:
    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self.by_name: dict[str, CircuitBreaker] = {}

    def __call__(self, workflow: str) -> CircuitBreaker:
        return self.by_name.setdefault(workflow, CircuitBreaker(self.policy))


def plan(queue: list[QueuedRun], **options: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "now": NOW,
        "holding": 0,
        "worker_limit": 4,
        "desktop_busy": False,
        "idle_workers": ["w1", "w2", "w3", "w4"],
        "breaker": Breakers(),
        **options,
    }
    return plan_dispatch(queue, **values)  # type: ignore[arg-type]


def started(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(s.entry.run_id, s.worker) for s in result.starts]


def test_highest_priority_first_then_oldest_each_on_the_next_idle_worker() -> None:
    queue = [run("old", order=1), run("urgent", priority=9, order=3), run("new", order=2)]
    result = plan(queue)
    assert started(result) == [("urgent", "w1"), ("old", "w2"), ("new", "w3")]
    assert result.wake_at is None and not result.short_of_workers


def test_the_worker_limit_counts_runs_already_held() -> None:
    queue = [run(str(n), order=n) for n in range(5)]
    assert [r for r, _ in started(plan(queue, holding=3))] == ["0"]
    assert started(plan(queue, holding=4)) == []


class Unread(list[QueuedRun]):
    """A queue that fails the test if the plan reads it."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the plan read the queue")


def test_a_full_worker_limit_plans_nothing_without_reading_the_queue() -> None:
    # Every worker message asks for a plan: with a backlog queued and the limit reached,
    # sorting the backlog each time was most of the supervisor's work per run.
    waiting = [run(str(n), order=n, not_before=NOW + 5) for n in range(3)]
    result = plan(Unread(waiting), holding=4)
    assert started(result) == [] and result.wake_at is None and not result.short_of_workers
    assert plan(waiting, holding=3).wake_at == NOW + 5  # room for one: the queue is read


def test_too_few_idle_workers_asks_for_more() -> None:
    result = plan([run("a", order=1), run("b", order=2)], idle_workers=["w1"])
    assert started(result) == [("a", "w1")]
    assert result.short_of_workers


def test_one_desktop_run_at_a_time() -> None:
    desktop = frozenset({"desktop"})
    queue = [
        run("d1", order=1, resources=desktop),
        run("d2", order=2, resources=desktop),
        run("http", order=3),
    ]
    assert [r for r, _ in started(plan(queue))] == ["d1", "http"]
    assert [r for r, _ in started(plan(queue, desktop_busy=True))] == ["http"]


def test_a_run_waiting_out_its_restart_delay_sets_the_wake_up() -> None:
    queue = [run("later", order=1, not_before=NOW + 3), run("sooner", order=2, not_before=NOW + 1)]
    result = plan(queue + [run("now", order=3)])
    assert [r for r, _ in started(result)] == ["now"]
    assert result.wake_at == NOW + 1


def test_an_open_breaker_holds_its_workflow_until_it_reopens() -> None:
    breakers = Breakers(BreakerPolicy(threshold=1, cooldown=30))
    breakers("flaky").record_failure(NOW - 5)
    queue = [run("f", order=1, workflow="flaky"), run("ok", order=2)]
    result = plan(queue, breaker=breakers)
    assert [r for r, _ in started(result)] == ["ok"]
    assert result.wake_at == NOW - 5 + 30


def test_a_start_that_trips_the_run_rate_ceiling_says_so_and_holds_the_rest() -> None:
    breakers = Breakers(BreakerPolicy(max_starts=2, rate_window=60))
    queue = [run(str(n), order=n, workflow="flood") for n in range(4)]
    result = plan(queue, breaker=breakers)
    # the third start is one too many: it goes ahead, opens the breaker, and the fourth waits
    assert [(s.entry.run_id, s.opened_breaker) for s in result.starts] == [
        ("0", False),
        ("1", False),
        ("2", True),
    ]


def test_resumed_and_restarted_runs_do_not_count_toward_the_run_rate() -> None:
    # a supervisor taking back a dead one's runs starts them again: that is not a flood
    breakers = Breakers(BreakerPolicy(max_starts=2, rate_window=60))
    queue = [run(f"r{n}", order=n, workflow="quick", resume=True) for n in range(3)]
    queue += [run(f"x{n}", order=10 + n, workflow="quick", restarts=1) for n in range(2)]
    result = plan(queue, breaker=breakers, worker_limit=8, idle_workers=[f"w{n}" for n in range(8)])
    assert [s.opened_breaker for s in result.starts] == [False] * 5
    assert breakers("quick").state(NOW).value == "closed"
    # new runs still count: the third new one opens it
    fresh = [run(f"n{n}", order=20 + n, workflow="quick") for n in range(3)]
    again = plan(fresh, breaker=breakers)
    assert [s.opened_breaker for s in again.starts] == [False, False, True]
