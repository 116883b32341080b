"""`sensenet serve`: models behind HTTP, speaking the Open Inference Protocol (KServe v2).

The server needs the optional extra ``serve`` (Starlette and uvicorn), checked by the command
with `sensenet.extras.require_extra`. Modules: `catalog` finds and loads the model files,
`batching` merges concurrent requests into one engine call, `protocol` and `records` turn
requests into rows and results into answers, `metrics` counts, `app` ties them to routes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    """How requests are batched and how large a request may be."""

    max_batch_rows: int = 64
    max_wait: float = 0.001  # seconds a batch waits for more requests
    max_body_bytes: int = 16 * 1024 * 1024
