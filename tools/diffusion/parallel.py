"""The diffusion search on Ray: one evaluator actor per GPU (or per CPU worker when there is no
GPU), each loading the model, the noise bank and the reference statistics once, from a
picklable factory. The driver keeps the search and its SQLite store: it sends schedules to
idle actors and stores each result as it arrives (`ray.wait` over the actors' calls), so a
resumed search works as in-process. An actor that dies mid-evaluation is replaced by a new
one and its candidate runs again there: stored once, never lost.

    pool = RayCandidates(factory, make_executor("ray"), workers=None)  # one per GPU / CPU
    run_search(pool, config, store, evaluate_many=pool.evaluate_many,
               validator=pool.validation_evaluator())

`agent/executor.py` connects to the cluster (local, or `ray://HOST:PORT`); nothing here
schedules beyond Ray's own actors and `ray.wait`."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

from optograph.agent.executor import ExecutorError, RayExecutor

from .fidelity import on_images
from .search import CandidateEvaluator, Evaluation
from .search_space import Schedule, SkipSet
from .seeding import known_grids

EvaluatorFactory = Callable[[], CandidateEvaluator]
# A candidate whose actor died this many times in a row is not tried again (the error says so).
MAX_ATTEMPTS = 3


class CandidateWorker:
    """The body of an evaluator actor: builds its evaluator once, then scores schedules on
    the search's noise (or, `validation=True`, on the validation noise)."""

    def __init__(self, factory: EvaluatorFactory) -> None:
        self.evaluator = factory()
        make_validator = getattr(self.evaluator, "validation_evaluator", None)
        self.validator = make_validator() if callable(make_validator) else None
        self.fidelities: dict[int, CandidateEvaluator] = {}

    def info(self) -> dict[str, Any]:
        """What the driver needs to run the search without the model: T, the units, and
        the MACs of one call with nothing / each single unit skipped (savings add up)."""
        evaluator = self.evaluator
        return {"num_train_timesteps": evaluator.num_train_timesteps,
                "units": tuple(evaluator.units), "full": float(evaluator.step_macs(())),
                "single": {u: float(evaluator.step_macs((u,))) for u in evaluator.units},
                "validation": self.validator is not None,
                "num_images": getattr(evaluator, "num_images", None)}

    def at_images(self, count: int) -> CandidateEvaluator:
        """The evaluator on its first `count` images (multi-fidelity), built once."""
        if count not in self.fidelities:
            self.fidelities[count] = on_images(self.evaluator, count)
        return self.fidelities[count]

    def known_grids(self, steps: int) -> list[tuple[int, ...]]:
        return known_grids(self.evaluator, steps)

    def evaluate(self, schedule: Schedule, validation: bool = False,
                 images: int | None = None) -> Evaluation:
        if validation:
            if self.validator is None:
                raise ValueError("validate_top: this evaluator has no validation noise")
            return self.validator(schedule)
        return (self.evaluator if images is None else self.at_images(images))(schedule)


