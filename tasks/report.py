"""The HTML report of a run: the score history plot (matplotlib, embedded as PNG), the graph
of the last step (inline SVG drawn by the project: report_graph.py), the best parameters (and
the next candidate), the optimizer's prompts and replies, and the token and cost totals. One
self-contained file that needs no network and no system package to display."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import networkx as nx

from optograph.agent.feedback import is_better

from .errors import TaskError
from .paths import check_output_file
from .report_graph import graph_html
from .run_view import RunView

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .3em .6em;
vertical-align: top; text-align: left; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
details { margin: .4em 0; } .graph svg { max-width: 100%; height: auto; }
"""


def score_plot_png(view: RunView) -> bytes | None:
    """The score (and best-so-far) per step as a PNG; None when no step has a score."""
    points = [(r.step + 1, r.score) for r in view.steps if r.score is not None]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s, _ in points]
    scores = [v for _, v in points]
    best: list[float] = []
    for value in scores:  # the best so far, by the one rule (NaN is never best)
        best.append(value if not best or is_better(value, best[-1], not view.maximize)
                    else best[-1])
    figure, axes = plt.subplots(figsize=(7, 3.5), dpi=100)
    axes.plot(steps, scores, "o-", label="score", color="#3d85c6")
    axes.plot(steps, best, "--", label="best so far", color="#e69138")
    target = view.target
    if target is not None:
        axes.axhline(target, color="#6aa84f", linestyle=":", label=f"target {target:g}")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("step")
    axes.set_ylabel("score (higher is better)" if view.maximize else "score (lower is better)")
    axes.set_title(f"{view.meta.get('task_name', '')}: score history")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def last_graph(view: RunView) -> nx.DiGraph | None:
    for record in reversed(view.steps):
        if record.graph_dot:
            try:
                return nx.node_link_graph(json.loads(record.graph_dot), edges="links")
            except (ValueError, KeyError, TypeError):
                return None
    return None


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, default=repr)
    return f"<pre>{html.escape(text)}</pre>"


def render_report(view: RunView) -> str:
    score, values = view.best()
    totals = view.totals()
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>optograph run {html.escape(view.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Run {html.escape(view.name)}</h1>",
        "<table>",
        f"<tr><th>task</th><td>{html.escape(view.meta.get('task_name', ''))}</td></tr>",
        f"<tr><th>status</th><td>{html.escape(view.status)}</td></tr>",
        f"<tr><th>created</th><td>{html.escape(view.meta.get('created', ''))}</td></tr>",
        f"<tr><th>steps</th><td>{len(view.steps)}</td></tr>",
        f"<tr><th>best score{' (validation)' if view.train_scores else ''}</th>"
        f"<td>{html.escape(view.describe(score))}</td></tr>",
        f"<tr><th>tokens</th><td>{totals['tokens']}</td></tr>",
        f"<tr><th>cost</th><td>${totals['cost']:.4f}</td></tr>",
        f"<tr><th>LLM calls</th><td>{totals['llm_calls']}</td></tr>",
        "</table>",
        "<h2>Score history</h2>",
    ]
    png = score_plot_png(view)
    if png is not None:
        encoded = base64.b64encode(png).decode()
        parts.append(f'<img id="score-plot" alt="score history" src="data:image/png;base64,{encoded}">')
    else:
        parts.append("<p>No step has a score yet.</p>")
    parts.append("<h2>Best parameters</h2><table>")
    for name, value in values.items():
        parts.append(f"<tr><th>{html.escape(name)}</th><td>{_value(value)}</td></tr>")
    parts.append("</table>")
    if view.steps:
        # not the answer (that is the best above): what the optimizer proposed to try next
        parts.append("<h2>Next candidate (proposed after the last step; not scored)</h2><table>")
        for name, value in view.steps[-1].next_values.items():
            parts.append(f"<tr><th>{html.escape(name)}</th><td>{_value(value)}</td></tr>")
        parts.append("</table>")
    graph = last_graph(view)
    parts.append("<h2>Graph of the last step</h2>")
    if graph is not None:
        parts.append(graph_html(graph))
    else:
        parts.append("<p>No graph stored.</p>")
    split = bool(view.train_scores)
    parts.append("<h2>Steps</h2><table><tr><th>step</th>"
                 + ("<th>validation score</th><th>train score</th>" if split else "<th>score</th>")
                 + "<th>feedback</th><th>updates</th></tr>")
    for r in view.steps:
        shown = "-" if r.score is None else f"{r.score:.6g}"
        if split:
            train = view.train_scores.get(r.step)
            shown += "</td><td>" + ("-" if train is None else f"{train:.6g}")
        note = f"<br><em>{html.escape(r.note)}</em>" if r.note else ""
        parts.append(f"<tr><td>{r.step + 1}</td><td>{shown}</td><td>{_value(r.feedback[:2000])}"
                     f"{note}</td><td>{_value(r.updates) if r.updates else ''}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Optimizer prompts and replies</h2>")
    if not view.calls:
        parts.append("<p>No LLM calls (a search optimizer, or no step yet).</p>")
    for i, call in enumerate(view.calls):
        parts.append(
            f"<details><summary>step {call.step + 1}, {html.escape(call.role)} call {i} "
            f"({html.escape(call.model)}, {call.input_tokens}+{call.output_tokens} tokens)"
            f"</summary><h4>prompt</h4>{_value(call.prompt)}<h4>reply</h4>{_value(call.reply)}"
            "</details>")
    usage = totals.get("usage") or {}
    if usage:
        parts.append(f"<h2>Token and cost totals by role</h2>{_value(usage)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    view = RunView.load(folder)
    target = Path(out) if out is not None else view.folder / "report.html"
    check_output_file(target, "out")
    try:
        target.write_text(render_report(view), encoding="utf-8")
    except OSError as exc:
        raise TaskError(f"out {target}: cannot write ({exc.strerror})") from None
    return target
