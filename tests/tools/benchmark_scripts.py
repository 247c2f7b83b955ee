"""Running a script of benchmarks/ as a user does: its own process, the reference statistics
cached under a test's folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script: str, *flags: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPTOGRAPH_CACHE": str(cache)}
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *flags], env=env,
                          capture_output=True, text=True, timeout=300)