class RayCandidates:
    """A CandidateEvaluator whose evaluations run on Ray actors; `evaluate_many` (the search's
    hook) keeps every actor busy. `workers`: the number of actors (None: one per GPU of the
    cluster, else one per CPU)."""

    _ray: Any
    _actors: list[Any]
    _make: Callable[[], Any]
    _info: dict[str, Any]
    _shared: RayCandidates
    _restarts: int
    _waited: float

    def __init__(self, factory: EvaluatorFactory, executor: RayExecutor,
                 workers: int | None = None) -> None:
        self.validation = False
        self.images: int | None = None  # a fidelity: the actors' evaluators on fewer images
        self._shared = self
        ray = self._ray = executor.connect()
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = workers or gpus or max(1, int(resources.get("CPU", 1)))
        options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        actor_class = ray.remote(**options)(CandidateWorker)
        self._make = lambda: actor_class.remote(factory)
        self._actors = [self._make() for _ in range(count)]
        self._restarts = 0
        self._waited = 0.0
        try:
            self._info = ray.get(self._actors[0].info.remote())
        except Exception as error:  # noqa: BLE001 - the factory failed inside the actor
            self.close()
            raise _cause(error) from None

    # -- the CandidateEvaluator protocol (from the first actor's info) ----------------------
    @property
    def num_train_timesteps(self) -> int:
        return int(self._info["num_train_timesteps"])

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(self._info["units"])

    @property
    def actors(self) -> list[Any]:
        return list(self._shared._actors)

    @property
    def restarts(self) -> int:
        """How many actors were replaced after dying."""
        return self._shared._restarts

    @property
    def wait_seconds(self) -> float:
        """Seconds the driver spent waiting for the actors (in `ray.wait`): the rest of a
        search's time is the driver's own work (search, store, submitting, collecting)."""
        return self._shared._waited

    def step_macs(self, skip_set: SkipSet) -> float:
        full, single = self._info["full"], self._info["single"]
        unknown = [u for u in skip_set if u not in single]
        if unknown:
            from .errors import SkipSetError

            raise SkipSetError("skip_set", f"unknown unit {unknown[0]!r}")
        return float(full - sum(full - single[u] for u in set(skip_set)))

    @property
    def num_images(self) -> int | None:
        return self.images if self.images is not None else self._info["num_images"]

    def at_images(self, count: int) -> RayCandidates:
        """The same actors scoring on the first `count` images (multi-fidelity, fidelity.py);
        a count the evaluator cannot score is refused here, by the first actor."""
        try:
            self._ray.get(self._shared._actors[0].at_images.remote(count))
        except Exception as error:  # noqa: BLE001 - the evaluator's own error, as raised
            raise _cause(error) from None
        view = copy.copy(self)  # shares the actors (and their replacements) with this one
        view.images = count
        return view

    def known_grids(self, steps: int) -> list[tuple[int, ...]]:
        """The evaluator's built-in grids at `steps` (seeding.py), from the first actor."""
        return list(self._ray.get(self._shared._actors[0].known_grids.remote(steps)))

    def validation_evaluator(self) -> RayCandidates | None:
        """The same actors scoring on the validation noise (None: the evaluator has none)."""
        if not self._info["validation"]:
            return None
        view = copy.copy(self)  # shares the actors (and their replacements) with this one
        view.validation = True
        return view

    def __call__(self, schedule: Schedule) -> Evaluation:
        results: list[Evaluation] = []
        self.evaluate_many([schedule], lambda _, result: results.append(result))
        return results[0]

    def evaluate_many(self, schedules: Sequence[Schedule],
                      done: Callable[[int, Evaluation], None], images: int | None = None) -> None:
        """Score every schedule on the actors (on their first `images` images: default this
        view's), calling done(index, evaluation) on this thread as each arrives. A dead actor
        is replaced and its candidate sent again."""
        ray = self._ray
        count = images if images is not None else self.images
        shared = self._shared
        waiting = list(range(len(schedules)))
        idle = list(shared._actors)
        running: dict[Any, tuple[int, Any]] = {}
        attempts = [0] * len(schedules)
        while waiting or running:
            while waiting and idle:
                index, actor = waiting.pop(0), idle.pop(0)
                attempts[index] += 1
                ref = actor.evaluate.remote(schedules[index], self.validation, count)
                running[ref] = (index, actor)
            waiting_since = time.perf_counter()
            ready, _ = ray.wait(list(running), num_returns=1)
            shared._waited += time.perf_counter() - waiting_since
            for ref in ready:
                index, actor = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError:  # the worker died mid-evaluation
                    if attempts[index] >= MAX_ATTEMPTS:
                        raise ExecutorError(
                            f"executor: the Ray actor evaluating {list(schedules[index].timesteps)}"
                            f" died {attempts[index]} times") from None
                    replacement = self._replace(actor)
                    waiting.insert(0, index)
                    idle.append(replacement)
                    continue
                except Exception as error:  # noqa: BLE001 - the evaluation's own error
                    raise _cause(error) from None
                idle.append(actor)
                done(index, result)

    def _replace(self, dead: Any) -> Any:
        shared = self._shared
        position = shared._actors.index(dead)
        shared._actors[position] = shared._make()
        shared._restarts += 1
        return shared._actors[position]

    def close(self) -> None:
        """End the actors (the cluster itself stays)."""
        for actor in self._shared._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass


def _cause(error: BaseException) -> BaseException:
    """The exception raised inside the actor, when Ray carries it."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error
