"""The comparison table (FID by method and steps, with MACs) and its plot (FID against steps
and against MACs)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from .banks import spread
from .baselines import BASELINE_METHODS, Row, best_built_in


def comparison_table(rows: Sequence[Row]) -> str:
    """A markdown table: one line per method, one column per step count; a cell is the FID
    (with its spread over the noise banks, `mean ± spread`, when scored on several), with the
    MACs when they differ from the full network's at that step count."""
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
            else:
                fid = f"{row.fid:.2f}" if row.spread is None else f"{row.fid:.2f} ± {row.spread:.2f}"
                cells.append(f"{fid} ({row.macs / 1e6:.0f} M)" if row.macs < full[s] * 0.999
                             else fid)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("| MACs per image (full network) | "
                 + " | ".join(f"{full[s] / 1e6:.0f} M" for s in steps) + " |")
    seeds = next((r.seeds for r in rows if r.seeds), [])
    if seeds:
        lines.append(f"\nmean FID ± its standard deviation over the noise banks of seeds "
                     f"{', '.join(map(str, seeds))}")
        lines += bank_by_bank(rows)
    lines += [f"\nfailed: {r.method} at {r.steps} steps: {r.error}" for r in rows if r.error]
    return "\n".join(lines)


def bank_ratios(rows: Sequence[Row]) -> list[list[float] | None]:
    """Per row: for a row that is not a built-in, scored on several banks, its FID over the
    best built-in's at the same steps on each bank (the paired comparison: a hard bank is
    hard for every method, so the FIDs' own spread overstates the doubt); else None."""
    built_ins = [r for r in rows if r.method in BASELINE_METHODS and r.error is None and r.fids]
    ratios: list[list[float] | None] = []
    for row in rows:
        same_steps = [b for b in built_ins if b.steps == row.steps]
        best = []
        for bank in range(len(row.fids)):
            on_bank = {b.method: b.fids[bank] for b in same_steps}
            method = best_built_in(on_bank)
            best.append(math.nan if method is None else on_bank[method])
        usable = (row.method not in BASELINE_METHODS and row.error is None
                  and len(row.fids) > 1 and not any(math.isnan(b) for b in best))
        ratios.append([f / b for f, b in zip(row.fids, best, strict=True)] if usable else None)
    return ratios


def bank_by_bank(rows: Sequence[Row]) -> list[str]:
    """A line per row with bank_ratios: their mean ± spread, and on how many banks it is
    lower than the best built-in."""
    return [f"{row.method} at {row.steps} steps: {statistics.fmean(ratios):.2f}x ± "
            f"{spread(ratios):.2f} the best built-in's FID, bank by bank (lower on "
            f"{sum(r < 1.0 for r in ratios)} of {len(ratios)})"
            for row, ratios in zip(rows, bank_ratios(rows), strict=True) if ratios is not None]


def plot_comparison(rows: Sequence[Row], path: str | Path) -> Path:
    """FID against steps (left) and against MACs (right), one line per method; rows scored on
    several noise banks get error bars of their spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_steps, by_macs) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method in dict.fromkeys(r.method for r in rows):
        points = sorted((r for r in rows if r.method == method and r.error is None),
                        key=lambda r: r.steps)
        style = {"linewidth": 2.5, "marker": "*", "markersize": 10} if "search" in method else {
            "linewidth": 1, "marker": "o", "markersize": 4}
        fids = [r.fid for r in points]
        bars = [r.spread or 0.0 for r in points] if any(r.spread for r in points) else None
        by_steps.errorbar([r.steps for r in points], fids, yerr=bars, label=method, capsize=3,
                          **style)
        by_macs.errorbar([r.macs / 1e6 for r in points], fids, yerr=bars, label=method,
                         capsize=3, **style)
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
    """Print the table; write table.md, compare.json (each row, with its bank_ratios when
    it has them) and compare.png into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(rows)
    print_fn(table)
    (out / "table.md").write_text(table + "\n")
    rows_json = [r.to_dict() | ({} if q is None else {"bank_ratios": q})
                 for r, q in zip(rows, bank_ratios(rows), strict=True)]
    (out / "compare.json").write_text(json.dumps(rows_json, indent=1))
    plot = plot_comparison(rows, out / "compare.png")
    print_fn(f"wrote {out / 'table.md'}, {out / 'compare.json'}, {plot}")
    return table
