"""An agent class as Trace users write one: `TicketRouter` routes a support ticket to a team.
Its `prompt` (the routing guide: a line of keywords per team) is a trainable attribute, and
its `decide` method, which reads the guide, is trainable code. OptoPrime improves both over
the tickets shipped in data/tickets.jsonl; `export` then writes the learned router as a plain
Python file that runs without optograph.

    python tasks/examples/ticket_router.py --llm local --steps 3 --export learned_router.py

The task file ticket_router.yaml runs the same agent through `optograph run`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import optograph as og

DATA = Path(__file__).parent / "data" / "tickets.jsonl"


@og.model
class TicketRouter:
    """Routes a support ticket to the team that handles it."""

    def __init__(self) -> None:
        self.prompt = og.node(
            "billing: invoice, charge\ntechnical: error, crash\naccount: password",
            trainable=True, name="prompt",
            description="the routing guide: one line per team, `team: keyword, keyword, ...`",
        )

    @og.bundle(trainable=True)
    def decide(self, ticket: str) -> str:
        """Return the team of the first guide line with a keyword in the ticket, else
        "unknown"."""
        text = ticket.lower()
        for line in self.prompt.data.splitlines():
            team, _, words = line.partition(":")
            if any(word.strip() and word.strip() in text for word in words.split(",")):
                return team.strip()
        return "unknown"

    def forward(self, ticket: Any) -> Any:
        return self.decide(ticket)


def route(prompt: og.Node, decide: og.Node, example: dict[str, Any]) -> og.Node:
    """The workflow of ticket_router.yaml: a router whose parameters are the task's."""
    router = TicketRouter()
    router.use_parameters({"prompt": prompt, "decide": decide})
    return router(example["ticket"])  # type: ignore[no-any-return]


def load_tickets(path: Path = DATA) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train(
    llm: Any, steps: int = 3, examples: list[dict[str, str]] | None = None
) -> tuple[TicketRouter, Any]:
    """Optimize a new router over the tickets with OptoPrime; returns it and the result."""
    with og.Run("ticket_router"):  # a naming scope of its own: the names are exactly
        router = TicketRouter()     # "prompt" and "__code_TicketRouter.decide"
        # a small model's unusable reply skips the step (noted) instead of ending the run
        optimizer = og.OptoPrime(router.parameters(), llm=llm, on_invalid="skip")
    tickets = examples if examples is not None else load_tickets()

    def workflow() -> og.Node:
        return og.pack([router(t["ticket"]) for t in tickets])  # type: ignore[no-any-return]

    def feedback(output: og.Node) -> tuple[float, str]:
        wrong = [f"{t['ticket']!r}: routed to {got!r}, expected {t['team']!r}"
                 for t, got in zip(tickets, output.data, strict=True) if got != t["team"]]
        score = 1 - len(wrong) / len(tickets)
        return score, "All tickets routed correctly." if not wrong else "Wrong:\n" + "\n".join(wrong)

    result = og.optimize(workflow, feedback, optimizer, steps=steps, target=1.0, minimize=False)
    return router, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="local", help="the optimizer's model (default: local)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--export", type=Path, help="write the learned router here")
    args = parser.parse_args(argv)
    try:
        router, result = train(args.llm, args.steps)
    except og.OptographError as error:  # one line, as the CLI says it
        raise SystemExit(f"ticket_router: error: {error}") from None
    print(f"best score {result.best_score}; learned state:")
    print(json.dumps(router.state_dict(), indent=2))
    if args.export:
        router.export(args.export)
        print(f"exported to {args.export}")


if __name__ == "__main__":
    main()
