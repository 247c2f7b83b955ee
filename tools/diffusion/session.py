"""One diffusion search session: its configuration and defaults, the identity of its store,
the evaluator (in-process or on Ray actors), the search, and the result document
(result.json). The CLI (`optograph diffusion search`), the LangChain tool and the LLM-guided
search all call `run_session`, so a store written by one resumes in the others.

The result is written the moment the search is done, before anything optional runs
(baselines, sample grids): a baseline that fails is a row marked failed with its reason, and
the document is written again after each extra."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from .errors import DiffusionInputError
from .fidelity import check_fidelities, total_budget
from .macs_budget import full_network_macs
from .sampler import check_solver
from .search import CandidateEvaluator, OnResult, SearchConfig, SearchResult, run_search
from .store import SearchStore

Log = Callable[[str], None]
DEFAULT_POPULATION = 20


@dataclass
class SessionConfig:
    """Everything a search session takes; the defaults are every entry point's defaults,
    sized for a CPU (the paper's population is 50 / 10 / 25 / 10: `SearchConfig`'s)."""

    steps: int = 4
    evaluations: int = 40
    macs_budget: float | None = None
    macs_share: float | None = None  # the budget as a share of the full network (0.8: 80 %)
    # under a MACs budget, K steps with skip sets only (else fewer full steps compete too)
    exact_steps: bool = False
    model: str = "digits"
    reference: str = "digits"
    solver: str = "ddim"
    images: int = 512
    seed: int = 0
    features: str | None = None
    device: str | None = None
    cache_dir: str | None = None
    batch_size: int = 256
    population: int = DEFAULT_POPULATION
    # None: in the default's proportion to the population (5, 8 and 4 of 20)
    top_k: int | None = None
    mutants: int | None = None
    mutation_prob: float = 0.25
    crossovers: int | None = None
    validate_top: int = 5
    baselines: bool = True
    samples: bool = True  # a PNG grid of samples per row (the best schedule, each baseline)
    executor: str = "local"  # "local", "ray" (a local cluster) or "ray://HOST:PORT"
    max_concurrency: int | None = None  # Ray actors (None: one per GPU, else per CPU)
    # Multi-fidelity (fidelity.py): increasing image counts, e.g. [128, 512, 2048]; `images`
    # becomes the last (the noise bank every fidelity takes its first images from), and
    # `evaluations` counts evaluations at it. `image_budget`: images instead of evaluations.
    fidelities: list[int] | None = None
    image_budget: int | None = None

    def __post_init__(self) -> None:
        population = self.population if isinstance(self.population, int) else 0
        for name, share, least in (("top_k", 5, 1), ("mutants", 8, 0), ("crossovers", 4, 0)):
            if getattr(self, name) is None:
                setattr(self, name, max(least, population * share // DEFAULT_POPULATION))
        if self.fidelities is not None:
            self.fidelities = list(self.fidelities)
            if self.fidelities and isinstance(self.fidelities[-1], int):
                self.images = self.fidelities[-1]

    def check(self) -> None:
        """One-line errors naming the field."""
        from optograph.agent.executor import ExecutorError, check_max_concurrency, make_executor

        positive = {"steps": 1, "evaluations": 1, "images": 2, "population": 1, "top_k": 1,
                    "batch_size": 1}
        for name, least in positive.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise DiffusionInputError(name, f"must be a whole number >= {least}; got {value!r}")
        for name in ("mutants", "crossovers", "validate_top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DiffusionInputError(name, f"must be a whole number >= 0; got {value!r}")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise DiffusionInputError("mutation_prob", f"must lie in [0, 1]; got {self.mutation_prob}")
        if self.macs_budget is not None and not (self.macs_budget > 0 and math.isfinite(self.macs_budget)):
            raise DiffusionInputError("macs_budget", f"must be a positive number; got {self.macs_budget}")
        check_solver(self.solver)
        try:
            if self.max_concurrency is not None:
                check_max_concurrency(self.max_concurrency)
            make_executor(self.executor, 1)
        except ExecutorError as error:
            field, _, message = str(error).partition(": ")
            raise DiffusionInputError(field, message) from None
        if self.executor in ("local", "threads") and (self.max_concurrency or 1) > 1:
            raise DiffusionInputError(
                "max_concurrency", f"{self.max_concurrency} needs the ray executor: in-process, "
                "the candidates share one model and are evaluated one at a time")
        fidelities = check_fidelities(self.fidelities)
        total_budget(fidelities or (self.images,), self.evaluations, self.image_budget)
        self.search_config().check()

    def search_config(self) -> SearchConfig:
        # __post_init__ has filled in the population's shares
        assert self.top_k is not None and self.mutants is not None and self.crossovers is not None
        return SearchConfig(steps=self.steps, evaluations=self.evaluations,
                            macs_budget=self.macs_budget, macs_share=self.macs_share,
                            exact_steps=self.exact_steps,
                            population=self.population,
                            top_k=self.top_k, mutants=self.mutants,
                            mutation_prob=self.mutation_prob, crossovers=self.crossovers,
                            seed=self.seed, validate_top=self.validate_top,
                            fidelities=tuple(self.fidelities) if self.fidelities else None,
                            image_budget=self.image_budget)

    def identity(self) -> dict[str, Any]:
        """What a store must agree with to be resumed (not the executor, the device, the
        cache or the evaluation count or image budget: a search resumes on another machine,
        longer). The fidelities only when given, so stores of earlier versions resume."""
        identity = {"model": str(self.model), "reference": self.reference, "solver": self.solver,
                    "images": self.images, "seed": self.seed, "features": self.features,
                    "steps": self.steps, "macs_budget": self.macs_budget,
                    "population": self.population, "top_k": self.top_k, "mutants": self.mutants,
                    "mutation_prob": self.mutation_prob, "crossovers": self.crossovers}
        if self.fidelities is not None:
            identity["fidelities"] = list(self.fidelities)
        if self.macs_share is not None:
            identity["macs_share"] = self.macs_share
        if self.macs_budget is not None or self.macs_share is not None:
            # skip sets are scored with the skipped units' residuals reused (skips.py); a
            # store of the paper's skip is not resumed with them
            identity["skips"] = "reuse-residual"
        return identity

    def evaluator_factory(self) -> Callable[[], Any]:
        """Builds the evaluator (model, reference statistics, noise bank); picklable, so a
        Ray actor builds its own."""
        from .evaluator import build_evaluator

        return partial(build_evaluator, self.model, self.reference, self.solver, self.device,
                       self.images, self.seed, self.features, self.cache_dir, self.batch_size)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def run_session(
    config: SessionConfig,
    out: str | Path,
    *,
    resume: bool = False,
    evaluator: CandidateEvaluator | None = None,
    factory: Callable[[], CandidateEvaluator] | None = None,
    on_result: OnResult | None = None,
    log: Log | None = None,
    llm: Any = None,
    llm_rounds: int = 0,
    neighbours: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Search (resuming the store in `out` when `resume`), write `out/result.json`, then run
    the optional extras. `evaluator` (in-process) or `factory` (also for Ray actors) replace
    the one the config describes. With `llm`, OptoPrime proposes `llm_rounds` schedules first
    (llm_guided.py). `neighbours`: the best time steps of searches at other step counts, which
    seed the first generation resized to config.steps (seeding.py). Returns the result
    document."""
    config.check()
    if llm is not None and llm_rounds < 1:
        raise DiffusionInputError("llm_rounds", f"must be at least 1 with an llm; got {llm_rounds}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise DiffusionInputError("out", f"{folder} exists and is not a folder")
    say = log or (lambda _: None)
    identity = config.identity() | ({"llm_rounds": llm_rounds} if llm is not None else {})
    store = SearchStore(folder / "search.sqlite", identity, resume=resume)
    pool = None
    try:
        if config.executor in ("local", "threads"):
            local = evaluator if evaluator is not None else (factory or config.evaluator_factory())()
            searcher: Any = local
        else:
            from optograph.agent.executor import make_executor

            from .parallel import RayCandidates

            made = factory or ((lambda: evaluator) if evaluator is not None
                               else config.evaluator_factory())
            pool = searcher = RayCandidates(made, make_executor(config.executor),  # type: ignore[arg-type]
                                            workers=config.max_concurrency)
            local = evaluator
            say(f"ray: {len(pool.actors)} evaluator actors")
        make_validator = getattr(searcher, "validation_evaluator", None)
        validator = make_validator() if config.validate_top and callable(make_validator) else None
        started = time.perf_counter()  # the search, after the evaluator (or actors) is built
        found = _search(searcher, config, store, on_result, validator, llm, llm_rounds, pool,
                        neighbours)
        llm_fids = [e.fid for e in store.evaluations() if e.stage == "llm"]
    finally:
        store.close()
        if pool is not None:
            pool.close()
    result = result_document(config, found, searcher, validator, identity,
                             time.perf_counter() - started)
    if llm is not None:
        result["llm_rounds"], result["llm_fids"] = llm_rounds, llm_fids
    if pool is not None:
        result["ray"] = {"actors": len(pool.actors), "restarts": pool.restarts,
                         "wait_seconds": pool.wait_seconds}
    write_result(folder, result)  # the work is safe before anything optional runs
    if config.baselines or config.samples:
        from .extras import add_extras

        add_extras(result, config, folder, local, say)
    return result


def _search(evaluator: Any, config: SessionConfig, store: SearchStore, on_result: OnResult | None,
            validator: Any, llm: Any, rounds: int, pool: Any,
            neighbours: Sequence[Sequence[int]]) -> SearchResult:
    search_config = config.search_config()
    if llm is not None:
        from .llm_guided import llm_guided_search

        return llm_guided_search(evaluator, search_config, llm, rounds, store, on_result,
                                 validator=validator, neighbours=neighbours)
    return run_search(evaluator, search_config, store, on_result, validator=validator,
                      neighbours=neighbours,
                      evaluate_many=pool.evaluate_many if pool is not None else None)


def result_document(config: SessionConfig, found: SearchResult, evaluator: Any, validator: Any,
                    identity: dict[str, Any], seconds: float) -> dict[str, Any]:
    best = found.best
    result: dict[str, Any] = {
        "timesteps": list(best.schedule.timesteps),
        "skip_sets": [list(s) for s in best.schedule.skip_sets],
        "solver": config.solver, "fid": best.fid, "macs": best.macs,
        "full_network_macs": full_network_macs(evaluator, config.steps), "steps": config.steps,
        "stage": best.stage, "images": best.images or config.images, "images_spent": found.images,
        "evaluations": len(found.history), "evaluated_now": found.evaluated,
        "replayed_from_store": found.replayed, "search_seconds": seconds,
        "config": identity, "baselines": {},
    }
    if found.validation and validator is not None:
        chosen = found.validation[0]
        noise = getattr(validator, "noise", None)
        result["validation_fid"] = chosen.validation_fid
        result["validation"] = {
            "noise_seed": getattr(noise, "seed", None), "images": config.images,
            "rule": "lowest mean FID",
            "candidates": [{**v.schedule.to_dict(), "fid": v.fid, "validation_fid": v.validation_fid,
                            "mean_fid": v.mean_fid} for v in found.validation]}
    return result


def write_result(folder: Path, result: dict[str, Any]) -> Path:
    """result.json, replaced atomically (a crash never leaves half a document)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    partial_path = folder / "result.json.partial"
    partial_path.write_text(json.dumps(result, indent=1, default=float))
    partial_path.replace(path)
    return path


def session_defaults() -> dict[str, Any]:
    """The defaults, for help texts and schemas (one home)."""
    return asdict(SessionConfig())
