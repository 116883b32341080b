"""A seeded, bounded fuzz run over everything a user hands the library (issue 11).

Cases (tests/fuzz_cases.py) are structural mutations of the fixture models, hostile rows,
images, bundles, paths and weights servers on 127.0.0.1. Each runs in a worker process with
an address-space limit; a worker runs many cases, reporting each as a JSON line, and is
restarted after a crash or a hang (a case over its timeout). The suite fails on any finding:
an exception that is not ours, a hang, a crash, a MemoryError, NaN from valid input, a file
left in the temporary directory, written outside the case's directory, or overwritten.

``FUZZ_SCALE`` multiplies the case counts (default 1: about a minute and a half on 2 cores).
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import REPO_ROOT, fixture_path

# cases per category at FUZZ_SCALE=1, and the seconds one case may take before it counts as a hang
CATEGORIES = {
    "model": (220, 30),
    "image_model": (16, 60),
    "detector": (4, 120),
    "rows": (220, 30),
    "image": (220, 30),
    "bundle": (150, 30),
    "path": (150, 30),
    "server": (60, 30),
}
WORKERS = 2
# onnxruntime and numpy reserve address space beyond what they use; measured worker peak after
# the image model and the detector ran: VmPeak 1.0 GB (resident 0.5 GB), so 3 GB leaves 2 GB to blow
ADDRESS_SPACE_BYTES = 3 << 30
READY_SECONDS = 120
# what the workers read (tests/fuzz_cases.py's Fixtures)
FIXTURES_READ = (
    "regression.json.gz",
    "legacy_regression.json.gz",
    "image_regression.json.gz",
    "images",
    "detection/cats_eye_tinyyolov4.zip",
)


def _cases() -> list[dict]:
    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    cases = []
    for category, (count, timeout) in CATEGORIES.items():
        for seed in range(max(1, round(count * scale))):
            cases.append({"id": len(cases), "category": category, "seed": seed, "timeout": timeout})
    # expensive categories first, so the two workers finish together
    cases.sort(key=lambda case: -CATEGORIES[case["category"]][1])
    return cases


class Worker:
    """One worker process and the outcomes of the cases it ran."""

    def __init__(self, root: Path):
        self.root = root
        self.process: subprocess.Popen | None = None
        self.restarts = -1

    def start(self) -> None:
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "FUZZ_ADDRESS_SPACE_BYTES": str(ADDRESS_SPACE_BYTES),
            "SENSENET_DOWNLOAD_DEADLINE": "1",
            "OMP_NUM_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz_cases", str(self.root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=environment,
            text=True,
        )
        self.restarts += 1
        if self._read_line(READY_SECONDS) is None:
            raise RuntimeError("the fuzz worker did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()
        self.process = None

    def _read_line(self, timeout: float) -> dict | None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def run(self, case: dict) -> dict:
        if self.process is None:
            self.start()
        started = time.monotonic()
        try:
            self.process.stdin.write(json.dumps(case) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        result = self._read_line(case["timeout"])
        if result is None:
            hung = self.process.poll() is None
            self.stop()
            outcome = "hang" if hung else "crash"
            return {
                "id": case["id"],
                "outcome": outcome,
                "detail": f"after {time.monotonic() - started:.0f} s",
            }
        return result


def _run_all(cases: list[dict], root: Path) -> list[dict]:
    results: list[dict] = []
    lock = threading.Lock()
    queue = collections.deque(cases)

    def drain(worker: Worker) -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    case = queue.popleft()
                result = worker.run(case)
                with lock:
                    results.append({**case, **result})
        finally:
            worker.stop()

    workers = [Worker(root / f"worker{i}") for i in range(WORKERS)]
    threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _report(results: list[dict], seconds: float) -> str:
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for result in results:
        table[result["category"]][result["outcome"]] += 1
    outcomes = sorted({outcome for counts in table.values() for outcome in counts})
    lines = [
        f"fuzz: {len(results)} cases in {seconds:.0f} s",
        "category".ljust(12) + "".join(outcome.rjust(10) for outcome in ["cases", *outcomes]),
    ]
    for category in CATEGORIES:
        counts = table[category]
        lines.append(
            category.ljust(12)
            + str(sum(counts.values())).rjust(10)
            + "".join(str(counts[outcome]).rjust(10) for outcome in outcomes)
        )
    return "\n".join(lines)


def test_fuzz(tmp_path):
    for name in FIXTURES_READ:
        fixture_path(name)
    cases = _cases()
    started = time.monotonic()
    results = _run_all(cases, tmp_path)
    report = _report(results, time.monotonic() - started)
    print("\n" + report)
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(report + "\n" + json.dumps(results, indent=1))
    assert len(results) == len(cases)
    findings = [r for r in results if r["outcome"] not in ("ok", "ours")]
    details = "\n".join(
        f"{r['category']} seed {r['seed']}: {r['outcome']}: {r.get('detail', '')}" for r in findings[:20]
    )
    assert not findings, f"{len(findings)} findings\n{report}\n{details}"
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not leftovers, f"files left behind: {leftovers[:10]}"
