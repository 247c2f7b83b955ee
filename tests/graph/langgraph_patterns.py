"""LangGraph graphs built the way LangGraph's documentation and test suite build them, for the
conformance suite (test_langgraph_conformance.py). Each pattern: a builder (or a compiled
graph), its input, and whether it needs a checkpointer / a resume."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.managed import RemainingSteps
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, Send, interrupt


class ToolChat(BaseChatModel):
    """A chat model that replies by the number of tool results so far: reply i after i tool
    messages. It records which method ran (`_generate` or `_agenerate`)."""

    replies: list[Any]
    methods: list[str] = []

    def __init__(self, replies: list[Any], **kw: Any) -> None:
        super().__init__(replies=replies, methods=[], **kw)

    @property
    def _llm_type(self) -> str:
        return "tool-chat"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolChat:  # type: ignore[override]
        return self

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        done = sum(1 for m in messages if isinstance(m, ToolMessage))
        reply = self.replies[min(done, len(self.replies) - 1)]
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=str(reply))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.methods.append("_generate")
        return self._reply(messages)

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.methods.append("_agenerate")
        return self._reply(messages)


def _call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@dataclass
class Pattern:
    name: str
    build: Callable[[], Any]  # a StateGraph builder or a compiled graph
    input: Any
    checkpointer: bool = False
    resume: Any = None  # Command(resume=...) for a second run on the same thread
    model: ToolChat | None = None
    recursion_limit: int | None = None
    async_only: bool = False
    warning: str | None = None  # the one warning trace_langgraph gives (a known limit)
    extra: dict[str, Any] = field(default_factory=dict)


# -- ReAct ---------------------------------------------------------------------------------
def react_prebuilt() -> Pattern:
    from langgraph.prebuilt import create_react_agent

    model = ToolChat([_call("add", {"a": 2, "b": 3}, "call_1"), "2 + 3 = 5"])
    return Pattern(
        "react_prebuilt",
        lambda: create_react_agent(model, [add]),
        {"messages": [("user", "what is 2 + 3?")]},
        model=model,
    )


def react_handwritten() -> Pattern:
    model = ToolChat([_call("add", {"a": 1, "b": 1}, "call_a"), "it is 2"])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def build() -> StateGraph:
        b = StateGraph(MessagesState)
        b.add_node("agent", agent)
        b.add_node("tools", ToolNode([add]))
        b.add_edge(START, "agent")
        b.add_conditional_edges("agent", tools_condition)
        b.add_edge("tools", "agent")
        return b

    return Pattern("react_handwritten", build, {"messages": [("user", "1 + 1?")]}, model=model)


class ToolState(MessagesState):
    user: str


@tool
def set_user(name: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Remember the user's name."""
    return Command(
        update={"user": name, "messages": [ToolMessage("saved", tool_call_id=tool_call_id)]}
    )


