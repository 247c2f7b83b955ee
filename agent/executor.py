"""One executor for every evaluation of independent things: the examples of a minibatch, the
candidates of an optimizer step, an evolutionary population, diffusion candidates.

    executor = make_executor("local", max_concurrency=8)   # or "ray", "ray://host:10001"
    scores = executor.map(evaluate, candidates)             # results in the items' order

- In-process by default: a sync function runs on threads, an async one on the running event
  loop (`amap`), at most `max_concurrency` at a time. Each item runs in a copy of the caller's
  context, so tracing state (ContextVars) reaches it and each item's graph is its own.
- Results come back in the items' order whatever the finishing order, so a seeded run
  reproduces and a cassette replays.
- `admit` is asked before each item starts; when it returns a reason (a token budget reached),
  no further item starts and the items not started come back as `NotRun(reason)`. At most
  `max_concurrency - 1` items already running can overshoot a budget: that is the bound.
- Ray is the distributed engine (`optograph[ray]`): `RayExecutor` runs each item as a Ray task
  on a local cluster or on `ray://HOST:PORT`. No scheduler, queue or worker protocol of ours.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from optograph.graph.errors import OptographError

T = TypeVar("T")
R = TypeVar("R")

Admit = Callable[[], "str | None"]


class ExecutorError(OptographError, ValueError):
    """A bad executor setting (names the field: `max_concurrency`, `executor`) or a Ray
    cluster that cannot be reached."""


@dataclass(frozen=True)
class NotRun:
    """The result of an item that was never started, and why (e.g. the budget was reached)."""

    reason: str


def check_max_concurrency(value: Any) -> int:
    """`max_concurrency` as a positive int, or a one-line ExecutorError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExecutorError(f"max_concurrency: expected a whole number >= 1, got {value!r}")
    return value


class Executor:
    """In-process evaluation: threads for sync functions, the event loop for async ones."""

    kind = "local"

    def __init__(self, max_concurrency: int = 1) -> None:
        self.max_concurrency = check_max_concurrency(max_concurrency)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_concurrency={self.max_concurrency})"

    # Intentional twins: `map` (threads) and `amap` (asyncio) apply the same admission and
    # ordering rules; tests/agent/test_executor.py runs both on the same cases.
    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        admit: Admit | None = None,
        return_exceptions: bool = False,
    ) -> list[R | NotRun | BaseException]:
        """`fn(item)` for every item, at most max_concurrency at once; results in item order.
        An exception is raised (the first in item order, after running items finish) unless
        `return_exceptions`, which puts it in the item's place."""
        results: list[Any] = [None] * len(items)
        errors: dict[int, BaseException] = {}
        if self.max_concurrency == 1 or len(items) <= 1:
            stopped: str | None = None
            for index, item in enumerate(items):
                stopped = stopped or (admit() if admit else None)
                if stopped:
                    results[index] = NotRun(stopped)
                    continue
                try:
                    results[index] = fn(item)
                except Exception as error:  # noqa: BLE001 - reported below, in item order
                    errors[index] = error
            return _finish(results, errors, return_exceptions)
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="optograph") as pool:
            _keep_busy(
                items, self.max_concurrency, admit, results,
                submit=lambda item: pool.submit(contextvars.copy_context().run, fn, item),
                collect=lambda running: _collect(running, results, errors),
            )
        return _finish(results, errors, return_exceptions)

    async def amap(
        self,
        fn: Callable[[T], Awaitable[R]],
        items: Sequence[T],
        *,
        admit: Admit | None = None,
        return_exceptions: bool = False,
    ) -> list[R | NotRun | BaseException]:
        """The asyncio twin of `map`: `await fn(item)` for every item, at most
        max_concurrency at once, on the running event loop; results in item order."""
        results: list[Any] = [None] * len(items)
        errors: dict[int, BaseException] = {}
        slots = asyncio.Semaphore(self.max_concurrency)
        reason: str | None = None
        tasks: list[tuple[int, asyncio.Task[Any]]] = []

        async def one(item: T) -> R:
            try:
                return await fn(item)
            finally:
                slots.release()

        for index, item in enumerate(items):
            await slots.acquire()
            reason = reason or (admit() if admit else None)
            if reason:
                slots.release()
                results[index] = NotRun(reason)
                continue
            tasks.append((index, asyncio.ensure_future(one(item))))  # copies the context
        for index, task in tasks:
            try:
                results[index] = await task
            except Exception as error:  # noqa: BLE001 - reported in item order
                errors[index] = error
        return _finish(results, errors, return_exceptions)

    def close(self) -> None:
        """Free what the executor holds (nothing in-process)."""


