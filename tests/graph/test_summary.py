import optograph as og


def build():
    x = og.node(2.0, trainable=True, name="x", description="the input", constraint="0 <= x <= 10")
    c = og.node(3.0, name="c")

    @og.bundle()
    def f(a, b):
        """Multiply a and b."""
        return a * b

    y = f(x, c)
    z = y + 1
    side = c * 10  # does not depend on x
    return x, c, y, z, side


def test_summary_sections():
    with og.Run():
        x, c, y, z, side = build()
        z.backward("z should be 10")
        s = og.summarize([x])
    assert s.code == ["f = f(a=x, b=c)", "add = add(a=f, b=1)"]
    assert s.documentation["f"] == "Multiply a and b."
    assert s.variables["x"].value == 2.0 and s.variables["x"].type == "float"
    assert s.variables["x"].constraint == "0 <= x <= 10"
    assert s.inputs == {"c": "3.0"}
    assert s.others == {"f": "6.0"}
    assert s.outputs == {"add": "7.0"}
    assert s.feedback == [("add", "z should be 10")]
    assert s.feedback_text() == "z should be 10"
    assert set(s.graph.nodes) == {"x", "c", "f", "add"}  # `side` is not in the subgraph
    assert s.graph.nodes["f"]["kind"] == "operation"


def test_summary_of_several_outputs_and_minibatch():
    with og.Run():
        x = og.node(1, trainable=True, name="x")
        outs = [x + i for i in range(3)]
        for i, out in enumerate(outs):
            out.backward(f"item {i} wrong")
        s = og.summarize([x])
    assert len(s.outputs) == 3
    assert [text for _, text in s.feedback] == ["item 0 wrong", "item 1 wrong", "item 2 wrong"]


def test_size_controls_truncate_and_cap():
    with og.Run():
        x = og.node("a" * 1000, trainable=True, name="x")
        y = x
        for _ in range(50):
            y = y + "b"
        y.backward("too long")
        s = og.summarize([x], max_nodes=10, max_chars=40)
    assert s.omitted_nodes == 40
    assert len([line for line in s.code if not line.startswith("#")]) == 10
    assert any("40 operations omitted" in line for line in s.code)
    assert all(len(v) <= 40 and v.endswith("...(truncated)") for v in s.outputs.values())


def test_exception_source_is_in_summary():
    with og.Run():
        x = og.node(0, trainable=True, name="x")

        @og.bundle()
        def inverse(v):
            return 1 / v

        try:
            inverse(x)
        except og.ExecutionError as err:
            err.exception_node.backward("x must not be 0")
        s = og.summarize([x])
    (name, source), = s.errors.items()
    assert name.startswith("exception_inverse")
    assert "<-- error here" in source


def test_summarize_rejects_non_parameters():
    import pytest

    with pytest.raises(og.GraphError):
        og.summarize([og.node(1)])


def test_graph_spanning_runs_is_summarized_in_dependency_order():
    # the later run numbers its nodes from 0 again, so creation numbers alone would put
    # `b` (number 0 of its run) before `a` (number 11 of the first run)
    with og.Run():
        for _ in range(10):
            og.node(0)
        x = og.node(1.0, trainable=True, name="x")
        a = x * 2
    with og.Run():
        b = a + 1
        c = b - x
    c.backward("smaller")
    s = og.summarize([x])
    assert s.code == ["mul = mul(a=x, b=2)", "add = add(a=mul, b=1)", "sub = sub(a=add, b=x)"]


def test_code_lines_of_operators_show_inputs_and_constants():
    with og.Run():
        x = og.node(1, trainable=True, name="x")
        y = og.node(2, name="y")
        for out in (x + y, x + 1, 1 + x, x * "long"):
            out.backward("check")
        s = og.summarize([x])
        cut = og.summarize([x], max_chars=3)
    # node inputs first, then the constants of the call
    assert s.code == [
        "add = add(a=x, b=y)", "add:1 = add(a=x, b=1)", "add:2 = add(b=x, a=1)",
        "mul = mul(a=x, b='long')",
    ]
    assert cut.code[3] == "mul = mul(a=x, b=...(truncated))"


def test_a_parameter_of_another_run_is_not_mistaken_for_a_node_with_its_number():
    with og.Run():
        other = og.node(0.0, trainable=True, name="other")  # number 0 in its run
    with og.Run():
        c = og.node(5.0, name="c")  # number 0 in this run: an input, not a parameter
        x = og.node(2.0, trainable=True, name="x")
        y = c * x
        y.backward("smaller")
        s = og.summarize([x, other])
    assert [n.name for n in og.minimal_subgraph([x, other], [y])] == ["x", "mul"]
    assert "c" in s.inputs and "c" not in s.others
    assert s.code == ["mul = mul(a=c, b=x)"]
