"""trace_langgraph: recorded graphs of straight, branching, looping and failing runs; parameters
through the run context; injected arguments; concurrency; checkpoints; bad input."""

from __future__ import annotations

import asyncio
import operator
import re
import threading
from dataclasses import dataclass
from typing import Annotated, Literal, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore
from langgraph.types import StreamWriter
from pydantic import BaseModel

import optograph as og
from optograph.graph.langgraph import last_trace, parameter_route, trace_langgraph


class State(TypedDict, total=False):
    text: str
    log: Annotated[list[str], operator.add]
    count: int


@dataclass
class Ctx:
    prefix: str = ">"
    suffix: str = "<"
    limit: int = 3


def add_prefix(state: State, runtime: Runtime[Ctx]) -> dict:
    return {"text": runtime.context.prefix + state["text"], "log": ["prefix"]}


def add_suffix(state: State, runtime: Runtime[Ctx]) -> dict:
    return {"text": state["text"] + runtime.context.suffix, "log": ["suffix"]}


def straight_builder() -> StateGraph:
    b = StateGraph(State, context_schema=Ctx)
    b.add_node("add_prefix", add_prefix)
    b.add_node("add_suffix", add_suffix)
    b.add_edge(START, "add_prefix")
    b.add_edge("add_prefix", "add_suffix")
    b.add_edge("add_suffix", END)
    return b


def params(**values):
    return {k: og.node(v, trainable=True, name=k) for k, v in values.items()}


# -- straight --------------------------------------------------------------------------------


def test_straight_run_records_each_node_its_state_and_the_edges():
    p = params(prefix="<<", suffix=">>")
    traced = trace_langgraph(straight_builder(), p)
    record = traced.trace({"text": "hi", "log": []})
    assert record.value == {"text": "<<hi>>", "log": ["prefix", "suffix"]}
    assert record.executed == ["add_prefix", "add_suffix"]
    assert [(e.source, e.target) for e in record.edges] == [
        ("__start__", "add_prefix"),
        ("add_prefix", "add_suffix"),
        ("add_suffix", "__end__"),
    ]
    first, second = record.steps
    assert first.state.data == {"text": "hi", "log": []}
    assert first.output.data == {"text": "<<hi", "log": ["prefix"]}
    # the second node's state comes from the first node's update
    assert ("text", first.output) in second.state.parents
    assert second.parameters_read == ["suffix"]
    assert record.output.data == record.value
    # the untraced graph gives the same result
    plain = straight_builder().compile().invoke({"text": "hi", "log": []}, context=Ctx("<<", ">>"))
    assert plain == record.value


def test_feedback_reaches_only_the_parameters_the_output_depends_on():
    with og.Run():
        p = params(prefix="<", suffix=">", limit=3)
        traced = trace_langgraph(straight_builder(), p, check_usage=False)
        record = traced.trace({"text": "x"})
    record.steps[0].output.backward("prefix step feedback")
    assert p["prefix"].feedback and not p["suffix"].feedback and not p["limit"].feedback
    record.output.backward("final")
    assert [f.text() for f in p["suffix"].feedback] == ["final"]
    summary = og.summarize([p["prefix"], p["suffix"]])
    assert any(
        line.startswith("add_suffix = add_suffix(") and "suffix=suffix" in line
        for line in summary.code
    )


def test_invoke_returns_what_the_compiled_graph_returns_and_keeps_the_record():
    traced = trace_langgraph(straight_builder().compile(), params(prefix="[", suffix="]"))
    assert traced.invoke({"text": "a"}) == {"text": "[a]", "log": ["prefix", "suffix"]}
    assert last_trace() is not None and last_trace().value["text"] == "[a]"
    chunks = list(traced.stream({"text": "b"}, stream_mode="updates"))
    assert [list(c) for c in chunks] == [["add_prefix"], ["add_suffix"]]
    assert last_trace().output.data == {"text": "[b]", "log": ["prefix", "suffix"]}
    assert asyncio.run(traced.ainvoke({"text": "c"}))["text"] == "[c]"


