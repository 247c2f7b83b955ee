"""Parallel evaluation of a minibatch, against sequential evaluation and against trace-opt, in
one run.

The workload: each example asks a chat model one question (a scripted model with a fixed
latency per call, standing in for a hosted model at ~1 s a call), and its answer gets feedback
given back through the graph. Measured: the evaluation of one optimization step (run every
example of the minibatch, judge it, give the feedback to the parameter) by

  - optograph's loop (`optimize(..., examples=..., max_concurrency=N, steps=0)`) with one
    example, then 16 examples at max_concurrency 16, then 16 examples one at a time;
  - trace-opt (`import opto`, 0.1.3.8 as installed) with the same 16 examples, the same model
    and the same feedback, the way its minibatches run: a loop over the examples, `backward`
    on each output. (trace-opt 0.1.3.8 has no threaded batch API: no `num_threads` anywhere
    in its source.)

Run: python benchmarks/parallel.py [--latency 1.0] [--examples 16]
Target (issue 13): 16 examples at max_concurrency 16 take <= 1.3x one example."""

from __future__ import annotations

import argparse
import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

import optograph as og
from optograph.agent import OptoPrime
from optograph.agent.loop import optimize


class FixedLatencyChat(BaseChatModel):
    """Answers "Paris" after `latency_s` seconds, whatever it is asked."""

    latency_s: float = 1.0

    @property
    def _llm_type(self) -> str:
        return "fixed-latency"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        time.sleep(self.latency_s)
        return ChatResult(generations=[ChatGeneration(message=AIMessage("Paris"))])


def judge(answer: str, example: dict[str, str]) -> tuple[float, str]:
    right = answer.strip() == example["answer"]
    return (1.0 if right else 0.0), ("Correct." if right else f"Expected {example['answer']}.")


def examples(count: int) -> list[dict[str, str]]:
    return [{"question": f"What is the capital of France? (#{i})", "answer": "Paris"}
            for i in range(count)]


def optograph_step(batch: list[dict[str, str]], concurrency: int, model: BaseChatModel) -> float:
    """Seconds for the loop to evaluate one step's minibatch (steps=0: no optimizer call)."""
    with og.Run():
        prompt = og.node("Answer with the city only.", trainable=True, name="prompt")

    @og.bundle()
    def answer(prompt: str, question: str) -> str:
        """Ask the chat model."""
        reply = model.invoke([SystemMessage(prompt), HumanMessage(question)])
        return str(reply.content)

    started = time.perf_counter()
    optimize(lambda example: answer(prompt, example["question"]),
             lambda output, example: judge(output.data, example),
             OptoPrime([prompt], llm=model), examples=batch, max_concurrency=concurrency,
             steps=0, maximize=True, on_event=lambda event: None)
    return time.perf_counter() - started


def trace_opt_step(batch: list[dict[str, str]], model: BaseChatModel) -> float:
    """Seconds for trace-opt to evaluate the same minibatch, the way its minibatches run."""
    from opto import trace
    from opto.optimizers import OptoPrime as TraceOptoPrime

    prompt = trace.node("Answer with the city only.", trainable=True)
    optimizer = TraceOptoPrime([prompt], llm=object())  # the LLM is not called here

    @trace.bundle()
    def answer(prompt: str, question: str) -> str:
        """Ask the chat model."""
        reply = model.invoke([SystemMessage(prompt), HumanMessage(question)])
        return str(reply.content)

    started = time.perf_counter()
    optimizer.zero_feedback()
    for example in batch:
        output = answer(prompt, example["question"])
        _, text = judge(output.data, example)
        output.backward(text, retain_graph=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call")
    parser.add_argument("--examples", type=int, default=16)
    args = parser.parse_args()
    model = FixedLatencyChat(latency_s=args.latency)
    batch = examples(args.examples)
    n = args.examples
    one = optograph_step(batch[:1], 1, model)
    parallel = optograph_step(batch, n, model)
    sequential = optograph_step(batch, 1, model)
    try:
        theirs: float | None = trace_opt_step(batch, model)
    except ImportError:
        theirs = None
    print(f"model latency {args.latency:g} s per call; one step's evaluation of a minibatch")
    print(f"  optograph, 1 example                    {one:7.2f} s  (1.00x)")
    print(f"  optograph, {n} examples, max_concurrency {n:<3} {parallel:7.2f} s  "
          f"({parallel / one:.2f}x one example; target <= 1.3x)")
    print(f"  optograph, {n} examples, max_concurrency 1   {sequential:7.2f} s  "
          f"({sequential / one:.2f}x one example)")
    if theirs is not None:
        print(f"  trace-opt, {n} examples (its batch loop)     {theirs:7.2f} s  "
              f"({theirs / one:.2f}x one example)")
        print(f"speed-up over trace-opt: {theirs / parallel:.1f}x")
    else:
        print("  trace-opt: not installed (pip install trace-opt)")


if __name__ == "__main__":
    main()
