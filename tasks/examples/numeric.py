"""The numeric problem of Trace's tutorial: an opaque function of x, and feedback that only
says "larger" until the output reaches 50. The optimizer sees the code of foo and the
docstring of bar (whose body is hidden from it behind `blackbox`)."""

from __future__ import annotations

import optograph as og


def blackbox(x: float) -> float:
    return -x * 2


@og.bundle()
def bar(x: float) -> float:
    """This is a test function, which does negative scaling."""
    return blackbox(x)


def foo(x: og.Node) -> og.Node:
    y = x + 1
    return x * y


def foobar(x: og.Node) -> og.Node:
    """The workflow: foo(bar(x)), a composition of a bundled op and traced operators."""
    return foo(bar(x))


def user_feedback(output: float) -> tuple[float, str]:
    """The score is the output itself (higher is better; 50 is the goal)."""
    if output < 50:
        return output, "The number needs to be larger."
    return output, "Success."