def _keep_busy(
    items: Sequence[Any],
    limit: int,
    admit: Admit | None,
    results: list[Any],
    submit: Callable[[Any], Any],
    collect: Callable[[dict[Any, int]], None],
) -> None:
    """Keep at most `limit` items running (threads' futures, Ray's object refs): submit the
    next while there is room and `admit` says go on; `collect` waits for at least one of
    `running` (a handle -> item index) to finish and records it. Items not admitted get
    NotRun in `results`."""
    running: dict[Any, int] = {}
    reason: str | None = None
    for index, item in enumerate(items):
        while len(running) >= limit:
            collect(running)
        reason = reason or (admit() if admit else None)
        if reason:
            results[index] = NotRun(reason)
            continue
        running[submit(item)] = index
    while running:
        collect(running)


def _collect(running: dict[Future[Any], int], results: list[Any], errors: dict[int, Any]) -> None:
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        index = running.pop(future)
        error = future.exception()
        if error is None:
            results[index] = future.result()
        else:
            errors[index] = error


def _finish(results: list[Any], errors: dict[int, BaseException], keep: bool) -> list[Any]:
    if errors and not keep:
        raise errors[min(errors)]
    for index, error in errors.items():
        results[index] = error
    return results


class RayExecutor(Executor):
    """Each item is a Ray task (the function and item are sent with cloudpickle), at most
    max_concurrency in flight. `address=None` starts (or joins) a local cluster."""

    kind = "ray"

    def __init__(self, max_concurrency: int = 1, address: str | None = None) -> None:
        super().__init__(max_concurrency)
        self.address = address
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.address or "local"
        return f"RayExecutor({where}, max_concurrency={self.max_concurrency})"

    def connect(self) -> Any:
        """The `ray` module, connected to the cluster (once per process)."""
        with self._lock:
            return connect_ray(self.address)

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        admit: Admit | None = None,
        return_exceptions: bool = False,
    ) -> list[R | NotRun | BaseException]:
        ray = self.connect()
        remote = ray.remote(fn)
        results: list[Any] = [None] * len(items)
        errors: dict[int, BaseException] = {}

        def collect(running: dict[Any, int]) -> None:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                index = running.pop(ref)
                try:
                    results[index] = ray.get(ref)
                except Exception as error:  # noqa: BLE001 - reported in item order
                    errors[index] = getattr(error, "cause", None) or error

        _keep_busy(items, self.max_concurrency, admit, results,
                   submit=lambda item: remote.remote(item), collect=collect)
        return _finish(results, errors, return_exceptions)

    async def amap(
        self,
        fn: Callable[[T], Awaitable[R]],
        items: Sequence[T],
        *,
        admit: Admit | None = None,
        return_exceptions: bool = False,
    ) -> list[R | NotRun | BaseException]:
        """Ray tasks are sync on the worker: each async item is run there with asyncio.run."""

        def run_one(item: T) -> R:
            return asyncio.run(fn(item))  # type: ignore[arg-type]

        return await asyncio.to_thread(
            self.map, run_one, items, admit=admit, return_exceptions=return_exceptions
        )


def connect_ray(address: str | None) -> Any:
    """Import Ray and connect to `address` (None: a local cluster), or a one-line
    ExecutorError: the extra is not installed, or the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise ExecutorError(
            "executor: 'ray' needs the ray extra: pip install 'optograph[ray]'"
        ) from None
    if ray.is_initialized():
        return ray
    try:
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as error:  # noqa: BLE001 - Ray raises many kinds for an unreachable head
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExecutorError(f"executor: cannot reach the Ray cluster at {address}: {first}") from None
    return ray


def make_executor(executor: str | Executor | None = None, max_concurrency: int = 1) -> Executor:
    """The executor for `executor`: None or "local" (in-process), "ray" (a local Ray
    cluster), "ray://HOST:PORT" (an existing cluster), or an Executor, returned as it is."""
    if isinstance(executor, Executor):
        return executor
    if executor is None or executor in ("local", "threads"):
        return Executor(max_concurrency)
    if executor == "ray":
        return RayExecutor(max_concurrency)
    if isinstance(executor, str) and executor.startswith("ray://"):
        return RayExecutor(max_concurrency, address=executor)
    raise ExecutorError(
        f"executor: expected 'local', 'ray' or 'ray://HOST:PORT', got {executor!r}"
    )
