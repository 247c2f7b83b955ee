"""A code parameter fixed until its tests pass: `code` holds the source of
`strange_sort_list` (the task of Trace's code tutorial), initially wrong; the tests in
code_fix_checks.py run on every step and their failures are the feedback."""

from __future__ import annotations

import ast

import optograph as og


@og.bundle()
def solution_module(code: str) -> str:
    """Check that `code` is Python that defines strange_sort_list(lst); return it as the
    module the tests import."""
    tree = ast.parse(code)
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    if "strange_sort_list" not in names:
        raise ValueError("the code must define a function named strange_sort_list")
    return code


def workflow(code: og.Node) -> og.Node:
    return solution_module(code)
