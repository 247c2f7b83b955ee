"""The chat agent: a LangGraph graph (model -> tools -> model ...) whose tools are optograph's
own. Models with native tool calling get the tools bound; models without it (the embedded
local model) are asked for a JSON reply naming the tool, which is turned into a tool call."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool

SYSTEM_PROMPT = (
    "You are optograph's assistant. optograph optimizes workflows from feedback: a task file "
    "(YAML) names a workflow, its parameters, the feedback and an optimizer. Use the tools to "
    "list, validate and run tasks, to show runs, and (when offered) to evaluate diffusion "
    "schedules. Answer briefly; quote numbers from tool results exactly."
)


def _supports_tools(model: BaseChatModel) -> bool:
    return type(model).bind_tools is not BaseChatModel.bind_tools


class JsonToolCaller:
    """Tool calling for a model without it: the tools are described in the prompt and the
    model replies with JSON {"tool": name or "none", "arguments": {...}, "answer": text}
    (constrained to that schema when the model accepts one)."""

    def __init__(self, model: BaseChatModel, tools: Sequence[BaseTool],
                 max_calls_per_turn: int = 3) -> None:
        self.max_calls_per_turn = max_calls_per_turn
        self.model = model
        self.tools = {t.name: t for t in tools}
        lines = []
        for tool in tools:
            args = json.dumps(tool.args)
            lines.append(f"- {tool.name}: {tool.description} Arguments: {args}")
        self.instructions = (
            "You can call one tool per reply. Tools:\n" + "\n".join(lines) + "\n"
            'Reply with JSON only: {"tool": "<tool name or none>", "arguments": {...}, '
            '"answer": "<your answer when tool is none>"}.'
        )
        self.schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "enum": [*self.tools, "none"]},
                "arguments": {"type": "object"},
                "answer": {"type": "string"},
            },
            "required": ["tool", "arguments", "answer"],
        }

    def _history(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        out: list[BaseMessage] = []
        for message in messages:
            if isinstance(message, SystemMessage):
                out.append(SystemMessage(f"{message.content}\n\n{self.instructions}"))
            elif isinstance(message, AIMessage) and message.tool_calls:
                call = message.tool_calls[0]
                out.append(AIMessage(json.dumps(
                    {"tool": call["name"], "arguments": call["args"], "answer": ""})))
            elif isinstance(message, ToolMessage):
                out.append(HumanMessage(f"Result of {message.name}: {message.content}"))
            else:
                out.append(message)
        if not any(isinstance(m, SystemMessage) for m in out):
            out.insert(0, SystemMessage(self.instructions))
        return out

    @staticmethod
    def _calls_this_turn(messages: Sequence[BaseMessage]) -> list[tuple[str, str]]:
        calls: list[tuple[str, str]] = []
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                break
            if isinstance(message, AIMessage):
                calls += [(c["name"], json.dumps(c["args"], sort_keys=True))
                          for c in message.tool_calls]
        return calls

    def invoke(self, messages: Sequence[BaseMessage]) -> AIMessage:
        # a small model may call tools forever: after a few calls in one turn it must answer
        calls = self._calls_this_turn(messages)
        must_answer = len(calls) >= self.max_calls_per_turn
        schema = self.schema
        history = self._history(messages)
        if must_answer:
            schema = {**schema, "properties": {**schema["properties"],
                                               "tool": {"type": "string", "enum": ["none"]}}}
            history.append(HumanMessage(
                'Now answer the question from the tool results above (tool "none").'))
        kwargs: dict[str, Any] = {}
        if getattr(self.model, "accepts_json_schema", False):
            kwargs["json_schema"] = schema
        reply = self.model.invoke(history, **kwargs)
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        try:
            data = json.loads(text[text.find("{"): text.rfind("}") + 1])
        except ValueError:
            return AIMessage(text)
        if not isinstance(data, dict):
            return AIMessage(text)
        tool = data.get("tool")
        given = data.get("arguments")
        args: dict[str, Any] = given if isinstance(given, dict) else {}
        if tool in self.tools:  # small models echo schema keys back: keep the real arguments
            args = {k: v for k, v in args.items() if k in self.tools[tool].args}
        repeated = (tool, json.dumps(args, sort_keys=True)) in calls
        if tool in self.tools and not must_answer and not repeated:
            return AIMessage("", tool_calls=[{"name": tool, "args": args,
                                              "id": f"call_{uuid.uuid4().hex[:12]}"}])
        answer = str(data.get("answer") or "").strip()
        if not answer and messages and isinstance(messages[-1], ToolMessage):
            answer = f"The {messages[-1].name} tool returned: {messages[-1].content}"
        return AIMessage(answer or text)


def build_chat_agent(model: BaseChatModel, tools: Sequence[BaseTool],
                     system_prompt: str = SYSTEM_PROMPT) -> Any:
    """A compiled LangGraph agent (MessagesState, in-memory checkpointer: one conversation
    per thread_id)."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    caller: Any = model.bind_tools(list(tools)) if _supports_tools(model) else JsonToolCaller(
        model, tools)

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        reply = caller.invoke([SystemMessage(system_prompt), *state["messages"]])
        return {"messages": [reply]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode(list(tools), handle_tool_errors=True))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def _short(text: Any, limit: int = 600) -> str:
    text = text if isinstance(text, str) else json.dumps(text, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def chat_turn(agent: Any, text: str, thread_id: str, out: Any, recursion_limit: int = 12) -> str:
    """Send one user message; print tool calls and results as they happen; return the answer."""
    from langgraph.errors import GraphRecursionError

    answer = ""
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": recursion_limit}
    try:
        for update in agent.stream({"messages": [HumanMessage(text)]}, config,
                                   stream_mode="updates"):
            answer = _show_update(update, out) or answer
    except GraphRecursionError:
        answer = answer or (f"(no answer: the model kept calling tools for {recursion_limit} "
                            "steps; try a more capable model with --llm)")
    return answer


def _show_update(update: dict[str, Any], out: Any) -> str:
    """Print the tool calls and results of one graph update; return an answer if it has one."""
    answer = ""
    for node, change in update.items():
        for message in (change or {}).get("messages", []):
            if isinstance(message, AIMessage) and message.tool_calls:
                for call in message.tool_calls:
                    out.write(f"  -> {call['name']}({json.dumps(call['args'])})\n")
            elif isinstance(message, ToolMessage):
                out.write(f"  <- {message.name}: {_short(message.content)}\n")
            elif isinstance(message, AIMessage) and node == "agent":
                content = message.content
                answer = content if isinstance(content, str) else str(content)
        out.flush()
    return answer