def test_parameter_value_changes_reach_the_next_run():
    p = params(prefix="1", suffix="")
    traced = trace_langgraph(straight_builder(), p)
    assert traced.invoke({"text": "x"})["text"] == "1x"
    p["prefix"].set("2")
    assert traced.invoke({"text": "x"})["text"] == "2x"


# -- branching and loops -----------------------------------------------------------------------


def branching_builder(literal: bool) -> StateGraph:
    def classify(state: State) -> dict:
        return {"count": len(state["text"])}

    def short(state: State) -> dict:
        return {"log": ["short"]}

    def long(state: State) -> dict:
        return {"log": ["long"]}

    def route_typed(state: State) -> Literal["short", "long"]:
        return "short" if state["count"] < 4 else "long"

    def route_untyped(state):
        return "short" if state["count"] < 4 else "long"

    b = StateGraph(State)
    b.add_node("classify", classify)
    b.add_node("short", short)
    b.add_node("long", long)
    b.add_edge(START, "classify")
    b.add_conditional_edges("classify", route_typed if literal else route_untyped)
    b.add_edge("short", END)
    b.add_edge("long", END)
    return b


@pytest.mark.parametrize("literal", [True, False])
def test_branching_records_the_route_taken(literal):
    traced = trace_langgraph(branching_builder(literal))
    record = traced.trace({"text": "a long text"})
    assert record.executed == ["classify", "long"]
    route = record.routes[0]
    assert route.source == "classify" and route.destinations == ("long",)
    assert route.decision.data == "long"
    taken = [(e.source, e.target, e.via) for e in record.edges]
    assert ("classify", "long", route.router) in taken
    assert all(t != "short" for _, t, _ in taken)
    # the rendering keeps the branch not taken, drawn dashed
    mermaid = traced.to_mermaid(record)
    structure = traced.structure(record)
    assert structure.edges["classify", "long"]["taken"] == 1
    assert structure.nodes["short"]["runs"] == 0
    if literal:
        assert structure.edges["classify", "short"]["taken"] == 0
        assert "-.->" in mermaid


def test_loop_is_recorded_as_repeated_steps():
    def bump(state: State, runtime: Runtime[Ctx]) -> dict:
        return {"count": state.get("count", 0) + 1}

    def again(state: State, runtime: Runtime[Ctx]) -> str:
        return "bump" if state["count"] < runtime.context.limit else END

    b = StateGraph(State, context_schema=Ctx)
    b.add_node("bump", bump)
    b.add_edge(START, "bump")
    b.add_conditional_edges("bump", again, ["bump", END])
    p = params(limit=3)
    record = trace_langgraph(b, p).trace({"count": 0})
    assert record.value["count"] == 3
    assert [s.output.name for s in record.steps] == ["bump", "bump:1", "bump:2"]
    assert [e.target for e in record.edges] == ["bump", "bump", "bump", "__end__"]
    # each loop step depends on the previous one and on the decision that sent it back
    assert ("count", record.steps[0].output) in record.steps[1].state.parents
    assert ("route", record.routes[0].decision) in record.steps[1].state.parents
    record.output.backward("too many loops")
    assert p["limit"].feedback  # the router read it, and the result depends on the route


# -- failures -----------------------------------------------------------------------------------


def failing_builder() -> StateGraph:
    def good(state: State) -> dict:
        return {"count": 1}

    def bad(state: State) -> dict:
        value = state["count"]
        return {"count": value / 0}

    b = StateGraph(State)
    b.add_node("good", good)
    b.add_node("bad", bad)
    b.add_edge(START, "good")
    b.add_edge("good", "bad")
    return b


def test_failing_node_becomes_an_exception_node_with_its_source():
    traced = trace_langgraph(failing_builder())
    with pytest.raises(og.ExecutionError) as info:
        traced.trace({})
    node = info.value.exception_node
    assert node.kind == "exception" and "ZeroDivisionError" in node.data
    marked = [line for line in node.info["source"].splitlines() if "<-- error here" in line]
    assert len(marked) == 1 and "value / 0" in marked[0]
    assert last_trace().exception is node
    assert [p.name for _, p in node.parents][:1] == ["bad_state"]
    # invoke keeps LangGraph's behaviour: the original exception
    with pytest.raises(ZeroDivisionError):
        traced.invoke({})


