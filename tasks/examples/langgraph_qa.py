"""A three-node LangGraph question answerer whose prompts OptoPrime improves.

    START -> classify -> answer -> check --(verdict "retry", attempts left)--> answer
                                       \\-----------------------------------> END

The nodes read their prompts and the retry budget from the run's context (`QAContext`,
`runtime.context.answer_prompt`), so the graph runs unchanged with or without optograph;
`trace_langgraph` fills the context from the parameters and records every run.

For a task file (tasks/examples/*.yaml):
    workflow:   langgraph_qa.py:workflow
        workflow(classify_prompt, answer_prompt, check_prompt, max_retries, example, llm=None)
        -> og.Node, the final state {"question", "category", "answer", "verdict", "attempts"};
        the parameters are nodes named like QAContext's fields; `example` is one line of the
        data; `llm` is any chat model (None: the embedded local model).
    feedback:   langgraph_qa.py:feedback
        feedback(final_state, example) -> (score, text); score 1.0 when the answer contains
        the expected answer (or an alias), else 0.0 with what was expected.
    data:       data/qa_questions.jsonl   {"question", "answer", "aliases", "category"}
    parameters: default_parameters() gives the starting values.
Other entry points: build_graph(llm) -> StateGraph (for `workflow: {langgraph: ...}`),
load_questions(), and `python -m optograph.tasks.examples.langgraph_qa` (optimizes offline
with the local model and prints the accuracy before and after: about 8 minutes on two busy CPU
cores, most of it the optimizer's call; the 135M local model seldom proposes a usable prompt,
`--llm openai:gpt-4o-mini` does).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

import optograph as og
from optograph.graph.langgraph import trace_langgraph

QUESTIONS = Path(__file__).with_name("data") / "qa_questions.jsonl"
CATEGORIES = ("geography", "arithmetic", "science", "language")


class QAState(TypedDict, total=False):
    question: str
    category: str
    answer: str
    verdict: str
    attempts: int


@dataclass
class QAContext:
    """What the nodes read from the run's context: the parameters being optimized."""

    classify_prompt: str = (
        "Sort the question into one of these categories: {categories}. "
        "Reply with the category name only."
    )
    answer_prompt: str = "You are a helpful assistant. Answer the {category} question."
    check_prompt: str = (
        "Question: {question}\nProposed answer: {answer}\n"
        "Is the proposed answer correct? Reply yes or no."
    )
    max_retries: int = 1


def fill(template: str, **values: Any) -> str:
    """Put values into the {name} slots a template has; other braces stay as written, so a
    prompt the optimizer writes cannot break the node."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def reply_text(llm: Any, messages: list[BaseMessage], max_tokens: int | None) -> str:
    options = {} if max_tokens is None else {"max_tokens": max_tokens}
    content = llm.invoke(messages, **options).content
    return (content if isinstance(content, str) else str(content)).strip()


def build_graph(llm: Any = None, max_reply_tokens: int | None = 48
                ) -> StateGraph[QAState, QAContext, QAState, QAState]:
    """The graph. `llm`: a chat model (or an optograph LLM); None: the embedded local model.
    `max_reply_tokens` caps every reply (short answers are all the graph needs, and a small
    local model otherwise rambles to its limit); None leaves the model's own limit."""
    if llm is None:
        from optograph.agent import get_chat_model

        llm = get_chat_model(None)

    def ask(messages: list[BaseMessage]) -> str:
        return reply_text(llm, messages, max_reply_tokens)

    def classify(state: QAState, runtime: Runtime[QAContext]) -> dict[str, Any]:
        """Ask the model for the question's category; unknown replies become 'general'."""
        prompt = fill(runtime.context.classify_prompt, categories=", ".join(CATEGORIES))
        reply = ask([SystemMessage(prompt), HumanMessage(state["question"])]).lower()
        category = next((c for c in CATEGORIES if c in reply), "general")
        return {"category": category, "attempts": 0}

    def answer(state: QAState, runtime: Runtime[QAContext]) -> dict[str, Any]:
        """Answer the question under the answer prompt; on a retry, say the last answer was
        judged wrong."""
        prompt = fill(runtime.context.answer_prompt, category=state.get("category", "general"))
        messages: list[BaseMessage] = [SystemMessage(prompt), HumanMessage(state["question"])]
        if state.get("verdict") == "retry":
            messages.append(
                HumanMessage(f"Your answer {state['answer']!r} was judged wrong. Try again.")
            )
        text = ask(messages)
        first_line = text.splitlines()[0].strip() if text else ""
        return {"answer": first_line, "attempts": state.get("attempts", 0) + 1}

    def check(state: QAState, runtime: Runtime[QAContext]) -> dict[str, Any]:
        """Ask the model whether the answer is right: 'ok' on yes, 'retry' otherwise."""
        prompt = fill(
            runtime.context.check_prompt, question=state["question"], answer=state["answer"]
        )
        reply = ask([HumanMessage(prompt)]).lower()
        return {"verdict": "ok" if reply.startswith("yes") else "retry"}

    def retry_or_finish(state: QAState, runtime: Runtime[QAContext]) -> str:
        """Answer again while the check says retry and retries are left."""
        if state["verdict"] == "retry" and state["attempts"] <= runtime.context.max_retries:
            return "answer"
        return END

    builder = StateGraph(QAState, context_schema=QAContext)
    builder.add_node("classify", classify)
    builder.add_node("answer", answer)
    builder.add_node("check", check)
    builder.add_edge(START, "classify")
    builder.add_edge("classify", "answer")
    builder.add_edge("answer", "check")
    builder.add_conditional_edges("check", retry_or_finish, ["answer", END])
    return builder


