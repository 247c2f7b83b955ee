"""A generational evolutionary search over parameters that carry a search space (the
algorithm of AutoDiffusion, usable for any parameter set). No LLM.

Each generation after a stage's first: the top-k candidates scored so far in the stage are the
parents; `mutants` children mutate a parent (each searched parameter with probability
`mutation_prob`, at least one), `crossovers` children mix two parents, and random samples fill
the rest of the population. A child whose key was already seen is rejected and drawn again.

The search is a pure function of the seed and the scores: generations are drawn from one
random generator when the previous generation is complete, so a resumed search (from
`state_dict`, or replayed over a pre-filled `evaluation_cache`) proposes the same candidates
and evaluates nothing twice."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, MutableMapping
from typing import Any

from optograph.graph.node import Node
from optograph.graph.search_space import SearchSpace

from .errors import OptimizerError
from .evolution_parts import (
    ATTEMPTS_PER_CHILD,
    Candidate,
    Entry,
    ReprKey,
    Stage,
    StageRun,
    jsonable,
    rank,
)
from .executor import Executor
from .feedback import score_from_parameters
from .optimizer import Optimizer, check_state_type

__all__ = ["Candidate", "EvolutionaryOptimizer", "Stage"]

class EvolutionaryOptimizer(Optimizer):
    """Evolutionary search; `minimize=False` maximises the score.

    `generations` bounds the search when `stages` is None (None: no bound; `run` and the loop
    bound it by evaluations or steps). Include the parameters' current values as the first
    candidate with `include_initial` (when they lie in the spaces)."""

    _stage: StageRun | None
    _generation: list[Entry]
    _seen: set[Hashable]
    _scored: list[Entry]
    _best: Entry | None
    _applied: Entry | None
    _from_cache: list[Entry]

    def __init__(
        self,
        parameters: Iterable[Node],
        population: int = 50,
        top_k: int = 10,
        mutants: int = 25,
        mutation_prob: float = 0.25,
        crossovers: int = 10,
        stages: list[Stage] | None = None,
        minimize: bool | None = None,
        seed: int = 0,
        evaluation_cache: MutableMapping[Hashable, float] | None = None,
        *,
        generations: int | None = None,
        include_initial: bool = True,
    ) -> None:
        super().__init__(parameters)
        if population < 1 or top_k < 1 or mutants < 0 or crossovers < 0:
            raise OptimizerError(
                "EvolutionaryOptimizer: population and top_k must be >= 1, mutants and crossovers >= 0"
            )
        if mutants + crossovers > population:
            raise OptimizerError(
                f"EvolutionaryOptimizer: mutants + crossovers ({mutants + crossovers}) exceed "
                f"the population ({population})"
            )
        if not 0.0 <= mutation_prob <= 1.0:
            raise OptimizerError(f"EvolutionaryOptimizer: mutation_prob {mutation_prob} is not in [0, 1]")
        self.population, self.top_k = population, top_k
        self.mutants, self.mutation_prob, self.crossovers = mutants, mutation_prob, crossovers
        self.minimize = True if minimize is None else bool(minimize)  # None: lower is better
        self.direction_declared = minimize is not None  # None: optimize() decides
        self.seed, self.include_initial = seed, include_initial
        self.stages = list(stages) if stages else [Stage(generations or 1)]
        self._unbounded = not stages and generations is None
        self.cache: MutableMapping[Hashable, float] = (
            evaluation_cache if evaluation_cache is not None else {}
        )
        names = self.parameters_by_name
        for i, stage in enumerate(self.stages):
            for name in stage.spaces or {}:
                if name not in names:
                    raise OptimizerError(
                        f"EvolutionaryOptimizer: stage {i} names {name!r}, which is not a parameter"
                    )
        for i in range(len(self.stages)):
            if not any(self._space_of(n, i) is not None for n in names):
                raise OptimizerError(
                    f"EvolutionaryOptimizer: stage {i} searches no parameter (give "
                    "node(..., search_space=...) or Stage spaces)"
                )
        self._initial: Candidate = self.values()
        self._reset()

    # -- public ask/tell ---------------------------------------------------------------
    def ask(self) -> Candidate | None:
        """The next candidate to evaluate, or None when the search is done. Raises
        OptimizerError while a generation waits for results of candidates already asked."""
        while True:
            for entry in self._generation:
                if entry.score is None and not entry.issued:
                    entry.issued = True
                    return dict(entry.values)
            if any(e.score is None for e in self._generation):
                raise OptimizerError(
                    "EvolutionaryOptimizer.ask: tell() the scores of the candidates already "
                    "asked before the next generation"
                )
            if not self._next_generation():
                return None

    def tell(self, candidate: Candidate, score: float) -> None:
        """Record the score of a candidate returned by ask()."""
        key = self._key(candidate)
        for entry in self._generation:
            if entry.key == key and entry.issued and entry.score is None:
                self._record(entry, float(score))
                self.cache[key] = entry.score  # type: ignore[assignment]
                return
        raise OptimizerError(
            "EvolutionaryOptimizer.tell: this candidate was not asked for, or was told already"
        )

    @property
    def best(self) -> tuple[Candidate, float] | None:
        if self._best is None:
            return None
        return dict(self._best.values), self._best.score  # type: ignore[return-value]

    @property
    def history(self) -> list[tuple[Candidate, float]]:
        """Every scored candidate (cached ones included), in the order scored."""
        return [(dict(e.values), e.score) for e in self._scored]  # type: ignore[misc]

    @property
    def done(self) -> bool:
        return self._done

    def run(
        self,
        evaluate: Callable[[Candidate], float],
        evaluations: int,
        on_result: Callable[[Candidate, float], None] | None = None,
        executor: Executor | None = None,
        evaluate_batch: Callable[[list[Candidate]], list[float]] | None = None,
    ) -> tuple[Candidate, float]:
        """Search until `evaluations` candidates are scored (those answered by the evaluation
        cache count too, so a replayed search stops where the first one would) or the stages
        end; set the parameters to the best candidate and return it with its score.

        The candidates of a generation are independent: they are evaluated through
        `executor` (agent/executor.py: threads, or Ray tasks; default one at a time),
        max_concurrency at a time, and told in the order they were asked, so the search is
        the same at any concurrency; a failure loses at most the chunk it happened in.
        With `evaluate_batch`, each generation's open candidates are scored by one call
        (the diffusion search's evaluator pool) instead, and told in their order."""
        runner = executor or Executor(1)
        for entry in self._generation:  # asked earlier but never told: evaluate them here
            if entry.score is None and entry is not self._applied:
                entry.issued = False
        while len(self._scored) < evaluations:
            batch = self._ask_generation(evaluations, on_result)
            if not batch:
                break
            width = len(batch) if evaluate_batch is not None else runner.max_concurrency
            for start in range(0, len(batch), width):  # told as soon as a chunk is done
                chunk = batch[start:start + width]
                scores: list[Any] = (
                    list(evaluate_batch(chunk)) if evaluate_batch is not None
                    else runner.map(evaluate, chunk, return_exceptions=True))
                for candidate, score in zip(chunk, scores, strict=True):
                    if isinstance(score, BaseException):
                        raise score
                    self.tell(candidate, float(score))  # type: ignore[arg-type]
                    if on_result is not None:
                        on_result(candidate, float(score))  # type: ignore[arg-type]
        if self._best is None:
            raise OptimizerError("EvolutionaryOptimizer.run: no candidate was evaluated")
        self.apply(self._best.values)
        return self.best  # type: ignore[return-value]

    def _ask_generation(
        self, evaluations: int, on_result: Callable[[Candidate, float], None] | None
    ) -> list[Candidate]:
        """The candidates of the current generation not yet asked, while the scored ones
        and these stay within `evaluations` (those the evaluation cache answers on the way
        are reported and count); [] when the search is done."""
        batch: list[Candidate] = []
        while len(self._scored) + len(batch) < evaluations:
            try:
                candidate = self.ask()
            except OptimizerError:  # the rest of the generation waits for these scores
                candidate = None
            for entry in self._from_cache:  # answered by the evaluation cache
                if on_result is not None:
                    on_result(dict(entry.values), entry.score)  # type: ignore[arg-type]
            self._from_cache.clear()
            if candidate is None:
                break
            if len(self._scored) + len(batch) >= evaluations:  # the cache filled the room
                self._unissue(candidate)
                break
            batch.append(candidate)
        return batch

    # -- optimizer contract --------------------------------------------------------------
    def step(self) -> dict[Node, Any]:
        """Score the candidate the parameters hold (from their feedback: a number, or a dict
        with 'score'), then set the next candidate; when the search is done, the best one."""
        score = score_from_parameters(self.parameters)
        current = self._applied
        if current is None and score is not None:
            peek = self._peek()
            if peek is not None and peek.key == self._key(self.values()):
                peek.issued = True
                current = peek
        if current is not None:
            if score is None:
                raise OptimizerError(
                    "EvolutionaryOptimizer.step: the feedback has no score; give backward() "
                    "a number or a dict with 'score'"
                )
            self.tell(current.values, score)
        self._applied = None
        candidate = self.ask()
        if candidate is None:
            target = self._best.values if self._best is not None else self.values()
        else:
            target = candidate
            self._applied = next(e for e in self._generation if e.key == self._key(candidate))
        changed = {n: v for n, v in target.items() if self.parameters_by_name[n]._data != v}
        updates = self.apply(changed)
        return updates

    def state_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "seed": self.seed,
            "scores": {str(e.index): e.score for e in self._scored},
            "initial": jsonable(self._initial),
            "applied": self._applied.index if self._applied is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replay the search from the seed and the recorded scores."""
        check_state_type(self, state)
        try:
            scores = {int(k): float(v) for k, v in state["scores"].items()}
            self.seed = int(state["seed"])
            self._initial = dict(state.get("initial") or self._initial)
            applied = state.get("applied")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise OptimizerError(f"EvolutionaryOptimizer.load_state_dict: bad state ({exc})") from None
        self._reset()
        while True:
            for entry in self._generation:
                if entry.score is None and entry.index in scores:
                    self._record(entry, scores[entry.index])
            if any(e.score is None for e in self._generation) or not self._next_generation():
                break
        if applied is not None:
            for entry in self._generation:
                if entry.index == applied and entry.score is None:
                    entry.issued = True
                    self._applied = entry

    # -- internals -------------------------------------------------------------------------
    def _reset(self) -> None:
        self._rng = random.Random(self.seed)
        self._count = 0
        self._stage_index = -1
        self._stage = None
        self._generation = []
        self._seen = set()
        self._scored = []
        self._best = None
        self._applied = None
        self._from_cache = []
        self._done = False
        self._next_generation()

    def _unissue(self, candidate: Candidate) -> None:
        key = self._key(candidate)
        for entry in self._generation:
            if entry.key == key and entry.score is None:
                entry.issued = False

    def _peek(self) -> Entry | None:
        return next((e for e in self._generation if e.score is None and not e.issued), None)

    def _space_of(self, name: str, stage_index: int | None) -> SearchSpace | None:
        if stage_index is not None:
            spaces = self.stages[stage_index].spaces
            if spaces is not None and name in spaces:
                return spaces[name]
            if spaces is not None:
                return None
        return self.parameters_by_name[name].search_space

    def _key_space(self, name: str) -> Any:
        if self._stage is not None and name in self._stage.spaces:
            return self._stage.spaces[name]
        space = self.parameters_by_name[name].search_space
        if space is not None:
            return space
        for stage in self.stages:
            if stage.spaces and name in stage.spaces:
                return stage.spaces[name]
        return ReprKey

    def _key(self, candidate: Candidate) -> Hashable:
        try:
            return tuple(self._key_space(p.name).key(candidate[p.name]) for p in self.parameters)
        except KeyError as exc:
            raise OptimizerError(f"EvolutionaryOptimizer: candidate lacks parameter {exc}") from None

    def _record(self, entry: Entry, score: float) -> None:
        entry.score = score
        self._scored.append(entry)
        assert self._stage is not None
        self._stage.pool.append(entry)
        if self._best is None or rank(entry, self.minimize) < rank(self._best, self.minimize):
            self._best = entry

    def _next_generation(self) -> bool:
        """Draw the next generation (cached candidates scored at once). False when done."""
        while not self._done:
            stage = self._stage
            if stage is None or (
                stage.generation >= stage.stage.generations and not self._unbounded
            ):
                if not self._start_stage():
                    self._done = True
                    return False
                continue
            for space in {id(s): s for s in stage.spaces.values()}.values():
                hook = getattr(space, "start_generation", None)
                if callable(hook):
                    hook(stage.generation, 0 if self._unbounded else stage.stage.generations)
            children = self._draw_children(stage)
            stage.generation += 1
            self._generation = []
            for values in children:
                key = self._key(values)
                entry = Entry(self._count, values, key)
                self._count += 1
                self._generation.append(entry)
                if key in self.cache:
                    self._record(entry, float(self.cache[key]))
                    self._from_cache.append(entry)
            if self._generation:
                return True
            if self._unbounded:  # nothing new can be drawn: the space is exhausted
                self._done = True
                return False
            stage.generation = stage.stage.generations
        return False

    def _start_stage(self) -> bool:
        self._stage_index += 1
        if self._stage_index >= len(self.stages):
            return False
        stage = self.stages[self._stage_index]
        names = [p.name for p in self.parameters]
        searched = {n: self._space_of(n, self._stage_index) for n in names}
        spaces = {n: s for n, s in searched.items() if s is not None}
        base = self._best.values if self._best is not None else self._initial
        fixed = {n: base[n] for n in names if n not in spaces}
        run = StageRun(stage, spaces, fixed)
        for entry in self._scored:  # earlier results that fit this stage rank in its pool
            if all(run.fits(entry.values, n) for n in names) and all(
                self._key_space(n).key(entry.values[n]) == self._key_space(n).key(v)
                for n, v in fixed.items()
            ):
                run.pool.append(entry)
        self._stage = run
        return True

    def _draw_children(self, stage: StageRun) -> list[Candidate]:
        rng = self._rng
        children: list[Candidate] = []
        keys: set[Hashable] = set()

        def accept(values: Candidate) -> bool:
            try:
                for name, space in stage.spaces.items():
                    values[name] = space.validate(values[name])
            except (ValueError, TypeError):
                return False
            key = self._key(values)
            if key in self._seen or key in keys:
                return False
            keys.add(key)
            self._seen.add(key)
            children.append(values)
            return True

        def fill(count: int, make: Callable[[], Candidate]) -> None:
            wanted = len(children) + count
            for _ in range(count * ATTEMPTS_PER_CHILD):
                if len(children) >= wanted:
                    break
                accept(make())

        parents = sorted(stage.pool, key=lambda e: rank(e, self.minimize))[: self.top_k]
        first = stage.generation == 0
        if first and self._stage_index == 0 and self.include_initial:
            accept(dict(self._initial))
        if not first and parents:
            fill(self.mutants, lambda: stage.mutate(rng.choice(parents).values, rng,
                                                   self.mutation_prob))
            if len(parents) > 1:
                fill(self.crossovers, lambda: stage.cross(parents, rng))
        order = [p.name for p in self.parameters]
        fill(self.population - len(children), lambda: stage.sample(rng, order))
        return children
