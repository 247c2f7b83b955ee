"""Resolve what a task file names: functions (`module:function` or `file.py:function`), the
data set, and search spaces. Every failure is a TaskError naming the file, line and field."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optograph.graph.search_space import Choice, FloatRange, IntRange, SearchSpace

from .errors import TaskError
from .paths import read_text_file
from .task_file import (
    ChoiceSpace,
    DataSpec,
    FactorySpace,
    FloatRangeSpace,
    IntRangeSpace,
    SearchSpaceSpec,
    Task,
)
from .yaml_lines import parse_yaml


def _import_file(path: Path, where: str) -> Any:
    if not path.is_file():
        raise TaskError(f"{where}: no such Python file {str(path)!r}")
    module_name = f"optograph_task_{abs(hash(str(path.resolve())))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"{where}: cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # the file's own folder is importable, so a workflow file can import its neighbours
    folder = str(path.parent.resolve())
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() on import is a failed import too
        del sys.modules[module_name]
        raise TaskError(
            f"{where}: importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if added:
            sys.path.remove(folder)
    return module


def reference_file(reference: str, base: Path) -> Path | None:
    """The Python file a `file.py:function` reference names (relative to `base`); None for a
    `module:function` reference."""
    target = reference.rpartition(":")[0]
    return base / target if target.endswith(".py") or "/" in target else None


def resolve_reference(reference: str, base: Path, where: str) -> Any:
    """The object `reference` names. `x.py:f` is a file relative to `base` (a folder);
    `pkg.mod:f` is an importable module; the attribute may be dotted (`mod:Class.method`)."""
    target, _, attribute = reference.rpartition(":")
    if not target or not attribute:
        raise TaskError(f"{where}: expected `module:function` or `file.py:function`; got {reference!r}")
    file = reference_file(reference, base)
    if file is not None:
        module = _import_file(file, where)
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise TaskError(f"{where}: module {target!r} not found ({exc})") from None
        except (Exception, SystemExit) as exc:
            raise TaskError(
                f"{where}: importing module {target!r} failed: {type(exc).__name__}: {exc}"
            ) from None
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TaskError(f"{where}: {target!r} has no attribute {attribute!r}") from None
    return obj


def positional_capacity(fn: Callable[..., Any]) -> tuple[int, int]:
    """(required positional, maximum positional) arguments of fn; maximum -1 means *args."""
    signature = inspect.signature(fn)
    required = maximum = 0
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            maximum = -1
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if maximum != -1:
                maximum += 1
            if p.default is p.empty:
                required += 1
    return required, maximum


def check_callable(obj: Any, reference: str, where: str, positional: tuple[int, ...]) -> None:
    """obj must be callable with one of the positional-argument counts in `positional`."""
    if not callable(obj):
        raise TaskError(f"{where}: {reference!r} is {type(obj).__name__}, not a function")
    try:
        required, maximum = positional_capacity(getattr(obj, "fn", obj))
    except (TypeError, ValueError):
        return  # builtins without a signature: trust them
    if not any(required <= n and (maximum == -1 or n <= maximum) for n in positional):
        shapes = " or ".join(f"{n} argument{'s' if n != 1 else ''}" for n in positional)
        raise TaskError(
            f"{where}: {reference!r} takes {required} required positional argument(s) "
            f"(at most {'any' if maximum == -1 else maximum}); expected {shapes}"
        )


def check_keywords(fn: Callable[..., Any], names: list[str], reference: str, where: str) -> None:
    """Every required argument of the workflow must be a parameter name or `example`."""
    signature = inspect.signature(getattr(fn, "fn", fn))
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    known = set(names) | {"example", "llm"}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        if p.name not in known:
            raise TaskError(
                f"{where}: workflow {reference!r} needs an argument {p.name!r}, which is neither "
                f"a parameter of the task ({', '.join(names)}) nor `example` or `llm`"
            )
    if not accepts_any:
        missing = [n for n in names if n not in signature.parameters]
        if missing:
            raise TaskError(
                f"{where}: workflow {reference!r} does not take the parameter(s) "
                f"{', '.join(map(repr, missing))}"
            )


def load_examples(spec: DataSpec, task: Task) -> list[Any]:
    """The examples of the task's data set (a file it ships, or a generator)."""
    where = task.where("data", "file" if spec.file else "generator")
    if spec.generator is not None:
        fn = resolve_reference(spec.generator, task.folder, where)
        if not callable(fn):
            raise TaskError(f"{where}: {spec.generator!r} is {type(fn).__name__}, not a function")
        try:
            inspect.signature(fn).bind(**spec.options)
        except TypeError as exc:
            raise TaskError(f"{where}: generator {spec.generator!r} does not take the options "
                            f"{sorted(spec.options)}: {exc}") from None
        except ValueError:
            pass  # no signature to check
        try:
            examples = list(fn(**spec.options))
        except Exception as exc:
            raise TaskError(f"{where}: generator failed: {type(exc).__name__}: {exc}") from None
    else:
        assert spec.file is not None
        examples = _read_examples(task.folder / spec.file, where)
    if spec.limit is not None:
        examples = examples[: spec.limit]
    if not examples:
        raise TaskError(f"{where}: the data set is empty")
    return examples


