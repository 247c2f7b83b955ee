"""Checking a suggested value against its parameter before anything is applied: the type is
kept (a list stays a list, a float a float, text that spells a value is read as that value),
a checkable constraint such as "0 <= x <= 10" must hold, and code must parse and keep its
function's name and signature."""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from optograph.graph.node import Node

from .errors import OptimizerError


class ValidationError(OptimizerError):
    """A suggested value that cannot be applied; the message names the variable and why."""


_SCALARS = (bool, int, float, str)
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_+-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
# calls a constraint may use; anything else makes the constraint descriptive (shown, not checked)
_SAFE_CALLS = {"len": len, "abs": abs, "min": min, "max": max, "sum": sum, "round": round,
               "all": all, "any": any, "sorted": sorted, "set": set}


def is_code_parameter(param: Node) -> bool:
    """Whether the parameter holds Python source: its declared type decides (`value_type`);
    a parameter with no declared type is code when it follows Trace's naming (`__code...`),
    as the code of a trainable bundle does."""
    if param.value_type is not None:
        return param.value_type == "code"
    return param.name.split(":")[0].startswith("__code")


def validate_suggestion(parameters: list[Node], suggestion: Mapping[str, Any]) -> dict[Node, Any]:
    """Every suggested value checked; the first problems found are reported together."""
    by_name = {p.name: p for p in parameters}
    unknown = [name for name in suggestion if name not in by_name]
    errors: list[str] = []
    if unknown:
        errors.append(
            f"unknown variable(s) {', '.join(map(repr, unknown))}; "
            f"the variables are {', '.join(map(repr, by_name))}"
        )
    updates: dict[Node, Any] = {}
    for name, raw in suggestion.items():
        if name in by_name:
            try:
                updates[by_name[name]] = validate_value(by_name[name], raw)
            except ValidationError as exc:
                errors.append(str(exc))
    if errors:
        raise ValidationError("; ".join(errors))
    return updates


def validate_value(param: Node, raw: Any) -> Any:
    """The value to apply for `raw`, or ValidationError naming the parameter."""
    current = param._data
    try:
        if is_code_parameter(param) and isinstance(current, str):
            value: Any = check_code(current, raw)
        else:
            value = coerce(current, raw)
    except ValueError as exc:
        raise ValidationError(f"{param.name}: {exc}") from None
    if param.constraint:
        check_constraint(param, value)
    return value


def coerce(current: Any, raw: Any) -> Any:
    """`raw` converted to the type of `current` where that is lossless, else ValueError."""
    kind = type(current)
    if isinstance(current, bool):
        return _to_bool(raw)
    if isinstance(current, int):
        return _to_int(raw)
    if isinstance(current, float):
        return _to_float(raw)
    if isinstance(current, str):
        if isinstance(raw, str):
            return raw
        if isinstance(raw, (int, float)):
            return str(raw)
        raise ValueError(f"expected text (str); got {type(raw).__name__} {_short(raw)}")
    if isinstance(current, (list, tuple)):
        items = _literal(raw, (list, tuple), "a list")
        return kind(_coerce_items(current, list(items)))
    if isinstance(current, dict):
        return dict(_literal(raw, (dict,), "a dict"))
    if current is None or isinstance(raw, kind):
        return raw
    if isinstance(raw, str):
        parsed = _parse_literal(raw)
        if isinstance(parsed, kind):
            return parsed
    raise ValueError(f"expected {kind.__name__}; got {type(raw).__name__} {_short(raw)}")


def _coerce_items(current: list[Any] | tuple[Any, ...], items: list[Any]) -> list[Any]:
    """Items keep the element type when the current items all share one scalar type."""
    types = {type(item) for item in current}
    if len(types) != 1 or next(iter(types)) not in _SCALARS:
        return items
    (sample,) = (current[0],)
    out = []
    for i, item in enumerate(items):
        try:
            out.append(coerce(sample, item))
        except ValueError as exc:
            raise ValueError(f"item {i}: {exc}") from None
    return out


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ValueError(f"expected true or false (bool); got {_short(raw)}")


def _to_int(raw: Any) -> int:
    number = raw
    if isinstance(raw, str):
        try:
            number = float(raw.strip()) if raw.strip() else raw
        except ValueError:
            number = raw
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ValueError(f"expected an integer (int); got {type(raw).__name__} {_short(raw)}")
    if not math.isfinite(number) or int(number) != number:
        raise ValueError(f"expected an integer (int); got {_short(raw)}")
    return int(number)