def tool_command() -> Pattern:
    model = ToolChat([_call("set_user", {"name": "ada"}, "call_u"), "hello ada"])

    def agent(state: ToolState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def build() -> StateGraph:
        b = StateGraph(ToolState)
        b.add_node("agent", agent)
        b.add_node("tools", ToolNode([set_user]))
        b.add_edge(START, "agent")
        b.add_conditional_edges("agent", tools_condition)
        b.add_edge("tools", "agent")
        return b

    return Pattern("tool_command", build, {"messages": [("user", "I am ada")], "user": ""},
                   model=model)


# -- Send map-reduce -----------------------------------------------------------------------
class MapState(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]


def send_map_reduce() -> Pattern:
    def fan_out(state: MapState) -> list[Send]:
        return [Send("joke", {"subject": s}) for s in state["subjects"]]

    def joke(state: dict[str, Any]) -> dict[str, Any]:
        if state["subject"] == "cats":  # a Send that sends a Send
            return Command(goto=[Send("joke", {"subject": "kittens"})],
                           update={"jokes": ["cats!"]})  # type: ignore[return-value]
        return {"jokes": [f"{state['subject']}!"]}

    def best(state: MapState) -> dict[str, Any]:
        return {"jokes": [f"best of {len(state['jokes'])}"]}

    def build() -> StateGraph:
        b = StateGraph(MapState)
        b.add_node("plan", lambda s: {})
        b.add_node("joke", joke)
        b.add_node("best", best, defer=True)
        b.add_edge(START, "plan")
        b.add_conditional_edges("plan", fan_out, ["joke"])
        b.add_edge("joke", "best")
        b.add_edge("best", END)
        return b

    return Pattern("send_map_reduce", build, {"subjects": ["cats", "dogs", "owls"], "jokes": []})


# -- subgraphs and Command -----------------------------------------------------------------
class Parent(TypedDict):
    foo: str
    log: Annotated[list[str], operator.add]


class Child(TypedDict):
    foo: str
    secret: str  # private to the subgraph


def subgraph_node() -> Pattern:
    def child_a(state: Child) -> dict[str, Any]:
        return {"secret": state["foo"] + "-s"}

    def child_b(state: Child) -> Command:
        if state["foo"] == "hand":
            return Command(graph=Command.PARENT, goto="after", update={"log": ["handed"]})
        return Command(update={"foo": state["secret"] + "!"})

    def build() -> StateGraph:
        c = StateGraph(Child)
        c.add_node("child_a", child_a)
        c.add_node("child_b", child_b)
        c.add_edge(START, "child_a")
        c.add_edge("child_a", "child_b")
        b = StateGraph(Parent)
        b.add_node("first", lambda s: {"log": ["first"]})
        b.add_node("child", c.compile())
        b.add_node("after", lambda s: {"log": ["after"]})
        b.add_edge(START, "first")
        b.add_edge("first", "child")
        b.add_edge("child", "after")
        return b

    return Pattern("subgraph_node", build, {"foo": "x", "log": []})


def subgraph_parent_command() -> Pattern:
    p = subgraph_node()
    return Pattern("subgraph_parent_command", p.build, {"foo": "hand", "log": []})


def command_routing() -> Pattern:
    def decide(state: Parent) -> Command:
        writer = get_stream_writer()
        writer({"deciding": state["foo"]})
        return Command(goto="left" if state["foo"] == "l" else "right", update={"log": ["d"]})

    def build() -> StateGraph:
        b = StateGraph(Parent)
        b.add_node("decide", decide, destinations=("left", "right"))
        b.add_node("left", lambda s: {"log": ["left"]})
        b.add_node("right", lambda s: {"log": ["right"]})
        b.add_edge(START, "decide")
        return b

    return Pattern("command_routing", build, {"foo": "l", "log": []})


# -- interrupts ----------------------------------------------------------------------------
def interrupt_resume() -> Pattern:
    def ask(state: Parent) -> dict[str, Any]:
        answer = interrupt({"question": "name?"})
        return {"foo": str(answer)}

    def build() -> StateGraph:
        b = StateGraph(Parent)
        b.add_node("start", lambda s: {"log": ["start"]})
        b.add_node("ask", ask)
        b.add_edge(START, "start")
        b.add_edge("start", "ask")
        b.add_edge("ask", END)
        return b

    return Pattern("interrupt_resume", build, {"foo": "", "log": []}, checkpointer=True,
                   resume=Command(resume="ada"))


# -- async nodes, reducers, managed values, recursion, list state --------------------------
class LoopState(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]
    remaining_steps: RemainingSteps


def async_loop() -> Pattern:
    async def tick(state: LoopState) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"n": state["n"] + 1, "log": [f"tick{state['remaining_steps']}"]}

    def again(state: LoopState) -> str:
        return "tick" if state["remaining_steps"] > 3 else END

    def build() -> StateGraph:
        b = StateGraph(LoopState)
        b.add_node("tick", tick)
        b.add_edge(START, "tick")
        b.add_conditional_edges("tick", again, ["tick", END])
        return b

    return Pattern("async_loop", build, {"n": 0, "log": []}, recursion_limit=6, async_only=True)


def list_state() -> Pattern:
    def one(state: list[str]) -> list[str]:
        return ["one"]

    def two(state: list[str]) -> list[str]:
        return [f"two after {len(state)}"]

    def build() -> StateGraph:
        b = StateGraph(Annotated[list, operator.add])  # type: ignore[arg-type]
        b.add_node("one", one)
        b.add_node("two", two)
        b.add_edge(START, "one")
        b.add_edge("one", "two")
        return b

    return Pattern("list_state", build, ["start"])


PATTERNS: list[Callable[[], Pattern]] = [
    react_prebuilt,
    react_handwritten,
    tool_command,
    send_map_reduce,
    subgraph_node,
    subgraph_parent_command,
    command_routing,
    interrupt_resume,
    async_loop,
    list_state,
]
