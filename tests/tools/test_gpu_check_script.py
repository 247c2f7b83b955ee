"""benchmarks/gpu_check.py, the script a GPU session runs once: on the CPU here (small sizes)
so that it is known to work before a GPU is lent, and on cuda when there is one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_check", module)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_runs_every_check_on_the_cpu(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTOGRAPH_CACHE", str(tmp_path))  # a cold reference cache, as in CI
    code = gpu_check().main(["--device", "cpu", "--images", "40", "--steps", "2",
                             "--repeats", "1", "--batch-size", "40"])
    out = capsys.readouterr().out
    checks = [line for line in out.splitlines() if line.lstrip().startswith("[")]
    assert len(checks) == 8, out  # sampler 3, skip sets 3, evaluator 1, throughput 1
    # the throughput ratio is a timing on a shared CPU: only the correctness checks must pass
    assert all("[ok]" in line for line in checks[:7]), out
    assert code == (0 if "[ok]" in checks[7] else 1)


def test_without_cuda_the_gpu_check_says_so_and_exits_0(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert gpu_check().main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_check_passes_on_cuda():
    assert gpu_check().main(["--images", "512", "--repeats", "1"]) == 0
