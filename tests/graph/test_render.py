import json

import networkx as nx

import optograph as og


def summary():
    with og.Run():
        x = og.node(2, trainable=True, name="x")
        y = (x * 3) + og.node(1, name="one")
        y.backward("make it 10")
        return og.summarize([x])


def test_dot_lists_nodes_and_edges():
    dot = og.to_dot(summary())
    assert dot.startswith("digraph optograph {") and dot.rstrip().endswith("}")
    assert '"x" -> "mul"' in dot and '"mul" -> "add"' in dot
    assert "shape=box" in dot  # parameters are boxes


def test_mermaid_is_a_flowchart_with_escaped_labels():
    with og.Run():
        x = og.node('say "hi" <b>', trainable=True, name="x")
        y = x + "!"
        y.backward("fine")
        text = og.to_mermaid(og.summarize([x]))
    assert text.startswith("flowchart TD")
    assert "&quot;hi&quot;" in text and "&lt;b&gt;" in text
    assert "-->" in text


def test_json_round_trips_to_networkx():
    s = summary()
    data = json.loads(og.to_json(s))
    graph = nx.node_link_graph(data, edges="links")
    assert set(graph.nodes) == set(s.graph.nodes)
    assert set(graph.edges) == set(s.graph.edges)


def test_networkx_of_run_and_of_output():
    with og.Run() as run:
        x = og.node(1, trainable=True, name="x")
        y = x + 1
        unrelated = og.node(5, name="u")
        g_run = og.to_networkx(run)
        g_out = og.to_networkx(y)
    assert set(g_run.nodes) == {"x", "add", "u"}
    assert set(g_out.nodes) == {"x", "add"}
    assert g_out.nodes["add"]["op"] == "add" and g_out.edges["x", "add"]["arg"] == "a"
    assert unrelated.data == 5


def test_a_run_lists_its_live_nodes_in_creation_order_and_not_dropped_ones():
    with og.Run() as run:
        x = og.node(1, trainable=True, name="x")
        kept = x + 1
        dropped = kept * 2
        other_run_node = None
        with og.Run():
            other_run_node = og.node(7, name="elsewhere")
        assert [n.name for n in run.nodes()] == ["x", "add", "mul"]
        del dropped  # nothing else refers to it: it is freed at once
        assert [n.name for n in run.nodes()] == ["x", "add"]
    assert other_run_node.name == "elsewhere" and kept.data == 2


def test_svg_draws_every_node_in_layers_with_escaped_text() -> None:
    """render_svg: a standalone drawing (no Graphviz): each node a box one layer below its
    deepest input, every edge an arrow, text escaped."""
    from optograph.graph.render_svg import layers, to_svg

    with og.Run("svg"):
        a = og.node("<a & b>", trainable=True, name="a")
        b = og.node(2, name="b")
        c = a + "!"
        d = og.bundle()(lambda u, v: f"{u}{v}")(c, b)
    graph = og.to_networkx(d)
    rows = layers(graph)
    depth = {n: i for i, row in enumerate(rows) for n in row}
    assert all(depth[u] < depth[v] for u, v in graph.edges)
    svg = to_svg(graph, ident="t1")
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert svg.count("<rect ") == graph.number_of_nodes()
    assert svg.count('marker-end="url(#t1-arrow)"') == graph.number_of_edges()
    assert "&lt;a &amp; b&gt;" in svg and "<a & b>" not in svg
