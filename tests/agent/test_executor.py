"""The one executor: order, concurrency, admission (budgets), errors, context; the sync and
async twins on the same cases; Ray on a local cluster."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time

import pytest

from optograph.agent.executor import Executor, ExecutorError, NotRun, make_executor

WHO = contextvars.ContextVar("who", default="nobody")


def slow_square(x: int) -> int:
    time.sleep(0.01 * (5 - x % 5))  # later items finish first
    return x * x


async def aslow_square(x: int) -> int:
    await asyncio.sleep(0.01 * (5 - x % 5))
    return x * x


def run_twin(kind: str, executor: Executor, items: list[int], **kw: object) -> list[object]:
    if kind == "sync":
        return executor.map(slow_square, items, **kw)  # type: ignore[arg-type]
    return asyncio.run(executor.amap(aslow_square, items, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_results_come_back_in_item_order(kind: str, concurrency: int) -> None:
    items = list(range(12))
    assert run_twin(kind, Executor(concurrency), items) == [x * x for x in items]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_admit_stops_new_work_and_marks_items_not_run(kind: str) -> None:
    started: list[int] = []

    def admit() -> str | None:
        started.append(1)
        return "token budget reached" if len(started) > 3 else None

    results = run_twin(kind, Executor(2), list(range(6)), admit=admit)
    assert results[:3] == [0, 1, 4]
    assert results[3:] == [NotRun("token budget reached")] * 3


def test_at_most_max_concurrency_run_at_once() -> None:
    lock = threading.Lock()
    now = peak = 0

    def work(_: int) -> None:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(0.05)
        with lock:
            now -= 1

    Executor(3).map(work, list(range(9)))
    assert peak == 3


def test_parallel_items_overlap_in_time() -> None:
    start = time.perf_counter()
    Executor(8).map(lambda _: time.sleep(0.3), list(range(8)))
    assert time.perf_counter() - start < 0.3 * 3  # sequential would be 2.4 s


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_errors_raise_the_first_in_item_order_or_come_back_in_place(kind: str) -> None:
    def fail_on_odd(x: int) -> int:
        if x % 2:
            raise ValueError(f"odd {x}")
        return x

    async def afail_on_odd(x: int) -> int:
        return fail_on_odd(x)

    executor = Executor(3)
    call = (
        (lambda **kw: executor.map(fail_on_odd, [0, 1, 2, 3], **kw))
        if kind == "sync"
        else (lambda **kw: asyncio.run(executor.amap(afail_on_odd, [0, 1, 2, 3], **kw)))
    )
    with pytest.raises(ValueError, match="odd 1"):
        call()
    results = call(return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError) and isinstance(results[3], ValueError)


def test_each_item_runs_in_a_copy_of_the_callers_context() -> None:
    WHO.set("caller")

    def read_and_write(i: int) -> str:
        seen = WHO.get()
        WHO.set(f"item {i}")  # must not leak to other items or back to the caller
        return seen

    assert Executor(4).map(read_and_write, list(range(8))) == ["caller"] * 8
    assert WHO.get() == "caller"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", True])
def test_bad_max_concurrency_is_one_line_naming_the_field(bad: object) -> None:
    with pytest.raises(ExecutorError, match=r"^max_concurrency: expected a whole number >= 1"):
        make_executor("local", bad)  # type: ignore[arg-type]


def test_unknown_executor_is_one_line_naming_the_field() -> None:
    with pytest.raises(ExecutorError, match=r"^executor: expected 'local', 'ray'"):
        make_executor("dask", 2)


def test_ray_runs_items_as_tasks_on_a_local_cluster() -> None:
    ray = pytest.importorskip("ray")
    executor = make_executor("ray", 2)
    offset = 1  # closures travel by value (the test module is not importable on a worker)

    def square(x: int) -> int:
        return x * x + offset

    async def asquare(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * x + offset

    try:
        assert executor.map(square, list(range(6))) == [x * x + 1 for x in range(6)]
        assert asyncio.run(executor.amap(asquare, [3, 4])) == [10, 17]
    finally:
        ray.shutdown()


def test_unreachable_ray_address_is_one_line() -> None:
    ray = pytest.importorskip("ray")
    try:
        with pytest.raises(ExecutorError, match=r"^executor: cannot reach the Ray cluster"):
            make_executor("ray://127.0.0.1:1", 1).map(slow_square, [1])
    finally:
        ray.shutdown()


def test_ray_without_the_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as without the extra
    with pytest.raises(ExecutorError) as caught:
        make_executor("ray", 2).map(slow_square, [1])
    assert str(caught.value) == "executor: 'ray' needs the ray extra: pip install 'optograph[ray]'"
