"""The task file format: a YAML document validated by pydantic.

A task names the workflow, its parameters, the feedback, the data set, the optimizer and its
LLM, the budget, and where runs are stored. `load_task` reports every problem as one line
that names the file, the line and the field, and says what is expected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import TaskError
from .yaml_lines import LocatedYaml, load_located

Reference = Annotated[
    str,
    Field(
        description="`package.module:function`, or `path/to/file.py:function` relative to the "
        "task file",
        pattern=r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_.]*$",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRangeSpace(_Strict):
    int_range: tuple[int, int] = Field(description="[low, high], both included")
    step: int = Field(1, ge=1, description="largest move of one mutation")


class FloatRangeSpace(_Strict):
    float_range: tuple[float, float] = Field(description="[low, high]")
    scale: float = Field(0.1, gt=0, description="mutation noise, as a share of the width")


class ChoiceSpace(_Strict):
    choice: list[Any] = Field(min_length=1, description="the allowed values")


class FactorySpace(_Strict):
    factory: Reference = Field(description="a function returning a SearchSpace")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")


def _space_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in ("int_range", "float_range", "choice", "factory"):
            if kind in value:
                return kind
    return None


SearchSpaceSpec = Annotated[
    Annotated[IntRangeSpace, Tag("int_range")]
    | Annotated[FloatRangeSpace, Tag("float_range")]
    | Annotated[ChoiceSpace, Tag("choice")]
    | Annotated[FactorySpace, Tag("factory")],
    Discriminator(
        _space_kind,
        custom_error_type="search_space",
        custom_error_message="expected one of int_range, float_range, choice or factory",
    ),
]

ParameterType = Literal["float", "int", "str", "bool", "list", "dict", "code", "any"]


class ParameterSpec(_Strict):
    value: Any = Field(description="the initial value")
    type: ParameterType = Field("any", description="the value's type; `code` is Python source")
    description: str | None = Field(None, description="what the parameter means (shown to the LLM)")
    constraint: str | None = Field(None, description="a rule the value must keep (shown to the LLM)")
    search_space: SearchSpaceSpec | None = Field(
        None, description="where the evolutionary optimizer may look"
    )
    trainable: bool = Field(True, description="false keeps the value fixed")

    @model_validator(mode="after")
    def _value_matches_type(self) -> ParameterSpec:
        checks: dict[str, tuple[type, ...]] = {
            "float": (int, float), "int": (int,), "str": (str,), "code": (str,),
            "bool": (bool,), "list": (list,), "dict": (dict,),
        }
        expected = checks.get(self.type)
        wrong_bool = self.type in ("float", "int") and isinstance(self.value, bool)
        if expected is not None and (wrong_bool or not isinstance(self.value, expected)):
            raise ValueError(  # "@." + field: the error belongs to the value field
                f"@.value: {self.value!r:.60} is not of the declared type {self.type}"
            )
        return self


class FileWorkflow(_Strict):
    file: str = Field(description="a Python file, relative to the task file")
    function: str = Field(description="the workflow function in that file")


class LangGraphWorkflow(_Strict):
    langgraph: Reference = Field(description="a function returning a LangGraph StateGraph")
    output: str | None = Field(None, description="the state key holding the answer")


def _workflow_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "reference"
    if isinstance(value, dict):
        return "langgraph-workflow" if "langgraph" in value else "file-workflow"
    return None


WorkflowSpec = Annotated[
    Annotated[Reference, Tag("reference")]
    | Annotated[FileWorkflow, Tag("file-workflow")]
    | Annotated[LangGraphWorkflow, Tag("langgraph-workflow")],
    Discriminator(
        _workflow_kind,
        custom_error_type="workflow",
        custom_error_message="expected `module:function`, `file.py:function`, "
        "{file, function} or {langgraph: module:builder}",
    ),
]

_UNION_TAGS = {"reference", "int_range", "float_range", "choice", "factory"}


# Builtins whose score is a lower-is-better metric, shown as it is (FID, not -FID).
LOWER_IS_BETTER = frozenset({"fid"})


class FeedbackSpec(_Strict):
    function: Reference | None = Field(
        None, description="feedback(output, example) -> score, text, (score, text) or dict"
    )
    builtin: Literal["exact_match", "numeric_target", "pytest", "fid"] | None = Field(
        None, description="a feedback function optograph ships"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="options of the builtin")
    maximize: bool = Field(True, description="whether a higher score is better")
    target: float | None = Field(None, description="stop once the best score reaches this")

    @model_validator(mode="after")
    def _one_source(self) -> FeedbackSpec:
        if (self.function is None) == (self.builtin is None):
            raise ValueError("give exactly one of `function` or `builtin`")
        if self.builtin in LOWER_IS_BETTER and self.maximize:
            raise ValueError(f"builtin {self.builtin!r} scores lower-is-better; "
                             "leave out maximize or set maximize: false")
        return self

    @model_validator(mode="before")
    @classmethod
    def _direction(cls, data: Any) -> Any:
        """A lower-is-better builtin (its score is the metric itself: FID) minimizes."""
        if isinstance(data, dict) and data.get("builtin") in LOWER_IS_BETTER:
            return {"maximize": False, **data}
        return data


class DataSpec(_Strict):
    file: str | None = Field(None, description="a .jsonl, .json, .yaml or .csv file of examples")
    generator: Reference | None = Field(None, description="a function returning the examples")
    options: dict[str, Any] = Field(default_factory=dict, description="generator arguments")
    batch_size: int | None = Field(None, ge=1, description="examples per step (default: all)")
    limit: int | None = Field(None, ge=1, description="use only the first n examples")
    validation_file: str | None = Field(
        None, description="held-out examples (same formats): the best parameters are chosen "
        "on them"
    )
    validation_size: int | None = Field(
        None, ge=1, description="hold out the last n examples as the validation split"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.file is None) == (self.generator is None):
            raise ValueError("give exactly one of `file` or `generator`")
        if self.validation_file is not None and self.validation_size is not None:
            raise ValueError("@.validation_size: give validation_file or validation_size, "
                             "not both")
        return self


class CassetteSpec(_Strict):
    path: str = Field(description="the cassette file, relative to the task file")
    mode: Literal["record", "replay", "auto"] = Field(
        "auto", description="replay recorded calls; record new ones (auto: both)"
    )


class OptimizerSpec(_Strict):
    name: Literal["optoprime", "opro", "evolution"] = Field(description="which optimizer")
    llm: str | None = Field(
        None, description='the optimizer\'s model: "provider:model", "local", "local:/path.gguf" '
        "(LLM optimizers); also the workflow's model unless workflow_llm says otherwise"
    )
    workflow_llm: str | None = Field(
        None, description="the model a workflow gets as its `llm` argument (default: llm)"
    )
    cassette: CassetteSpec | None = Field(None, description="record/replay the LLM calls")
    options: dict[str, Any] = Field(default_factory=dict, description="optimizer keyword options")


class BudgetSpec(_Strict):
    steps: int | None = Field(None, ge=1, description="optimizer steps (LLM optimizers)")
    evaluations: int | None = Field(None, ge=1, description="workflow evaluations (evolution)")
    tokens: int | None = Field(None, ge=1, description="stop after this many LLM tokens")
    cost: float | None = Field(None, gt=0, description="stop after this cost in USD")


class TaskSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100,
                      description="a short name (runs use it)")
    description: str | None = Field(None, description="what the task optimizes")
    workflow: WorkflowSpec = Field(description="the function (or LangGraph builder) to optimize")
    parameters: dict[str, ParameterSpec] = Field(description="the workflow's parameters, by name")
    feedback: FeedbackSpec = Field(description="how an output becomes feedback and a score")
    data: DataSpec | None = Field(None, description="examples the workflow runs on")
    optimizer: OptimizerSpec = Field(description="the optimizer and its LLM")
    budget: BudgetSpec = Field(
        default_factory=lambda: BudgetSpec.model_validate({}), description="when to stop"
    )
    store: str = Field("runs", description="the folder runs are stored in (relative to the cwd)")
    max_concurrency: int = Field(
        1, ge=1, description="examples of a step evaluated at once (threads, or Ray tasks)"
    )
    executor: str = Field(
        "local", pattern=r"^(local|ray|ray://\S+)$",
        description='where evaluations run: "local" (in-process), "ray" (a local Ray '
        'cluster) or "ray://HOST:PORT" (an existing cluster)',
    )

    @field_validator("parameters")
    @classmethod
    def _some_trainable(cls, value: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        if not value:
            raise ValueError("at least one parameter is needed")
        if not any(p.trainable for p in value.values()):
            raise ValueError("no parameter is trainable; nothing to optimize")
        return value

    @model_validator(mode="after")
    def _budget_fits_optimizer(self) -> TaskSpec:
        if self.optimizer.name == "evolution":
            if not any(p.search_space for p in self.parameters.values() if p.trainable):
                raise ValueError(
                    "@optimizer.name: the evolution optimizer needs trainable parameters "
                    "with a search_space"
                )
        return self


class Task:
    """A validated task and the file it came from (references resolve relative to it)."""

    def __init__(self, spec: TaskSpec, path: Path, located: LocatedYaml | None = None) -> None:
        self.spec = spec
        self.path = path
        self.located = located

    @property
    def folder(self) -> Path:
        return self.path.parent

    def where(self, *location: str | int) -> str:
        """`file:line` of a field, for error messages about what a field names."""
        line = self.located.line_of(location) if self.located else None
        return f"{self.path}:{line}" if line else str(self.path)


def _field_name(location: tuple[str | int, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(top level)"


def _yaml_location(location: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """Drop the union-branch tags pydantic puts in locations (e.g. `FileWorkflow`,
    `function-after[...]`) so the rest matches keys and indexes of the YAML document."""
    kept: list[str | int] = []
    node = data
    for part in location:
        if isinstance(node, dict) and part in node:
            kept.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            kept.append(part)
            node = node[part]
        elif isinstance(part, str) and (
            part in _UNION_TAGS or part[:1].isupper() or "[" in part or "-" in part
        ):
            continue  # a union branch name, not a key of the document
        elif isinstance(part, str):
            kept.append(part)  # a missing field: name it (the line is its parent's)
            node = None
    return tuple(kept)


def _message(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch" and "A-Za-z_" in str(error.get("msg")):
        return f"expected `module:function` or `file.py:function`; got {error.get('input')!r}"
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def describe_validation_error(exc: ValidationError, path: Path, located: LocatedYaml) -> str:
    """One line: `file:line: field: what is wrong` for the first error (and how many more)."""
    errors = exc.errors()
    # prefer the error of the deepest location: union branches that do not apply are noise
    errors.sort(
        key=lambda e: (
            -len(_yaml_location(tuple(e["loc"]), located.data)), e.get("type") != "extra_forbidden"
        )
    )
    first = errors[0]
    location = _yaml_location(tuple(first["loc"]), located.data)
    message = _message(first)
    if message.startswith("@."):  # a model check naming a field of its own model
        field, _, message = message[2:].partition(": ")
        location = (*location, *field.split("."))
    elif message.startswith("@"):  # a model check naming a field from the top
        field, _, message = message[1:].partition(": ")
        location = tuple(field.split("."))
    line = located.line_of(location)
    where = f"{path}:{line}" if line else str(path)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {_field_name(location)}: {message}{more}"


def parse_task(located: LocatedYaml, path: Path) -> Task:
    if not isinstance(located.data, dict):
        raise TaskError(
            f"{path}:1: expected a mapping with name, workflow, parameters, feedback, optimizer; "
            f"got {type(located.data).__name__}"
        )
    try:
        spec = TaskSpec.model_validate(located.data)
    except ValidationError as exc:
        raise TaskError(describe_validation_error(exc, path, located)) from None
    return Task(spec, path, located)


def load_task(path: str | Path) -> Task:
    """Read and validate a task file (its references are checked by `resolve_task`)."""
    path = Path(path)
    return parse_task(load_located(path), path)


def task_json_schema() -> dict[str, Any]:
    """The JSON Schema of the task format (for editors)."""
    schema = TaskSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "optograph task"
    return schema
