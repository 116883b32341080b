"""The statistics extension of the Open Inference Protocol (Triton's): per model, since the server
started, inference and execution counts and the count and total nanoseconds of successes,
failures, time queued and time computing (`GET /v2/models[/NAME[/versions/V]]/stats`).

An inference is a row (a detector's image); an execution is one engine call, which may answer
several requests at once. A request's compute_input is the time its body took to become the
engine's input, compute_infer the engine call that answered it, compute_output the time its
answer took to be written. ``refusal_stats`` (ours) counts, per reason, the requests refused or
dropped unanswered (`sensenet.serve.refusals`) and the nanoseconds from their arrival to then;
each is also counted among the failures (``fail``), as Triton counts its own refusals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sensenet.serve.batching import Done
from sensenet.serve.catalog import VERSION
from sensenet.serve.refusals import REASONS

NANOSECONDS = 1_000_000_000


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.ns += round(seconds * NANOSECONDS)

    def as_json(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


STAGES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit")


@dataclass
class ModelStatistics:
    last_inference: int = 0  # milliseconds since the epoch
    inference_count: int = 0
    execution_count: int = 0
    stages: dict[str, Duration] = field(default_factory=lambda: {stage: Duration() for stage in STAGES})
    batches: dict[int, Duration] = field(default_factory=dict)  # rows -> engine calls of that size
    refusals: dict[str, Duration] = field(default_factory=lambda: {reason: Duration() for reason in REASONS})

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.execution_count += 1
        self.batches.setdefault(rows, Duration()).add(seconds)

    def observe_success(self, rows: int, done: Done, reading: float, writing: float, total: float) -> None:
        """One request answered in `total` seconds, `reading` its body and `writing` its answer."""
        self.last_inference = time.time_ns() // 1_000_000
        self.inference_count += rows
        self.stages["success"].add(total)
        self.stages["queue"].add(done.queued)
        self.stages["compute_input"].add(reading)
        self.stages["compute_infer"].add(done.computed)
        self.stages["compute_output"].add(writing)

    def observe_failure(self, seconds: float) -> None:
        self.last_inference = time.time_ns() // 1_000_000
        self.stages["fail"].add(seconds)

    def observe_refusal(self, reason: str, seconds: float) -> None:
        """A request refused or dropped unanswered (`sensenet.serve.refusals`), `seconds` after it came."""
        self.refusals[reason].add(seconds)
        self.observe_failure(seconds)

    def as_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "version": VERSION,
            "last_inference": self.last_inference,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {stage: duration.as_json() for stage, duration in self.stages.items()},
            "batch_stats": [
                {
                    "batch_size": rows,
                    "compute_input": Duration().as_json(),
                    "compute_infer": duration.as_json(),
                    "compute_output": Duration().as_json(),
                }
                for rows, duration in sorted(self.batches.items())
            ],
            "refusal_stats": {reason: duration.as_json() for reason, duration in self.refusals.items()},
        }
