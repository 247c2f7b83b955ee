"""The diffusion search as LangChain tools, and as a traced operation whose FID becomes
feedback on the time-step parameter.

- EvaluateScheduleTool: FID, MACs and seconds of one schedule.
- SearchScheduleTool: a whole two-stage search; returns the best schedule.
- traced_evaluation(tool): an og.bundle operation around the evaluation, so that
  `fid = evaluate(timesteps_node); fid.backward(fid_feedback(fid.data))` reaches the time
  steps and OptoPrime can propose the next schedule from it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from optograph.graph.bundle import bundle
from optograph.graph.node import Node

from .errors import DiffusionInputError
from .search_space import ScheduleSpace
from .session import SessionConfig

Solver = Literal["ddim", "dpmpp2m", "unipc"]  # sampler.SOLVERS (a test keeps them equal)


class EvaluatorSettings(BaseModel):
    """How a tool builds its evaluator on first use (ignored when one is given)."""

    model: str = "digits"
    reference: str = "digits"
    images: int = 512
    solver: Solver = "ddim"
    device: str | None = None
    features: str | None = None
    cache_dir: str | None = None
    seed: int = 0


class _EvaluatorTool(BaseTool):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    settings: EvaluatorSettings = Field(default_factory=EvaluatorSettings)
    evaluator: Any = None  # a search.CandidateEvaluator; built from settings when None
    handle_tool_error: bool = True  # an agent reads the one-line error instead of crashing
    handle_validation_error: bool = True

    def get_evaluator(self) -> Any:
        if self.evaluator is None:
            from .evaluator import build_evaluator

            s = self.settings
            self.evaluator = build_evaluator(s.model, s.reference, s.solver, s.device, s.images,
                                             s.seed, s.features, s.cache_dir)
        return self.evaluator


class EvaluateScheduleArgs(BaseModel):
    timesteps: list[int] = Field(
        description="strictly descending diffusion time steps in [0, T-1], e.g. [999, 600, 300, 50]")
    skip_sets: list[list[str]] | None = Field(
        default=None, description="optional: per step, the UNet units to skip (names like "
        "'mid.attn.0', 'up.1.resnet.0'); one list per time step")
    seeds: list[int] | None = Field(
        default=None, description="optional: score on the noise bank of each of these seeds "
        "(e.g. [0, 1, 2]) instead of the tool's own, to tell a schedule from a lucky bank: "
        "fid is then the mean, with each bank's fid and their spread")


class EvaluateScheduleTool(_EvaluatorTool):
    """Sample the model on a schedule and measure its FID (lower is better) and MACs."""

    name: str = "evaluate_diffusion_schedule"
    description: str = (
        "Sample the diffusion model on the given time steps (and optional per-step skip sets) "
        "with the same noise as every other evaluation, and return its FID against the "
        "reference set (lower is better), MACs per image and seconds.")
    args_schema: type[BaseModel] = EvaluateScheduleArgs

    def _run(self, timesteps: list[int], skip_sets: list[list[str]] | None = None,
             seeds: list[int] | None = None, **_: Any) -> dict[str, Any]:
        from .banks import NoiseBanks, scored, spread

        evaluator = self.get_evaluator()
        space = ScheduleSpace(len(timesteps), evaluator.num_train_timesteps, units=evaluator.units)
        try:
            schedule = space.validate({"timesteps": timesteps, "skip_sets": skip_sets})
        except ValueError as error:
            raise ToolException(f"timesteps: {error}") from None
        if seeds and not hasattr(evaluator, "with_noise_seed"):
            raise ToolException("seeds: this tool's evaluator has a single noise bank")
        try:
            banks = NoiseBanks.of(evaluator, seeds) if seeds else None
            result, bank_seeds, fids = scored(evaluator, banks, lambda bank: bank(schedule))
        except DiffusionInputError as error:
            raise ToolException(str(error)) from None
        on_banks = {"seeds": bank_seeds, "fids": [round(float(f), 4) for f in fids],
                    "spread": spread(fids)} if banks is not None else {}
        return {"timesteps": list(schedule.timesteps),
                "skip_sets": [list(s) for s in schedule.skip_sets],
                "fid": round(float(result.fid), 4), "macs": float(result.macs),
                "seconds": round(float(result.seconds), 3)} | on_banks


_DEFAULTS = SessionConfig()  # one set of search defaults for every entry point (session.py)
PROGRESS_EVENT = "diffusion_search_progress"


class SearchScheduleArgs(BaseModel):
    steps: int = Field(ge=1, description="number of time steps K of the schedule")
    evaluations: int = Field(default=_DEFAULTS.evaluations, ge=1,
                             description="candidate evaluations")
    macs_budget: float | None = Field(
        default=None, gt=0, description="MACs per image for the second stage (skip sets)")
    macs_share: float | None = Field(
        default=None, gt=0, le=1, description="the MACs budget as a share of the full "
        "network's MACs (0.8: 80 %), instead of macs_budget")
    exact_steps: bool = Field(
        default=False, description="under a MACs budget, keep exactly `steps` steps (skip sets "
        "only); by default the search also tries the fewer full-network steps the budget pays "
        "for and answers with the better")
    out: str | None = Field(default=None, description="folder for search.sqlite (resumable)")
    population: int = Field(default=_DEFAULTS.population, ge=1)
    top_k: int | None = Field(default=None, ge=1, description="parents per generation "
                              "(default: a quarter of the population)")
    mutants: int | None = Field(default=None, ge=0, description="default: 2/5 of the population")
    crossovers: int | None = Field(default=None, ge=0,
                                   description="default: 1/5 of the population")
    seed: int = 0
    validate_top: int = Field(
        default=_DEFAULTS.validate_top, ge=0, description="re-score the best K schedules on "
        "fresh noise; the answer has the lowest mean FID (counts among the evaluations, at "
        "most one in eight)")
    executor: str = Field(default=_DEFAULTS.executor,
                          description="local, ray (a local Ray cluster) or ray://HOST:PORT")
    max_concurrency: int | None = Field(default=None, ge=1,
                                        description="Ray evaluator actors (default: one per GPU)")
    fidelities: list[int] | None = Field(
        default=None, description="multi-fidelity: increasing image counts, e.g. [128, 512, "
        "2048]; candidates are scored on the first and re-scored on the next ones only while "
        "they rank well; the last is the images per FID, `evaluations` count evaluations at it")
    image_budget: int | None = Field(default=None, ge=1,
                                     description="images the search may sample, instead of "
                                     "`evaluations`")


class SearchScheduleTool(_EvaluatorTool):
    """Run the two-stage evolutionary search and return the best schedule. Progress goes to
    the run's callbacks: a custom event `diffusion_search_progress` per evaluation (and a
    text line), and to `on_result` when set."""

    name: str = "search_diffusion_schedule"
    description: str = (
        "Search the K time steps (then per-step skip sets under a MACs budget) that give the "
        "lowest FID; returns the best schedule, its FID and MACs. Resumes from `out`.")
    args_schema: type[BaseModel] = SearchScheduleArgs
    on_result: Any = None  # progress callback, as run_search's on_result

    def _run(self, steps: int, out: str | None = None,
             run_manager: CallbackManagerForToolRun | None = None, **options: Any
             ) -> dict[str, Any]:
        from .session import run_session

        s = self.settings
        known = set(SessionConfig.field_names())
        settings: dict[str, Any] = {"model": s.model, "reference": s.reference, "images": s.images,
                    "solver": s.solver, "device": s.device, "features": s.features,
                    "cache_dir": s.cache_dir, "seed": s.seed}
        chosen = {k: v for k, v in options.items() if k in known and v is not None}
        config = SessionConfig(steps=steps, baselines=False, samples=False,
                               **(settings | chosen))
        folder = Path(out) if out else Path(tempfile.mkdtemp(prefix="optograph-search-"))
        try:
            # the tool's evaluator, unless the fidelities ask for another noise bank size:
            # then the session builds one from the config
            local = config.executor in ("local", "threads") and (
                self.evaluator is not None or config.images == s.images)
            result = run_session(config, folder, resume=True,
                                 evaluator=self.get_evaluator() if local else None,
                                 on_result=self._progress(run_manager))
        except DiffusionInputError as error:
            raise ToolException(str(error)) from None
        return {"timesteps": result["timesteps"], "skip_sets": result["skip_sets"],
                "fid": result["fid"], "macs": result["macs"],
                "validation_fid": result.get("validation_fid"),
                "evaluations": result["evaluations"], "images": result["images"],
                "store": str(folder / "search.sqlite"),
                "result": str(folder / "result.json"),
                "seconds": round(result["search_seconds"], 2)}

    def _progress(self, run_manager: CallbackManagerForToolRun | None) -> Any:
        """on_result for the session: the tool's own callback, a custom event and a text
        line to the run's callback handlers."""
        best: list[float] = []

        def report(index: int, total: int, result: Any, cached: bool, seconds: float) -> None:
            if self.on_result is not None:
                self.on_result(index, total, result, cached, seconds)
            best.append(min([result.fid, *best[-1:]]))
            data = {"index": index, "total": total, "stage": result.stage, "fid": result.fid,
                    "best_fid": best[-1], "macs": result.macs, "stored": cached,
                    "timesteps": list(result.schedule.timesteps), "seconds": seconds}
            data["message"] = (f"[{index}/{total}] {result.stage} fid {result.fid:.3f} best "
                               f"{best[-1]:.3f} t={data['timesteps']}")
            if run_manager is None:
                return
            run_manager.on_text(f"{data['message']}\n")
            try:
                dispatch_custom_event(PROGRESS_EVENT, data)
            except RuntimeError:  # called outside a LangChain run: no parent to report to
                pass

        return report


