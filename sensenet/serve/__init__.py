"""`sensenet serve`: models behind HTTP, speaking the Open Inference Protocol (KServe v2).

The server needs the optional extra ``serve`` (Starlette and uvicorn), checked by the command
with `sensenet.extras.require_extra`. Modules: `catalog` finds and loads the model files,
`batching` merges concurrent requests into one engine call, `protocol` (Open Inference
Protocol tensors) and `records` (plain JSON) turn requests into rows (`rows`) and results into
answers, `metrics` counts, `app` ties them to routes and `server` runs it under uvicorn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServeOptions:
    """How requests are batched and how large a request may be."""

    max_batch_rows: int = 64
    max_wait: float = 0.001  # seconds a batch waits for more requests
    max_body_bytes: int = 16 * 1024 * 1024
    # Threads one prediction may use. One, unlike the library's default for image networks (every
    # core): a server gets its parallelism from batching, and onnxruntime's spinning thread pool
    # took CPU from the event loop (benchmarks/serve.py: image model at 64 clients ~1.5x faster).
    threads: int = 1

    @property
    def model_settings(self) -> dict[str, Any]:
        """Settings every model is created with (an .smbundle keeps its own)."""
        return {"threads": self.threads}