PARAMETER_NOTES = {
    "classify_prompt": ("the system prompt of the classify node; {categories} is filled in", None),
    "answer_prompt": ("the system prompt of the answer node; {category} is filled in", None),
    "check_prompt": (
        "the prompt of the check node; {question} and {answer} are filled in; "
        "a reply starting with 'yes' accepts the answer",
        None,
    ),
    "max_retries": ("how many times a rejected answer is tried again", "0 <= max_retries <= 3"),
}


def default_parameters() -> dict[str, og.Node]:
    """Fresh trainable nodes holding QAContext's defaults."""
    defaults = QAContext()
    return {
        name: og.node(
            getattr(defaults, name),
            trainable=True,
            name=name,
            description=note,
            constraint=constraint,
        )
        for name, (note, constraint) in PARAMETER_NOTES.items()
    }


def load_questions(path: str | Path = QUESTIONS) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def workflow(
    classify_prompt: og.Node,
    answer_prompt: og.Node,
    check_prompt: og.Node,
    max_retries: og.Node,
    example: dict[str, Any],
    llm: Any = None,
) -> og.Node:
    """One traced run on one question; returns the final-state node."""
    parameters = {
        "classify_prompt": classify_prompt,
        "answer_prompt": answer_prompt,
        "check_prompt": check_prompt,
        "max_retries": max_retries,
    }
    traced = trace_langgraph(build_graph(llm), parameters, checkpointer=False)
    record = traced.trace({"question": example["question"]})
    assert record.output is not None
    return record.output


def _normal(text: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in text).split())


def is_correct(answer: str, example: dict[str, Any]) -> bool:
    given = f" {_normal(answer)} "
    expected = [example["answer"], *example.get("aliases", [])]
    return any(f" {_normal(str(e))} " in given for e in expected)


def feedback(final_state: dict[str, Any], example: dict[str, Any]) -> tuple[float, str]:
    """1.0 when the answer holds the expected answer, else 0.0 and what went wrong."""
    answer = str(final_state.get("answer", ""))
    attempts = final_state.get("attempts", 0)
    if is_correct(answer, example):
        return 1.0, f"Correct ({attempts} attempt(s))."
    return 0.0, (
        f"Wrong: expected {example['answer']!r} but the answer was {answer!r} "
        f"(classified as {final_state.get('category')!r}, expected category "
        f"{example.get('category')!r}; check verdict {final_state.get('verdict')!r})."
    )


def accuracy(parameters: dict[str, og.Node], questions: list[dict[str, Any]], llm: Any) -> float:
    right = 0
    for example in questions:
        with og.Run("eval"):
            state = workflow(**parameters, example=example, llm=llm).data
        right += int(is_correct(str(state.get("answer", "")), example))
    return right / len(questions)


def main(argv: list[str] | None = None) -> None:
    from optograph.agent import get_chat_model, optimize_langgraph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--questions", type=int, default=2, help="how many questions to use")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--llm", default=None, help="model spec for the graph and the optimizer")
    args = parser.parse_args(argv)
    llm = get_chat_model(args.llm)
    questions = load_questions()[: args.questions]
    parameters = default_parameters()
    print(f"accuracy before: {accuracy(parameters, questions, llm):.2f}", flush=True)

    def show(event: dict[str, Any]) -> None:
        if event["event"] in ("evaluated", "applied", "stop"):
            print({k: v for k, v in event.items() if k != "feedback"}, flush=True)

    optimize_langgraph(
        build_graph(llm),
        parameters,
        inputs=[{"question": q["question"]} for q in questions],
        feedback=lambda state, graph_input: feedback(
            state, next(q for q in questions if q["question"] == graph_input["question"])
        ),
        llm=llm,
        steps=args.steps,
        batch_size=args.batch_size,
        minimize=False,
        on_event=show,
        optimizer_options={"on_invalid": "skip"},
    )
    print(f"accuracy after:  {accuracy(parameters, questions, llm):.2f}")
    for name, node in parameters.items():
        print(f"{name} = {node.data!r}")


if __name__ == "__main__":
    main()
