"""Run the application under uvicorn until SIGTERM or Ctrl-C, then drain (`sensenet.serve.lifecycle`).

SIGTERM: readiness answers 503 at once, requests are answered for ``drain_seconds`` more (each
with ``Connection: close``), then the listener closes, the requests already read are answered and
the process exits 0. SIGINT (Ctrl-C): the same without the wait; a second one stops at once.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path
from types import FrameType
from typing import Any

from sensenet.serve import ServeOptions
from sensenet.serve.catalog import ModelReader
from sensenet.serve.lifecycle import Lifecycle

GRACEFUL_SHUTDOWN_SECONDS = 30  # for the requests already read once the listener is closed
# Between closing the listener and closing the connections: a connection accepted just before
# sends its request in that time and is answered, instead of being closed unanswered.
LISTENER_GRACE_SECONDS = 0.25


def run_server(
    files: dict[str, Path], host: str, port: int, options: ServeOptions, read: ModelReader
) -> None:
    """Serve until stopped; a model that cannot be loaded stops the server and is raised here."""
    import uvicorn

    from sensenet.serve.app import create_app

    failures: list[BaseException] = []
    lifecycle = Lifecycle()

    def fail(error: BaseException) -> None:
        failures.append(error)
        server.should_exit = True

    config = uvicorn.Config(
        create_app(files, options, fail, read, lifecycle),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )

    class DrainingServer(uvicorn.Server):
        """uvicorn with the drain in front of its own shutdown."""

        loop: asyncio.AbstractEventLoop | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            self.loop = asyncio.get_running_loop()
            lifecycle.on_close(self.close_listener)
            await super().startup(sockets)

        def close_listener(self) -> None:
            for listener in self.servers:
                listener.close()
            assert self.loop is not None
            self.loop.call_later(LISTENER_GRACE_SECONDS, setattr, self, "should_exit", True)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.loop is None or self.should_exit:  # not started, or a second signal: at once
                self.force_exit = self.should_exit
                self.should_exit = True
                return
            seconds = options.drain_seconds if sig == signal.SIGTERM else 0
            self.loop.call_soon_threadsafe(lifecycle.drain, seconds)

    server: Any = DrainingServer(config)
    server.run()
    if failures:
        raise failures[0]
