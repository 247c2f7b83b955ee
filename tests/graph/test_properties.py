"""Property-based checks on random workflows."""

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

import optograph as og


@st.composite
def random_workflow(draw):
    n_params = draw(st.integers(1, 4))
    n_inputs = draw(st.integers(0, 3))
    n_ops = draw(st.integers(1, 25))
    edges = []
    for i in range(n_ops):
        available = n_params + n_inputs + i
        k = draw(st.integers(1, min(3, available)))
        edges.append(draw(st.lists(st.integers(0, available - 1), min_size=k, max_size=k)))
    outputs = draw(st.lists(st.integers(0, n_ops - 1), min_size=1, max_size=3, unique=True))
    chosen = draw(st.lists(st.integers(0, n_params - 1), min_size=1, max_size=n_params, unique=True))
    return n_params, n_inputs, edges, outputs, chosen


@settings(max_examples=60, deadline=None)
@given(random_workflow())
def test_summary_subgraph_is_ancestor_descendant_intersection(spec):
    n_params, n_inputs, edges, output_ids, chosen = spec
    with og.Run():
        nodes = [og.node(1, trainable=True, name=f"p{i}") for i in range(n_params)]
        nodes += [og.node(1, name=f"i{i}") for i in range(n_inputs)]

        @og.bundle()
        def combine(*values):
            return sum(values)

        for parents in edges:
            nodes.append(combine(*[nodes[j] for j in parents]))
        outputs = [nodes[n_params + n_inputs + k] for k in output_ids]
        for out in outputs:
            out.backward("feedback")
        params = [nodes[i] for i in chosen]
        summary = og.summarize(params)
        full = og.to_networkx(outputs)

    ancestors = set()
    for out in outputs:
        ancestors |= nx.ancestors(full, out.name) | {out.name}
    descendants = set()
    for p in params:
        if p.name in full:
            descendants |= nx.descendants(full, p.name) | {p.name}
    expected = ancestors & descendants
    reached = [p for p in params if p.feedback]
    shown = {line.split(" = ")[0] for line in summary.code}
    assert shown == {n for n in expected if full.nodes[n]["op"] is not None}
    assert expected <= set(summary.graph.nodes)
    assert set(summary.variables) == {p.name for p in params}
    assert all(p.name in expected for p in reached)
    # the summary's code is in a valid topological order
    order = [line.split(" = ")[0] for line in summary.code]
    for a, b in full.edges:
        if a in order and b in order:
            assert order.index(a) < order.index(b)
