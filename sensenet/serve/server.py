"""Run the application under uvicorn until SIGTERM or Ctrl-C, then finish in-flight requests."""

from __future__ import annotations

import signal
from pathlib import Path

from sensenet.serve import ServeOptions
from sensenet.serve.catalog import ModelReader

GRACEFUL_SHUTDOWN_SECONDS = 30


def run_server(
    files: dict[str, Path], host: str, port: int, options: ServeOptions, read: ModelReader
) -> None:
    """Serve until stopped; a model that cannot be loaded stops the server and is raised here."""
    import uvicorn

    from sensenet.serve.app import create_app

    failures: list[BaseException] = []

    def fail(error: BaseException) -> None:
        failures.append(error)
        server.should_exit = True

    config = uvicorn.Config(
        create_app(files, options, fail, read),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the SIGTERM it handled once shut down; a graceful stop exits 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failures:
        raise failures[0]