# -- parameters through the context ------------------------------------------------------------


def test_graph_without_context_schema_gets_a_parameter_mapping():
    def greet(state: State, runtime: Runtime) -> dict:
        return {"text": runtime.context["greeting"] + " " + runtime.context.name}

    b = StateGraph(State)
    b.add_node("greet", greet)
    b.add_edge(START, "greet")
    traced = trace_langgraph(b, {"greeting": "hello"})  # plain values become parameters
    record = traced.trace({}, context={"name": "ann"})
    assert record.value["text"] == "hello ann"
    assert record.steps[0].parameters_read == ["greeting"]
    assert traced.parameters[0].trainable and traced.parameters[0].name == "greeting"


def test_pydantic_and_typeddict_context_schemas():
    class Model(BaseModel):
        word: str = "a"
        other: int = 0

    class Dict(TypedDict):
        word: str

    def use_attr(state: State, runtime: Runtime[Model]) -> dict:
        return {"text": runtime.context.word}

    def use_item(state: State, runtime: Runtime[Dict]) -> dict:
        return {"text": runtime.context["word"]}

    for schema, fn in ((Model, use_attr), (Dict, use_item)):
        b = StateGraph(State, context_schema=schema)
        b.add_node("n", fn)
        b.add_edge(START, "n")
        record = trace_langgraph(b, params(word="zz")).trace(
            {}, context={"other": 5} if schema is Model else None
        )
        assert record.value["text"] == "zz"
        assert record.steps[0].parameters_read == ["word"]


