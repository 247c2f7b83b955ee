import asyncio
import gc
import threading
import weakref

import optograph as og


def workflow(tag: str, n: int):
    x = og.node(0, trainable=True, name=f"x_{tag}")
    y = x
    for _ in range(n):
        y = y + 1
    return x, y


def test_dropped_run_frees_every_node():
    refs = []

    def run_once():
        with og.Run():
            x, y = workflow("a", 50)
            y.backward("done")
            s = og.summarize([x])
            refs.extend(weakref.ref(n) for n in y.ancestors(include_self=True))
            del s

    run_once()
    gc.collect()
    assert refs and all(r() is None for r in refs)


def test_threads_do_not_see_each_others_nodes():
    results = {}
    barrier = threading.Barrier(4)

    def worker(tag):
        barrier.wait()
        x, y = workflow(tag, 200)
        y.backward(tag)
        run_nodes = og.graph.current_run().nodes()
        s = og.summarize([x])
        results[tag] = ({n.name for n in run_nodes}, set(s.graph.nodes), x.name)

    threads = [threading.Thread(target=worker, args=(t,)) for t in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag, (run_names, graph_names, x_name) in results.items():
        assert x_name == f"x_{tag}"
        assert not any(name.startswith("x_") and name != x_name for name in run_names)
        assert len(graph_names) == 201


def test_asyncio_tasks_trace_independently():
    async def task(tag):
        with og.Run() as run:
            x = og.node(0, trainable=True, name="x")
            y = x
            for _ in range(20):
                y = y + 1
                await asyncio.sleep(0)
            y.backward(tag)
            return run, x, og.summarize([x])

    async def main():
        return await asyncio.gather(*(task(t) for t in "abc"))

    outcomes = asyncio.run(main())
    runs = [r for r, _, _ in outcomes]
    assert len({id(r) for r in runs}) == 3
    for run, x, s in outcomes:
        assert x.name == "x"  # each task has its own naming scope
        assert all(n.run is run for n in run.nodes())
        assert s.feedback_text() in "abc" and len(s.graph.nodes) == 21