def _to_float(raw: Any) -> float:
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number (float); got {_short(raw)}") from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"expected a number (float); got {type(raw).__name__} {_short(raw)}")
    return float(raw)


def _literal(raw: Any, kinds: tuple[type, ...], what: str) -> Any:
    value = _parse_literal(raw) if isinstance(raw, str) else raw
    if not isinstance(value, kinds):
        raise ValueError(f"expected {what}; got {type(raw).__name__} {_short(raw)}")
    return value


def _parse_literal(text: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


# -- code -------------------------------------------------------------------------------
def check_code(current: str, raw: Any) -> str:
    """New source for a function: it must parse and define the same function name with the
    same signature as the current source."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"expected the source of a function (code); got {_short(raw)}")
    fenced = _FENCE.match(raw)
    source = fenced.group(1) if fenced else raw
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ValueError(f"the code does not parse: line {exc.lineno}: {exc.msg}") from None
    expected = _first_function(ast.parse(current))
    if expected is None:  # the current value is not a function: only parsing is required
        return source
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    same_name = [n for n in found if n.name == expected.name]
    if not same_name:
        names = ", ".join(n.name for n in found) or "none"
        raise ValueError(
            f"the code must define the function {expected.name!r} (found: {names})"
        )
    if _signature(same_name[0]) != _signature(expected):
        raise ValueError(
            f"the signature must stay {expected.name}({_signature(expected)}); "
            f"got {expected.name}({_signature(same_name[0])})"
        )
    return source if source.endswith("\n") else source + "\n"


def _first_function(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for item in tree.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return item
    return None


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    args = fn.args
    parts = [a.arg for a in args.posonlyargs]
    if args.posonlyargs:
        parts.append("/")
    parts += [a.arg for a in args.args]
    if args.vararg:
        parts.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        parts.append("*")
    parts += [a.arg for a in args.kwonlyargs]
    if args.kwarg:
        parts.append("**" + args.kwarg.arg)
    return ", ".join(parts)


# -- constraints --------------------------------------------------------------------------
def check_constraint(param: Node, value: Any) -> None:
    """Check a constraint written as a Python expression over the parameter's name (or `x`
    / `value`), e.g. "0 <= x <= 10", "len(x) == 3", "x in ('a', 'b')". Text that is not such
    an expression is a description for the model and is not checked."""
    expression = constraint_expression(param)
    if expression is None:
        return
    names = {param.name.split(":")[0], "x", "value"}
    try:
        holds = _evaluate(expression, dict.fromkeys(names, value))
    except Exception as exc:  # the value has the wrong shape for the constraint
        raise ValidationError(
            f"{param.name}: cannot check the constraint {param.constraint!r} on "
            f"{_short(value)} ({type(exc).__name__}: {exc})"
        ) from None
    if not holds:
        raise ValidationError(
            f"{param.name}: {_short(value)} violates the constraint {param.constraint!r}"
        )


def constraint_expression(param: Node) -> ast.Expression | None:
    """The parsed constraint if it is a checkable expression over the parameter, else None."""
    text = (param.constraint or "").strip()
    if not text:
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    allowed_names = {param.name.split(":")[0], "x", "value", *_SAFE_CALLS, "True", "False", "None"}
    bound = {  # names a comprehension introduces, as in "all(v > 0 for v in x)"
        t.id for c in ast.walk(tree) if isinstance(c, ast.comprehension)
        for t in ast.walk(c.target) if isinstance(t, ast.Name)
    }
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - bound
    subject = used & {param.name.split(":")[0], "x", "value"}
    if not subject or not used <= allowed_names:
        return None
    for n in ast.walk(tree):
        if isinstance(n, (ast.Attribute, ast.Lambda, ast.NamedExpr, ast.Starred, ast.Await,
                          ast.Yield, ast.YieldFrom)):
            return None
    if not isinstance(tree.body, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Call)):
        return None
    return tree


def _evaluate(tree: ast.Expression, names: dict[str, Any]) -> bool:
    code = compile(tree, "<constraint>", "eval")
    return bool(eval(code, {"__builtins__": {}, **_SAFE_CALLS}, names))  # noqa: S307


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
