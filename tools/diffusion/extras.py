"""What a search or a comparison adds after its work is safe: baselines in the same protocol,
a PNG grid of samples per row, and a self-contained HTML report that shows each grid beside
its FID. Every extra is optional: one that fails is noted (the row says why) and the rest go on."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .baselines import Row, run_baselines
from .search_space import Schedule

GRID_IMAGES = 64  # samples per grid: the first of the noise bank (the same for every row)


def save_grid(images: Any, path: Path, columns: int = 8) -> Path:
    """(N, C, H, W) images in [-1, 1] as one PNG grid (PIL, which matplotlib brings)."""
    import numpy as np
    from PIL import Image

    array = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    count, channels, height, width = array.shape
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.uint8)
    for index in range(count):
        top, left = 1 + (index // columns) * (height + 1), 1 + (index % columns) * (width + 1)
        grid[top:top + height, left:left + width] = array[index].transpose(1, 2, 0)
    picture = Image.fromarray(grid[:, :, 0] if channels == 1 else grid[:, :, :3])
    scale = max(1, 256 // max(grid.shape[:2]))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path


def row_samples(evaluator: Any, row: Row, solver: str, path: Path) -> Path:
    """The grid of a row: its first GRID_IMAGES samples, on the evaluator's noise."""
    from .noise import NoiseBank
    from .sampler import sample, sample_baseline

    bank = evaluator.noise
    count = min(GRID_IMAGES, len(bank))
    first = NoiseBank(bank.noise[:count], None if bank.conditions is None
                      else bank.conditions[:count], bank.seed)
    if row.method.startswith("searched"):
        images = sample(evaluator.model, row.timesteps, first, solver, row.skip_sets or None)
    else:
        images = sample_baseline(evaluator.model, row.method, row.steps, first)
    return save_grid(images, path)


def add_samples(evaluator: Any, rows: Sequence[Row], folder: Path, solver: str,
                say: Callable[[str], None]) -> None:
    """A grid per row (row.samples: its path relative to `folder`); a grid that fails is
    noted and left out."""
    for row in rows:
        if row.error is not None:
            continue
        name = f"samples/{_slug(row.method)}-{row.steps}.png"
        try:
            row_samples(evaluator, row, _solver_of(row, solver), folder / name)
            row.samples = name
        except Exception as error:  # noqa: BLE001 - optional
            say(f"samples of {row.method} at {row.steps} steps: {type(error).__name__}: {error}")


def write_report(rows: Sequence[Row], folder: Path, title: str) -> Path:
    """report.html: one line per row, FID and MACs beside its sample grid (inlined)."""
    cells = []
    for row in rows:
        picture = ""
        if row.samples and (folder / row.samples).exists():
            data = base64.b64encode((folder / row.samples).read_bytes()).decode()
            picture = f'<img alt="samples" src="data:image/png;base64,{data}">'
        fid = f"failed: {html.escape(row.error)}" if row.error else f"{row.fid:.3f}"
        macs = "" if row.error else f"{row.macs / 1e6:.1f} M"
        cells.append(f"<tr><td>{html.escape(row.method)}</td><td>{row.steps}</td><td>{fid}</td>"
                     f"<td>{macs}</td><td><code>{row.timesteps}</code></td><td>{picture}</td></tr>")
    page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>td{padding:4px 10px;vertical-align:middle}img{image-rendering:pixelated}"
            f"</style><h1>{html.escape(title)}</h1><p>FID: lower is better.</p><table>"
            "<tr><th>method</th><th>steps</th><th>FID</th><th>MACs per image</th>"
            f"<th>time steps</th><th>samples</th></tr>{''.join(cells)}</table>")
    path = folder / "report.html"
    path.write_text(page)
    return path


def add_extras(result: dict[str, Any], config: Any, folder: Path, evaluator: Any,
               say: Callable[[str], None]) -> None:
    """Baselines and sample grids for a finished search; result.json is rewritten after
    each, so whatever fails later leaves what was done."""
    from .session import write_result

    if evaluator is None:
        try:  # a search on Ray actors: the extras run here, on a model of our own
            evaluator = config.evaluator_factory()()
        except Exception as error:  # noqa: BLE001 - optional
            say(f"extras skipped: {type(error).__name__}: {error}")
            return
    if not hasattr(evaluator, "baseline"):
        return  # a custom evaluator (tests, other models): nothing more to add
    schedule = Schedule(tuple(result["timesteps"]), tuple(tuple(s) for s in result["skip_sets"]))
    rows = [Row(f"searched ({config.solver})", config.steps, result["fid"], result["macs"],
                result["search_seconds"], list(schedule.timesteps),
                [list(s) for s in schedule.skip_sets])]
    if config.baselines:
        def on_row(row: Row) -> None:
            result["baselines"][row.method] = (
                {"failed": row.error} if row.error else
                {"fid": row.fid, "macs": row.macs, "timesteps": row.timesteps})
            write_result(folder, result)
            say(f"baseline {row.method:<16} {row.steps} steps "
                + (f"failed: {row.error}" if row.error else f"fid {row.fid:8.3f}"))

        rows += run_baselines(evaluator, [config.steps], on_row=on_row)
    if config.samples:
        add_samples(evaluator, rows, folder, config.solver, say)
        result["samples"] = rows[0].samples
        for row in rows[1:]:
            if row.samples:
                result["baselines"][row.method]["samples"] = row.samples
        result["report"] = write_report(rows, folder, f"{config.steps}-step search").name
        write_result(folder, result)


def _solver_of(row: Row, default: str) -> str:
    """'searched (dpmpp2m)' -> dpmpp2m."""
    if row.method.startswith("searched (") and row.method.endswith(")"):
        return row.method[len("searched ("):-1]
    return default


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")