def load_validation(spec: DataSpec, task: Task,
                    examples: list[Any]) -> tuple[list[Any], list[Any] | None]:
    """(training examples, validation examples or None) of the task's data."""
    if spec.validation_file is not None:
        where = task.where("data", "validation_file")
        held_out = _read_examples(task.folder / spec.validation_file, where)
        if not held_out:
            raise TaskError(f"{where}: the validation file holds no example")
        return examples, held_out
    if spec.validation_size is not None:
        if spec.validation_size >= len(examples):
            raise TaskError(
                f"{task.where('data', 'validation_size')}: data.validation_size "
                f"({spec.validation_size}) leaves no training example of {len(examples)}"
            )
        return examples[: -spec.validation_size], examples[-spec.validation_size:]
    return examples, None


def _read_examples(path: Path, where: str) -> list[Any]:
    if not path.exists():
        raise TaskError(f"{where}: no such data file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".yaml", ".yml", ".csv"):
        raise TaskError(f"{where}: data file {path.name!r}: expected .jsonl, .json, .yaml or .csv")
    try:
        text = read_text_file(path, what="data file")
    except TaskError as exc:
        raise TaskError(f"{where}: {exc}") from None
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except (json.JSONDecodeError, RecursionError) as exc:
                    raise TaskError(f"{path}:{number}: not valid JSON ({_reason(exc)})") from None
        return rows
    if suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise TaskError(f"{where}: data file {str(path)!r} is not valid JSON: "
                            f"{_reason(exc)}") from None
    else:
        located = parse_yaml(text, str(path))
        data = located.data if located is not None else None
    if not isinstance(data, list):
        raise TaskError(f"{where}: data file {str(path)!r}: expected a list of examples")
    return data


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"


def build_search_space(spec: SearchSpaceSpec, task: Task, parameter: str) -> SearchSpace:
    where = task.where("parameters", parameter, "search_space")
    if isinstance(spec, IntRangeSpace):
        low, high = spec.int_range
        if low > high:
            raise TaskError(f"{where}: int_range low {low} is above high {high}")
        return IntRange(low, high, spec.step)
    if isinstance(spec, FloatRangeSpace):
        flow, fhigh = spec.float_range
        if flow > fhigh:
            raise TaskError(f"{where}: float_range low {flow} is above high {fhigh}")
        return FloatRange(flow, fhigh, spec.scale)
    if isinstance(spec, ChoiceSpace):
        return Choice(tuple(spec.choice))
    assert isinstance(spec, FactorySpace)
    factory = resolve_reference(spec.factory, task.folder, where)
    try:
        space = factory(**spec.options)
    except Exception as exc:
        raise TaskError(f"{where}: {spec.factory}(...) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(space, SearchSpace):
        raise TaskError(f"{where}: {spec.factory!r} did not return a SearchSpace")
    return space
