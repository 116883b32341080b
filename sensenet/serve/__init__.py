"""`sensenet serve`: models behind HTTP, speaking the Open Inference Protocol (KServe v2).

The server needs the optional extra ``serve`` (Starlette and uvicorn), checked by the command
with `sensenet.extras.require_extra`. Modules: `catalog` finds and loads the model files,
`inference` is the one path every transport's requests take (admission, deadlines, clients that
left, `batching` of concurrent requests into engine calls, `statistics` and `metrics`), with
`refusals` (why a request is refused) and `lifecycle` (serving, draining, stopped);
`protocol` (Open Inference Protocol tensors) and `records` (plain JSON) turn requests into rows
(`rows`) and results into answers, `app` is the HTTP transport and `server` runs it under
uvicorn.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ROW_BATCH_ROWS = 64
# A convolutional network costs more per image in larger batches on a CPU: MobileNetV2 in
# benchmarks/serve.py, 64 clients, took ~8.2 ms of server CPU per image in batches of up to 2 or
# 8 and ~9.9 ms in batches of up to 64, with a p99 twice as long.
IMAGE_BATCH_ROWS = 8
# Admission: a request is refused when its model's queued work would take longer than this.
MAX_QUEUE_WAIT = 0.8
# Seconds between SIGTERM and closing the listener, while readiness says 503 (Kubernetes: the
# time its endpoints take to stop sending new requests to a terminating pod).
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class ServeOptions:
    """How requests are batched and how large a request may be."""

    max_batch_rows: int | None = None  # None: ROW_BATCH_ROWS, or IMAGE_BATCH_ROWS for image models
    max_wait: float = 0.001  # seconds a batch waits for more requests
    max_body_bytes: int = 16 * 1024 * 1024
    # Threads one prediction may use. One, unlike the library's default for image networks (every
    # core): a server gets its parallelism from batching, and onnxruntime's spinning thread pool
    # took CPU from the event loop (benchmarks/serve.py: image model at 64 clients ~1.5x faster).
    threads: int = 1
    # Batches one model runs side by side. None: every core for models that read images (their
    # decoding and onnxruntime release the GIL), one for row models, whose batches are mostly
    # Python work (benchmarks/serve.py, MobileNetV2 at 64 clients on 2 cores: 151 -> see README).
    workers: int | None = None
    max_queue_wait: float = MAX_QUEUE_WAIT  # seconds of queued work past which requests are refused
    request_timeout: float | None = None  # seconds a request may wait for a worker; None: no limit
    drain_seconds: float = DRAIN_SECONDS

    @property
    def model_settings(self) -> dict[str, Any]:
        """Settings every model is created with (an .smbundle keeps its own)."""
        return {"threads": self.threads}

    def batch_workers(self, reads_images: bool) -> int:
        """Batches of one model that may run at once."""
        if self.workers is not None:
            return self.workers
        return (os.cpu_count() or 1) if reads_images else 1

    def alone_threads(self, reads_images: bool) -> int | None:
        """Threads for a batch that runs alone (no other running, none waiting), or None when it
        runs as any other: an image model's batches get every core, since the other workers
        would idle (MobileNetV2, one client at a time: 87 requests/s against 66 on one thread)."""
        cores = os.cpu_count() or 1
        if not reads_images or self.threads > 1 or cores == 1 or self.batch_workers(reads_images) == 1:
            return None
        return cores

    def batch_rows(self, reads_images: bool) -> int:
        """Most rows one engine call merges for a model."""
        if self.max_batch_rows is not None:
            return self.max_batch_rows
        return IMAGE_BATCH_ROWS if reads_images else ROW_BATCH_ROWS
