"""The one inference path below every transport: admission, deadlines, clients that left,
batching, statistics and metrics, and the lifecycle the health routes read.

How a transport (REST, gRPC) uses it:

1. Check the name with ``service.known(name, version)`` (`NotServed` otherwise), note
   ``received = time.monotonic()``, and (optionally) ``service.admit(name, received)`` to refuse
   an overloaded model's request before reading its body.
2. Read and decode the request into the model's item and
   its row count (``service.served(name)`` gives the `ServedModel` to decode against; it raises
   `Refused` while the model loads). A decoding error is the transport's to answer; report it with
   ``service.record_failure(name, received)`` so the statistics count it.
3. Build an `Inference` (deadline: ``received + timeout`` when the client gave one, else None for
   the server's ``--request-timeout-ms``; ``gone``: a `Departure` the transport leaves when the
   client leaves, e.g. HTTP's ``http.disconnect``, gRPC's context done callback).
4. ``answer = await service.infer(inference, encode)``: `encode(outcome)` turns the model's
   outcome into the transport's answer (timed as compute_output). It raises `Refused` (reason,
   message, retry_after) when the request is refused or dropped (REST: 503 + Retry-After; gRPC:
   UNAVAILABLE), a `SensenetError` for bad input found by the model, anything else for a bug.
5. Health: ``service.ready()`` and ``service.model_ready(name)`` read the lifecycle (503 /
   NOT_SERVING while draining). On shutdown the transport registers its listener's close with
   ``service.lifecycle.on_close(...)``; ``service.lifecycle.drain(seconds)`` starts the drain.

Admission bounds what a client feels: a request is refused at once when the work already queued
for its model would take longer than ``max_queue_wait`` seconds at the model's measured rate
(`MicroBatcher.expected_wait`; a large request counts by its rows), or longer than the time
left before its deadline. Retry-After is that expected wait, rounded up.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sensenet.exceptions import SensenetError
from sensenet.serve import ServeOptions
from sensenet.serve.batching import Departure, MicroBatcher
from sensenet.serve.catalog import VERSION, ModelReader, ServedModel, load_model
from sensenet.serve.failures import NotServed, shown
from sensenet.serve.lifecycle import Lifecycle
from sensenet.serve.metrics import Metrics
from sensenet.serve.refusals import DEADLINE, LOADING, OVERLOADED, Refused
from sensenet.serve.statistics import ModelStatistics

log = logging.getLogger("sensenet.serve")
Answer = TypeVar("Answer")


@dataclass(eq=False)
class Inference:
    """One decoded request, as every transport hands it to `InferenceService.infer`."""

    model: str
    item: Any  # what the model's `run` takes for this request (rows, a matrix, a detector's images)
    rows: int
    received: float  # time.monotonic() when the transport started on it
    deadline: float | None = None  # time.monotonic() a worker must take it by; None: server default
    gone: Departure | None = None  # left by the transport when the client goes away


@dataclass
class InferenceService:
    files: dict[str, Path]
    options: ServeOptions
    on_failure: Callable[[BaseException], None]
    read: ModelReader
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    metrics: Metrics = field(default_factory=Metrics)
    models: dict[str, tuple[ServedModel, MicroBatcher]] = field(default_factory=dict)
    statistics: dict[str, ModelStatistics] = field(default_factory=dict)
    loaded: bool = False

    def __post_init__(self) -> None:
        self.statistics = {name: ModelStatistics() for name in self.files}

    async def load(self) -> None:
        """Build every model and its batcher; a failure goes to `on_failure`."""
        try:
            for name, path in self.files.items():
                served = await asyncio.to_thread(
                    load_model, name, path, self.options.model_settings, self.read, self.options.alone_threads
                )
                batcher = MicroBatcher(
                    served.run,
                    run_alone=None if served.alone is None else served.run_alone,
                    max_batch_rows=self.options.batch_rows(served.has_images),
                    max_wait=self.options.max_wait,
                    observe=partial(self._observe_batch, name),
                    name=name,
                    workers=self.options.batch_workers(served.has_images),
                )
                batcher.start()
                self.metrics.watch_model(name, served.unknown_categories, batcher)
                self.models[name] = (served, batcher)
                log.info("model %s loaded from %s", name, path)
        except Exception as error:
            log.error("cannot serve: %s", error, exc_info=not isinstance(error, SensenetError))
            self.on_failure(error)
            return
        self.loaded = True
        gc.freeze()  # the models' objects stay: later collections need not walk them
        log.info("ready: %s", ", ".join(self.files))

    async def stop(self) -> None:
        for _, batcher in self.models.values():
            await batcher.stop()

    def knows(self, name: str) -> bool:
        return name in self.files

    def known(self, name: str, version: str = "") -> str:
        """`name`, when it is a served model's and `version` (when given) the one served; else
        `NotServed` says what is served."""
        if name not in self.files:
            raise NotServed(f"unknown model {shown(name)}; models: {', '.join(self.files)}")
        if version not in ("", VERSION):
            raise NotServed(f"model {name!r} has no version {shown(version)}; its version is {VERSION}")
        return name

    def ready(self) -> bool:
        return self.loaded and self.lifecycle.serving

    def model_ready(self, name: str) -> bool:
        return name in self.models and self.lifecycle.serving

    def served(self, name: str) -> ServedModel:
        """A known model, once built."""
        return self._loaded(name)[0]

    def _loaded(self, name: str) -> tuple[ServedModel, MicroBatcher]:
        if name not in self.models:
            raise Refused(LOADING, f"model {name!r} is still loading")
        return self.models[name]

    def admit(self, name: str, received: float) -> None:
        """Refuse (raising `Refused`, counted) a request to a model already over its bound, before
        the transport reads and decodes it: a refusal should cost next to nothing. Optional:
        `infer` checks again with the request's deadline."""
        try:
            self._admit(name, self._loaded(name)[1], None)
        except Refused as refusal:
            self._record_refusal(name, refusal, received)
            raise

    def record_failure(self, name: str, received: float) -> None:
        """A request the transport could not decode (counted as the model's failure)."""
        self.statistics[name].observe_failure(time.monotonic() - received)

    async def infer(self, request: Inference, encode: Callable[[Any], Answer]) -> Answer:
        """The request admitted, batched, predicted and encoded; statistics recorded once here."""
        decoded = time.monotonic()
        name = request.model
        statistics = self.statistics[name]
        try:
            batcher = self._loaded(name)[1]
            deadline = request.deadline
            if deadline is None and self.options.request_timeout is not None:
                deadline = request.received + self.options.request_timeout
            self._admit(name, batcher, deadline)
            done = await batcher.submit(request.item, request.rows, deadline, request.gone)
            resolved = time.monotonic()
            answer = encode(done.outcome)
        except Refused as refusal:
            self._record_refusal(name, refusal, request.received)
            raise
        except Exception:
            statistics.observe_failure(time.monotonic() - request.received)
            raise
        answered = time.monotonic()
        statistics.observe_success(
            request.rows, done, decoded - request.received, answered - resolved, answered - request.received
        )
        return answer

    def _record_refusal(self, name: str, refusal: Refused, received: float) -> None:
        self.statistics[name].observe_refusal(refusal.reason, time.monotonic() - received)
        self.metrics.observe_refusal(name, refusal.reason)

    def _admit(self, name: str, batcher: MicroBatcher, deadline: float | None) -> None:
        """Refuse now what could not start in time (a request already read is answered even
        while the server stops)."""
        wait = batcher.expected_wait()
        bound = self.options.max_queue_wait
        if wait > bound:
            raise Refused(
                OVERLOADED,
                f"model {name!r} is overloaded: its queue holds {wait:.2f} s of work, over the bound of "
                f"{bound:g} s (--max-queue-ms); retry later",
                math.ceil(wait),
            )
        if deadline is not None and time.monotonic() + wait > deadline:
            raise Refused(
                DEADLINE,
                f"Request timeout expired: model {name!r} has {wait:.3f} s of work queued, more than the "
                "time left before the request's deadline",
                math.ceil(wait),
            )

    def _observe_batch(self, name: str, requests: int, rows: int, seconds: float) -> None:
        self.metrics.observe_batch(name, requests, rows)
        self.statistics[name].observe_batch(rows, seconds)
