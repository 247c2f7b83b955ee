"""benchmarks/diffusion_ray.py, the Ray benchmark a GPU session runs: the same table on the CPU
(small sizes, slow: Ray and its actors start) and on cuda when there is one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")
torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "diffusion_ray.py"
SMALL = ["--evaluations", "3", "--images", "40", "--fake-evaluations", "10", "--batch-size", "40"]


def benchmark():
    spec = importlib.util.spec_from_file_location("diffusion_ray_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def check_table(out: str, rows: int) -> None:
    table = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == rows + 1, out  # the header and the rows
    assert "same answer: True" in out and "driver's own work" in out, out


@pytest.mark.slow
def test_the_benchmark_prints_its_table_on_the_cpu(capsys):
    assert benchmark().main(["--device", "cpu", "--workers", "2", *SMALL]) == 0
    check_table(capsys.readouterr().out, 5)  # with in-process on one torch thread


@pytest.mark.gpu
def test_the_benchmark_prints_its_table_on_cuda(capsys):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    assert benchmark().main(["--device", "cuda", "--solver", "dpmpp2m", *SMALL]) == 0
    check_table(capsys.readouterr().out, 4)
