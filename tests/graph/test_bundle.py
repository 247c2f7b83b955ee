import asyncio

import pytest

import optograph as og


@og.bundle()
def scale(value, factor=2):
    """Multiply value by factor."""
    return value * factor


def test_bundle_records_inputs_source_and_doc():
    x = og.node(3, trainable=True, name="x")
    y = scale(x, factor=og.node(4, name="k"))
    assert y.data == 12
    assert [(arg, p.name) for arg, p in y.parents] == [("value", "x"), ("factor", "k")]
    assert y.op.name == "scale"
    assert y.op.doc == "Multiply value by factor."
    assert y.op.source.startswith("def scale(value, factor=2):")


def test_plain_arguments_are_constants_not_nodes():
    x = og.node(3, trainable=True, name="x")
    y = scale(x, 10)
    assert [p for _, p in y.parents] == [x]
    assert y.constants == {"factor": 10}


def test_bare_decorator_and_methods():
    @og.bundle
    def inc(v):
        return v + 1

    class Model:
        def __init__(self, k):
            self.k = k

        @og.bundle()
        def predict(self, v):
            """Add k."""
            return v + self.k

    x = og.node(1, trainable=True)
    assert inc(x).data == 2
    out = Model(5).predict(x)
    assert out.data == 6
    assert [p for _, p in out.parents] == [x]  # self is not a graph input


def test_async_bundle():
    @og.bundle()
    async def slow_double(v):
        await asyncio.sleep(0)
        return 2 * v

    x = og.node(21, trainable=True)
    y = asyncio.run(slow_double(x))
    assert y.data == 42 and y.parents[0][1] is x


def test_var_args_and_kwargs_are_inputs():
    @og.bundle()
    def total(*values, **extra):
        return sum(values) + sum(extra.values())

    a, b, c = og.node(1), og.node(2), og.node(3)
    y = total(a, b, bonus=c)
    assert y.data == 6
    assert [arg for arg, _ in y.parents] == ["values[0]", "values[1]", "bonus"]


def test_bundle_on_non_callable_is_one_line_error():
    with pytest.raises(og.GraphError, match="needs a function; got int"):
        og.bundle(3)


def test_hidden_inputs_recorded_or_reported():
    secret = og.node(100, trainable=True, name="secret")

    @og.bundle()
    def leaky(v):
        return v + secret.data

    @og.bundle(hidden_inputs="error")
    def strict(v):
        return v + secret.data

    x = og.node(1, name="x")
    y = leaky(x)
    assert y.data == 101
    assert ("hidden:secret", secret) in y.parents
    y.backward("too large")
    assert len(secret.feedback) == 1
    with pytest.raises(og.GraphError, match="secret"):
        strict(x)


def test_nested_bundles_are_not_traced_inside():
    @og.bundle()
    def inner(v):
        return v + 1

    @og.bundle()
    def outer(v):
        return inner(v) * 2

    x = og.node(1, trainable=True)
    y = outer(x)
    assert y.data == 4
    assert [n.op.name for n in y.ancestors(include_self=True) if n.op] == ["outer"]


def test_exception_node_marks_failing_line():
    @og.bundle()
    def divide(a, b):
        """Divide a by b."""
        ratio = a / b
        return ratio

    a = og.node(1.0, trainable=True, name="a")
    with pytest.raises(og.ExecutionError) as info:
        divide(a, 0)
    node = info.value.exception_node
    assert node.data.startswith("(ZeroDivisionError)")
    marked = [line for line in node.info["source"].splitlines() if "<-- error here" in line]
    assert len(marked) == 1 and "ratio = a / b" in marked[0]
    node.backward("b must not be zero")
    assert a.feedback and a.feedback[0].output is node


def test_no_trace_returns_plain_values():
    x = og.node(3)
    with og.no_trace():
        assert scale(x) == 6
