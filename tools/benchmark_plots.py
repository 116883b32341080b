"""Run every benchmark with --plot: the pictures of the documentation's performance page.

    python tools/benchmark_plots.py [--quick] [NAME ...]

Each script of benchmarks/ draws what it measured (benchmarks/plot.py) into
docs/pictures/benchmarks/NAME.svg, stamped with the machine, the time and the load average. Take
them on a quiet machine: the figures are only as good as the machine was idle. `--quick` runs
smaller measurements (fewer rows, rounds and seconds) for a look, not for publishing. NAME picks
some of the benchmarks (default: all). Reads the fixtures like the tests (SENSENET_FIXTURES).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PICTURES = REPO_ROOT / "docs" / "pictures" / "benchmarks"
# name -> (the command's arguments, what --quick adds)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "benchmark": (["benchmarks/benchmark.py"], []),
    "startup": (["benchmarks/startup.py"], ["--rounds", "3"]),
    "serve": (["benchmarks/serve.py"], ["--seconds", "4"]),
    "spark": (["benchmarks/spark.py"], ["200000"]),
    "detection": (["-m", "benchmarks.detection"], []),
    "image_preprocess": (["-m", "benchmarks.image_preprocess"], []),
    "extractor_reuse": (["-m", "benchmarks.extractor_reuse"], []),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller measurements, for a look")
    parser.add_argument(
        "names", nargs="*", choices=[[], *BENCHMARKS], help="benchmarks to run (default: all)"
    )
    arguments = parser.parse_args()
    PICTURES.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    failed = []
    for name in arguments.names or list(BENCHMARKS):
        command, quick = BENCHMARKS[name]
        words = [
            sys.executable,
            *command,
            *(quick if arguments.quick else []),
            "--plot",
            str(PICTURES / f"{name}.svg"),
        ]
        started = time.monotonic()
        print(f"== {name}: {' '.join(words[1:])}", flush=True)
        if subprocess.run(words, cwd=REPO_ROOT, env=env).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.monotonic() - started:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