def test_injected_arguments_still_work_when_traced():
    seen = {}

    def node(
        state: State, config: RunnableConfig, runtime: Runtime[Ctx], *, store, writer: StreamWriter
    ) -> dict:
        seen["thread"] = config["configurable"]["thread_id"]
        store.put(("ns",), "k", {"v": runtime.context.prefix})
        writer({"custom": "event"})
        return {"text": store.get(("ns",), "k").value["v"]}

    b = StateGraph(State, context_schema=Ctx)
    b.add_node("node", node)
    b.add_edge(START, "node")
    traced = trace_langgraph(
        b, params(prefix="P"), checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config = {"configurable": {"thread_id": "t1"}}
    chunks = list(traced.stream({"text": ""}, config, stream_mode=["custom", "values"]))
    assert ("custom", {"custom": "event"}) in chunks
    assert seen["thread"] == "t1"
    assert traced.get_state(config).values["text"] == "P"
    assert last_trace().steps[0].parameters_read == ["prefix"]


def test_chat_model_calls_are_operations_of_their_own():
    model = FakeListChatModel(responses=["four"])

    def answer(state: State, runtime: Runtime[Ctx]) -> dict:
        reply = model.invoke([SystemMessage(runtime.context.prefix), HumanMessage(state["text"])])
        return {"text": reply.content}

    b = StateGraph(State, context_schema=Ctx)
    b.add_node("answer", answer)
    b.add_edge(START, "answer")
    p = params(prefix="Answer in words.")
    record = trace_langgraph(b, p).trace({"text": "2+2?"})
    (chat,) = record.steps[0].chats
    assert chat.data == "four" and chat.op.name == "chat_model"
    assert chat.constants["messages"] == ["system: Answer in words.", "human: 2+2?"]
    assert ("prefix", p["prefix"]) in chat.parents
    assert ("llm", chat) in record.steps[0].output.parents


def test_parameter_route_chooses_structure_and_shows_it():
    def bm25(state: State) -> dict:
        return {"log": ["bm25"]}

    def dense(state: State) -> dict:
        return {"log": ["dense"]}

    b = StateGraph(State)
    b.add_node("bm25", bm25)
    b.add_node("dense", dense)
    b.add_conditional_edges(START, parameter_route("retriever"), {"bm25": "bm25", "dense": "dense"})
    b.add_edge("bm25", END)
    b.add_edge("dense", END)
    with og.Run():
        choice = og.node(
            "bm25", trainable=True, name="retriever", search_space=og.Choice(("bm25", "dense"))
        )
        traced = trace_langgraph(b, {"retriever": choice})
        first = traced.trace({"log": []})
        assert first.value["log"] == ["bm25"]
        choice.set("dense")
        second = traced.trace({"log": []})
    assert second.value["log"] == ["dense"]
    second.output.backward("dense was slower")
    summary = og.summarize([choice])
    assert "'bm25' -> bm25, 'dense' -> dense" in summary.documentation["choose_retriever"]
    pattern = re.compile(
        r"route_start:1 = choose_retriever\(input=graph_input:1, retriever=retriever\)"
    )
    assert any(pattern.fullmatch(line) for line in summary.code), summary.code
    structure = traced.structure(second)
    assert structure.edges["__start__", "dense"]["chosen_by"] == "retriever='dense'"
    assert structure.edges["__start__", "bm25"]["taken"] == 0
    assert "retriever='dense'" in traced.to_mermaid(second)


def test_node_code_as_a_parameter():
    traced = trace_langgraph(
        straight_builder(),
        params(prefix="a", suffix="b"),
        code=["add_suffix"],
        code_sandbox="inline",
    )
    code = traced.code_parameters["add_suffix"]
    assert code.trainable and "def add_suffix" in code.data
    code.set(
        code.data.replace('state["text"] + runtime.context.suffix', "runtime.context.suffix * 2")
    )
    record = traced.trace({"text": "x"})
    assert record.value["text"] == "bb"
    assert ("__code", code) in record.steps[1].output.parents
    code.set("def add_suffix(state, runtime):\n    return {'text': 1 / 0}\n")
    with pytest.raises(og.ExecutionError) as info:
        traced.trace({"text": "x"})
    assert "1 / 0}  <-- error here" in info.value.exception_node.info["source"]


# -- concurrency and checkpoints ---------------------------------------------------------------


def test_two_concurrent_runs_do_not_mix():
    barrier = threading.Barrier(2, timeout=10)

    def slow(state: State, runtime: Runtime[Ctx]) -> dict:
        barrier.wait()
        return {"text": state["text"] + runtime.context.prefix}

    b = StateGraph(State, context_schema=Ctx)
    b.add_node("slow", slow)
    b.add_edge(START, "slow")
    traced = trace_langgraph(b, params(prefix="!"))
    records = {}

    def worker(tag: str) -> None:
        with og.Run(tag):
            records[tag] = traced.trace({"text": tag})

    threads = [threading.Thread(target=worker, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag in ("a", "b"):
        (step,) = records[tag].steps
        assert step.state.data["text"] == tag
        assert records[tag].value["text"] == tag + "!"
        assert records[tag].output.data["text"] == tag + "!"

    async def both():
        return await asyncio.gather(traced.atrace({"text": "x"}), traced.atrace({"text": "y"}))

    barrier.reset()
    x, y = asyncio.run(both())
    assert [s.state.data["text"] for s in x.steps] == ["x"]
    assert [s.state.data["text"] for s in y.steps] == ["y"]


def test_checkpointed_traced_graph_resumes():
    p = params(prefix="<", suffix=">")
    traced = trace_langgraph(
        straight_builder(), p, checkpointer=InMemorySaver(), interrupt_before=["add_suffix"]
    )
    config = {"configurable": {"thread_id": "resume"}}
    first = traced.trace({"text": "r"}, config)
    assert first.executed == ["add_prefix"]
    assert traced.get_state(config).next == ("add_suffix",)
    second = traced.trace(None, config)
    assert second.executed == ["add_suffix"]
    assert second.value == {"text": "<r>", "log": ["prefix", "suffix"]}
    restored = [p for _, p in second.steps[0].state.parents]
    assert any(n.name.startswith("restored_text") and n.data == "<r" for n in restored)


# -- bad input ----------------------------------------------------------------------------------


def test_builder_that_does_not_compile():
    b = StateGraph(State)
    b.add_node("a", lambda s: {})
    b.add_edge(START, "a")
    b.add_edge("a", "missing")
    with pytest.raises(og.GraphError, match="does not compile: .*missing") as info:
        trace_langgraph(b)
    assert "\n" not in str(info.value)
    with pytest.raises(og.GraphError, match="needs a StateGraph"):
        trace_langgraph(object())


def test_parameter_no_node_uses():
    with pytest.raises(og.GraphError, match="parameter 'limit' is not used by any node") as info:
        trace_langgraph(straight_builder(), params(prefix="a", suffix="b", limit=2))
    assert "\n" not in str(info.value)


def test_context_schema_conflicts_with_parameters():
    with pytest.raises(
        og.GraphError, match="parameter 'tone' is not a field of the context schema Ctx"
    ):
        trace_langgraph(straight_builder(), params(prefix="a", tone="x"))
    with pytest.raises(og.GraphError, match="parameter 'limit' holds str .* limit: int"):
        trace_langgraph(straight_builder(), params(limit="three"), check_usage=False)
    with pytest.raises(og.GraphError, match="code parameter for graph node 'nope'"):
        trace_langgraph(straight_builder(), code={"nope": og.node("x", trainable=True)})


def test_no_trace_runs_without_recording():
    traced = trace_langgraph(straight_builder(), params(prefix="-", suffix="-"))
    with og.no_trace():
        assert traced.invoke({"text": "q"})["text"] == "-q-"
        with pytest.raises(og.GraphError):
            traced.trace({"text": "q"})


def test_async_nodes_and_async_chat_calls_are_recorded():
    model = FakeListChatModel(responses=["pong"])

    async def answer(state: State, runtime: Runtime[Ctx]) -> dict:
        reply = await model.ainvoke([HumanMessage(runtime.context.prefix + state["text"])])
        return {"text": reply.content}

    b = StateGraph(State, context_schema=Ctx)
    b.add_node("answer", answer)
    b.add_edge(START, "answer")
    p = params(prefix="ping: ")
    record = asyncio.run(trace_langgraph(b, p).atrace({"text": "x"}))
    (step,) = record.steps
    assert record.value["text"] == "pong"
    assert step.parameters_read == ["prefix"]
    assert [c.data for c in step.chats] == ["pong"]
    assert step.chats[0].constants["messages"] == ["human: ping: x"]


def test_boolean_parameter_decides_whether_a_node_runs():
    def draft(state: State) -> dict:
        return {"text": "draft"}

    def self_check(state: State) -> dict:
        return {"text": state["text"] + " (checked)"}

    b = StateGraph(State)
    b.add_node("draft", draft)
    b.add_node("self_check", self_check)
    b.add_edge(START, "draft")
    b.add_conditional_edges("draft", parameter_route("use_check"), {True: "self_check", False: END})
    b.add_edge("self_check", END)
    flag = og.node(False, trainable=True, name="use_check", search_space=og.Choice((True, False)))
    traced = trace_langgraph(b, {"use_check": flag})
    without = traced.trace({})
    assert without.executed == ["draft"] and without.value["text"] == "draft"
    assert ("draft", "__end__") in [(e.source, e.target) for e in without.edges]
    flag.set(True)
    with_check = traced.trace({})
    assert with_check.executed == ["draft", "self_check"]
    assert with_check.routes[0].choices == (True,) and with_check.routes[0].destinations == (
        "self_check",
    )
    structure = traced.structure(with_check)
    assert structure.edges["draft", "self_check"]["chosen_by"] == "use_check=True"
    assert structure.edges["draft", "__end__"]["taken"] == 0


def test_graph_run_inside_a_traced_node_does_not_record_into_the_outer_run():
    model = FakeListChatModel(responses=["inner reply"])

    def inner_node(state: State) -> dict:
        return {"text": model.invoke([HumanMessage("hi")]).content}

    inner_builder = StateGraph(State)
    inner_builder.add_node("inner_node", inner_node)
    inner_builder.add_edge(START, "inner_node")
    inner = trace_langgraph(inner_builder)

    def outer_node(state: State) -> dict:
        return {"text": inner.invoke({"text": ""})["text"]}

    outer_builder = StateGraph(State)
    outer_builder.add_node("outer_node", outer_node)
    outer_builder.add_edge(START, "outer_node")
    record = trace_langgraph(outer_builder).trace({"text": ""})
    assert record.value["text"] == "inner reply"
    assert record.executed == ["outer_node"]
    # the inner graph ran untraced (tracing is off inside a traced node), so the chat call
    # belongs to the outer node
    assert [c.data for c in record.steps[0].chats] == ["inner reply"]
