"""How long `import helpers` takes, side by side with `import requests` alone (the floor: helpers needs it).

Each figure is the median of fresh interpreters, alternating the two, so both see the same machine
load. The goal (issue 11): helpers at most 1.3 times requests. Run: `.venv/bin/python dev/benchmarks/import_bench.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 21
TIMER = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str) -> float:
    """Seconds one fresh interpreter spends importing ``module``."""
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(module=module)], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def main() -> int:
    samples: dict[str, list[float]] = {"requests": [], "helpers": []}
    for _ in range(RUNS):
        for module, times in samples.items():
            times.append(import_seconds(module))
    baseline, ours = (statistics.median(samples[name]) * 1000 for name in ("requests", "helpers"))
    print(f"import requests: {baseline:6.1f} ms (median of {RUNS})")
    print(f"import helpers:  {ours:6.1f} ms (median of {RUNS})")
    print(f"ratio:           {ours / baseline:6.2f}x (goal: at most 1.30x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
