"""optograph.tools.diffusion (needs the `diffusion` extra): sampling diffusers UNets on searched
time steps and per-step architectures, their cost in MACs, and the search itself."""

from .baselines import BASELINE_METHODS, Row, run_baselines
from .compare import comparison_table, plot_comparison, write_comparison
from .errors import DiffusionInputError, ModelLoadError, ScheduleError, SkipSetError
from .evaluator import ScheduleEvaluator, build_evaluator
from .features import DigitsFeatures, FeatureExtractor, load_extractor
from .fid import FIDEvaluator
from .langchain_tools import (
    EvaluateScheduleTool,
    SearchScheduleTool,
    fid_feedback,
    timesteps_parameter,
    traced_evaluation,
)
from .llm_guided import compare_guided, llm_guided_search
from .macs import MacsTable, count_macs, measure_macs, schedule_macs, step_macs
from .model import SHIPPED_MODELS, DiffusionModel, load_model
from .noise import NoiseBank
from .reference import ReferenceStats, load_reference_images, reference_statistics
from .sampler import (
    BASELINES,
    SOLVERS,
    baseline_scheduler,
    baseline_timesteps,
    sample,
    sample_baseline,
    solver_scheduler,
    validate_timesteps,
)
from .search import Evaluation, SearchConfig, SearchResult, run_search, uniform_timesteps
from .search_space import Schedule, ScheduleSpace
from .skips import SkipUnit, UnitSkipper, skippable_units, skipping
from .store import SearchStore

__all__ = [
    "BASELINE_METHODS",
    "Row",
    "run_baselines",
    "comparison_table",
    "plot_comparison",
    "write_comparison",
    "ScheduleEvaluator",
    "build_evaluator",
    "DigitsFeatures",
    "FeatureExtractor",
    "load_extractor",
    "FIDEvaluator",
    "EvaluateScheduleTool",
    "SearchScheduleTool",
    "fid_feedback",
    "timesteps_parameter",
    "traced_evaluation",
    "compare_guided",
    "llm_guided_search",
    "ReferenceStats",
    "load_reference_images",
    "reference_statistics",
    "Evaluation",
    "SearchConfig",
    "SearchResult",
    "run_search",
    "uniform_timesteps",
    "Schedule",
    "ScheduleSpace",
    "SearchStore",
    "BASELINES",
    "SHIPPED_MODELS",
    "SOLVERS",
    "DiffusionInputError",
    "DiffusionModel",
    "MacsTable",
    "ModelLoadError",
    "NoiseBank",
    "ScheduleError",
    "SkipSetError",
    "SkipUnit",
    "UnitSkipper",
    "baseline_scheduler",
    "baseline_timesteps",
    "count_macs",
    "load_model",
    "measure_macs",
    "sample",
    "sample_baseline",
    "schedule_macs",
    "skippable_units",
    "skipping",
    "solver_scheduler",
    "step_macs",
    "validate_timesteps",
]
