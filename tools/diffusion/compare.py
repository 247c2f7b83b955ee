"""The comparison table (FID by method and steps, with MACs) and its plot (FID against steps
and against MACs)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from .baselines import Row


def comparison_table(rows: Sequence[Row]) -> str:
    """A markdown table: one line per method, one column per step count; a cell is the FID,
    with the MACs when they differ from the full network's at that step count."""
    steps = sorted({r.steps for r in rows})
    methods = list(dict.fromkeys(r.method for r in rows))
    by_cell = {(r.method, r.steps): r for r in rows}
    full = {s: max((r.macs for r in rows if r.steps == s and r.error is None), default=0.0)
            for s in steps}
    header = "| method | " + " | ".join(f"{s} steps" for s in steps) + " |"
    lines = [header, "|" + "---|" * (len(steps) + 1)]
    for method in methods:
        cells = []
        for s in steps:
            row = by_cell.get((method, s))
            if row is None:
                cells.append("")
            elif row.error is not None:
                cells.append("failed")
            elif row.macs < full[s] * 0.999:
                cells.append(f"{row.fid:.2f} ({row.macs / 1e6:.0f} M)")
            else:
                cells.append(f"{row.fid:.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("| MACs per image (full network) | "
                 + " | ".join(f"{full[s] / 1e6:.0f} M" for s in steps) + " |")
    lines += [f"\nfailed: {r.method} at {r.steps} steps: {r.error}" for r in rows if r.error]
    return "\n".join(lines)


def plot_comparison(rows: Sequence[Row], path: str | Path) -> Path:
    """FID against steps (left) and against MACs (right), one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_steps, by_macs) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method in dict.fromkeys(r.method for r in rows):
        points = sorted((r for r in rows if r.method == method and r.error is None),
                        key=lambda r: r.steps)
        style = {"linewidth": 2.5, "marker": "*", "markersize": 10} if "search" in method else {
            "linewidth": 1, "marker": "o", "markersize": 4}
        by_steps.plot([r.steps for r in points], [r.fid for r in points], label=method, **style)
        by_macs.plot([r.macs / 1e6 for r in points], [r.fid for r in points], label=method, **style)
    for axis, label in ((by_steps, "steps (network calls)"), (by_macs, "MACs per image (M)")):
        axis.set_xlabel(label)
        axis.set_ylabel("FID (lower is better)")
        axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
    by_steps.legend(fontsize=7)
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def write_comparison(rows: Sequence[Row], out_dir: str | Path,
                     print_fn: Callable[[str], None] = print) -> str:
    """Print the table; write table.md, compare.json and compare.png into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(rows)
    print_fn(table)
    (out / "table.md").write_text(table + "\n")
    (out / "compare.json").write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    plot = plot_comparison(rows, out / "compare.png")
    print_fn(f"wrote {out / 'table.md'}, {out / 'compare.json'}, {plot}")
    return table
