"""`sensenet serve`: models behind HTTP, speaking the Open Inference Protocol (KServe v2).

The server needs the optional extra ``serve`` (Starlette and uvicorn); `require_stack` says
how to install it when it is missing. Modules: `catalog` finds and loads the model files,
`batching` merges concurrent requests into one engine call, `protocol` and `records` turn
requests into rows and results into answers, `metrics` counts, `app` ties them to routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensenet.exceptions import UnsupportedError

INSTALL_HINT = 'pip install "sensenet[serve]"'


@dataclass(frozen=True)
class ServeOptions:
    """How requests are batched and how large a request may be."""

    max_batch_rows: int = 64
    max_wait: float = 0.001  # seconds a batch waits for more requests
    max_body_bytes: int = 16 * 1024 * 1024


def require_stack() -> None:
    """Fail with the install command when Starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise UnsupportedError(
            f"serving needs the optional extra 'serve' ({error.name} is not installed): {INSTALL_HINT}"
        ) from None