def traced_evaluation(tool: EvaluateScheduleTool) -> Callable[[Node], Node]:
    """An og.bundle operation `evaluate_schedule(timesteps) -> {"fid", "macs", ...}` backed by
    the tool: called on a parameter node, its output node depends on the time steps, so
    feedback on it reaches them."""

    @bundle(name="evaluate_schedule")
    def evaluate_schedule(timesteps: list[int]) -> dict[str, Any]:
        """Samples the diffusion model with these time steps (strictly descending, in
        [0, T-1]; larger t = noisier, sampling starts at timesteps[0] from pure noise and
        ends with the prediction at timesteps[-1]) and returns FID (lower is better)."""
        return tool.invoke({"timesteps": list(timesteps)})

    return evaluate_schedule


def fid_feedback(result: Any, reference_fid: float | None = None) -> str:
    """The feedback text for an evaluation result: FID, MACs and how it compares."""
    if isinstance(result, str):  # the tool returned its error message
        return f"The schedule was rejected: {result}. Propose a valid schedule."
    text = f"FID {result['fid']:.3f} (lower is better) at {result['macs'] / 1e6:.1f} M MACs per image."
    if reference_fid is not None:
        relation = "better" if result["fid"] < reference_fid else "worse"
        text += f" The best so far is {reference_fid:.3f}; this is {relation}."
    return text + " Propose time steps that lower the FID."


def timesteps_parameter(initial: list[int], num_train_timesteps: int, name: str = "timesteps"
                        ) -> Node:
    """A trainable node for K time steps with a checkable constraint (the optimizer's
    proposals are validated against it before they are applied; only calls the validator
    knows keep it checkable)."""
    from optograph.graph.node import node

    steps = len(initial)
    constraint = (f"len(timesteps) == {steps} and all(0 <= t < {num_train_timesteps} for t in "
                  "timesteps) and timesteps == sorted(set(timesteps), reverse=True)")
    return node(list(initial), trainable=True, name=name, constraint=constraint,
                description=f"{steps} diffusion sampling time steps, strictly descending")
