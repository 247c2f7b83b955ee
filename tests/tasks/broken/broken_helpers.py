"""Functions the broken task files name (each file is wrong in exactly one way)."""

import optograph as og


@og.bundle()
def double(x):
    return x * 2


def workflow(x):
    return double(x)


def workflow_needs_y(x, y):
    return double(x)


def feedback(output):
    return float(output)


def feedback_three(output, example, extra):
    return float(output)


not_a_function = 42


def workflow_with_example(x, example):
    return double(x)
