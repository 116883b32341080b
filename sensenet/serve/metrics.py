"""Counters and histograms in the Prometheus text format (version 0.0.4), kept on the event loop.

Labels only ever hold served model names, fixed endpoint names and the models' own field
names, so a client cannot grow the set of series by asking for made-up models or fields.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

Labels = tuple[tuple[str, str], ...]


class Queue(Protocol):
    """What /metrics reads of a model's batcher."""

    waiting_rows: int
    running_rows: int

    def expected_wait(self) -> float: ...


class Histogram:
    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += value

    def lines(self, name: str, labels: Labels) -> list[str]:
        lines, cumulative = [], 0
        for bound, count in zip(self.buckets, self.counts):
            cumulative += count
            lines.append(f"{name}_bucket{_labels((*labels, ('le', _number(bound))))} {cumulative}")
        lines.append(f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {self.total}")
        lines.append(f"{name}_sum{_labels(labels)} {_number(self.sum)}")
        lines.append(f"{name}_count{_labels(labels)} {self.total}")
        return lines


def _waiting_rows(queue: Queue) -> float:
    return queue.waiting_rows


def _running_rows(queue: Queue) -> float:
    return queue.running_rows


def _expected_wait(queue: Queue) -> float:
    return queue.expected_wait()


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}" if labels else ""


class Metrics:
    """What `/metrics` shows: requests and errors by model, endpoint and status, latency, batch sizes,
    values not among their field's categories."""

    def __init__(self) -> None:
        self.requests: dict[Labels, int] = defaultdict(int)
        self.latency: dict[Labels, Histogram] = {}
        self.batch_requests: dict[Labels, Histogram] = {}
        self.batch_rows: dict[Labels, Histogram] = {}
        self.unknown_categories: dict[str, dict[str, int]] = {}  # model -> field -> count, kept by the model
        self.queues: dict[str, Queue] = {}
        self.refused: dict[Labels, int] = defaultdict(int)

    def watch_model(self, model: str, categories: dict[str, int], queue: Queue) -> None:
        """Show a served model's count of values not among a field's categories (its keys are fixed)
        and its queue."""
        self.unknown_categories[model] = categories
        self.queues[model] = queue

    def observe_refusal(self, model: str, reason: str) -> None:
        self.refused[(("model", model), ("reason", reason))] += 1

    def observe_request(self, model: str, endpoint: str, status: int, seconds: float) -> None:
        labels = (("model", model), ("endpoint", endpoint))
        self.requests[labels + (("code", str(status)),)] += 1
        self.latency.setdefault(labels, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, model: str, requests: int, rows: int) -> None:
        labels = (("model", model),)
        self.batch_requests.setdefault(labels, Histogram(BATCH_BUCKETS)).observe(requests)
        self.batch_rows.setdefault(labels, Histogram(BATCH_BUCKETS)).observe(rows)

    def render(self) -> str:
        lines = [
            "# HELP sensenet_requests_total HTTP requests answered, by model, endpoint and status code.",
            "# TYPE sensenet_requests_total counter",
        ]
        lines += [
            f"sensenet_requests_total{_labels(labels)} {count}" for labels, count in self.requests.items()
        ]
        lines += [
            "# HELP sensenet_request_errors_total HTTP requests answered with a 4xx or 5xx status.",
            "# TYPE sensenet_request_errors_total counter",
        ]
        errors: dict[Labels, int] = defaultdict(int)
        for labels, count in self.requests.items():
            if int(labels[-1][1]) >= 400:
                errors[labels] += count
        lines += [
            f"sensenet_request_errors_total{_labels(labels)} {count}" for labels, count in errors.items()
        ]
        lines += [
            "# HELP sensenet_unknown_categories_total Values not among their field's categories, "
            "predicted as missing (BigML's rule).",
            "# TYPE sensenet_unknown_categories_total counter",
        ]
        lines += [
            f"sensenet_unknown_categories_total{_labels((('model', model), ('field', name)))} {count}"
            for model, counts in self.unknown_categories.items()
            for name, count in counts.items()
        ]
        lines += [
            "# HELP sensenet_refused_total Requests refused or dropped uncomputed, by model and reason "
            "(overloaded, deadline, client_gone, draining, loading).",
            "# TYPE sensenet_refused_total counter",
        ]
        lines += [
            f"sensenet_refused_total{_labels(labels)} {count}" for labels, count in self.refused.items()
        ]
        gauges: tuple[tuple[str, str, Callable[[Queue], float]], ...] = (
            ("sensenet_queue_rows", "Rows waiting for a worker.", _waiting_rows),
            ("sensenet_running_rows", "Rows being predicted now.", _running_rows),
            (
                "sensenet_queue_wait_seconds",
                "Expected wait of a request queued now at the model's measured rate (what admission bounds).",
                _expected_wait,
            ),
        )
        for name, help_text, value in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [
                f"{name}{_labels((('model', model),))} {_number(value(queue))}"
                for model, queue in self.queues.items()
            ]
        for name, help_text, series in (
            ("sensenet_request_duration_seconds", "Time from request to answer.", self.latency),
            ("sensenet_batch_requests", "Requests merged into one engine call.", self.batch_requests),
            ("sensenet_batch_rows", "Rows predicted in one engine call.", self.batch_rows),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
            for labels, histogram in series.items():
                lines += histogram.lines(name, labels)
        return "\n".join(lines) + "\n"
