"""The engine's work per node is bounded: backward and summarize look at each edge a fixed
number of times, so their cost grows linearly with the graph (the sort by creation order adds
the log factor). Timing targets live in benchmarks/engine_vs_trace.py; this counts the work
itself, which no machine load can disturb."""

import random

import optograph as og


class CountedInputs(tuple):
    """A node's inputs that count how often they are walked."""

    walks = [0]

    def __iter__(self):
        CountedInputs.walks[0] += 1
        return super().__iter__()


def chain(params, n, rng):
    y = params[0]
    for i in range(n):
        y = y + params[(i + 1) % len(params)]
    return y


def random_dag(params, n, rng):
    pool = list(params)
    for _ in range(n):
        a, b = rng.choice(pool[-50:]), rng.choice(pool)
        pool.append(a + b if a is not b else a * 2)
    return pool[-1]


def walks_per_node(shape, n):
    with og.Run() as run:
        params = [og.node(1.0, trainable=True, name=f"p{i}") for i in range(4)]
        out = shape(params, n, random.Random(0))
        nodes = run.nodes()
        for node in nodes:
            node.inputs = CountedInputs(node.inputs)
        CountedInputs.walks[0] = 0
        out.backward("smaller")
        summary = og.summarize(params)
        assert summary.code  # the summary was really built
        return CountedInputs.walks[0] / len(nodes)


def test_backward_and_summary_walk_each_node_a_bounded_number_of_times():
    for shape in (chain, random_dag):
        small, large = walks_per_node(shape, 500), walks_per_node(shape, 8000)
        assert large <= 6, (shape.__name__, large)
        assert large <= small * 1.1 + 0.1, (shape.__name__, small, large)  # no growth with n


def test_the_benchmarks_plain_reference_builds_the_same_graph_as_optograph():
    """benchmarks/engine_vs_trace.py prints the growth of a minimal plain-object tracer beside
    optograph's as the machine's reference: it must trace the very same graph."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "engine_vs_trace.py"
    spec = importlib.util.spec_from_file_location("engine_vs_trace", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for name, shape in bench.SHAPES.items():
        plain = bench.plain_graph(shape, 300)
        with og.Run():
            params = [og.node(1.0, trainable=True, name=f"p{i}") for i in range(4)]
            out = shape(og, params, 300, random.Random(0))
            ours = og.graph.summary.topological([out])
            assert [n._data for n in ours] == [p.value for p in plain], name
