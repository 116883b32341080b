"""Run the application under uvicorn until SIGTERM or Ctrl-C, then drain (`sensenet.serve.lifecycle`).

With a gRPC port, the gRPC service runs on uvicorn's event loop beside it, over the same
`InferenceService`. SIGTERM: readiness answers 503 (NOT ready over gRPC) at once, requests are
answered for ``drain_seconds`` more (each HTTP answer with ``Connection: close``), then both
listeners close, the requests already read are answered and the process exits 0. SIGINT (Ctrl-C):
the same without the wait; a second one stops at once.
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
from sensenet.serve.inference import InferenceService
from sensenet.serve.lifecycle import Lifecycle

GRACEFUL_SHUTDOWN_SECONDS = 30  # for the requests already read once the listener is closed
# Between closing the listener and closing the connections: a connection accepted just before
# sends its request in that time and is answered, instead of being closed unanswered.
LISTENER_GRACE_SECONDS = 1.0


def run_server(
    files: dict[str, Path],
    host: str,
    port: int,
    options: ServeOptions,
    read: ModelReader,
    grpc_port: int | None = None,
) -> None:
    """Serve until stopped; a model that cannot be loaded stops the server and is raised here, as
    is a gRPC port that cannot be listened on."""
    import uvicorn

    from sensenet.serve.app import create_app

    failures: list[BaseException] = []
    lifecycle = Lifecycle()

    def fail(error: BaseException) -> None:
        failures.append(error)
        server.should_exit = True

    service = InferenceService(files, options, fail, read, lifecycle)
    config = uvicorn.Config(
        create_app(service),
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
        grpc: Any = None  # the gRPC server, when one is asked for
        grpc_stopped: asyncio.Task | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            self.loop = asyncio.get_running_loop()
            if grpc_port is not None:
                from sensenet.serve.grpc_transport import start_grpc

                self.grpc = await start_grpc(service, host, grpc_port, options.max_body_bytes)
                lifecycle.on_close(self.close_grpc)
            lifecycle.on_close(self.close_listener)
            await super().startup(sockets)

        def close_grpc(self) -> None:
            """New calls refused from now on, those already read answered (up to the grace)."""
            assert self.loop is not None
            self.grpc_stopped = self.loop.create_task(self.grpc.stop(GRACEFUL_SHUTDOWN_SECONDS))

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            """The gRPC calls in progress answered before the models stop (in uvicorn's shutdown)."""
            if self.grpc is not None:
                await (self.grpc_stopped or self.grpc.stop(GRACEFUL_SHUTDOWN_SECONDS))
            await super().shutdown(sockets)

        def close_listener(self) -> None:
            """Close the listener once the connections asyncio accepted in this loop iteration
            are set up: their set-up is a task that runs on the next one, and on a closed server
            it fails, leaving the connection open and unanswered until the process exits."""
            assert self.loop is not None
            self.loop.call_soon(self._close_listener_now)

        def _close_listener_now(self) -> None:
            """Close the listener, first taking in the connections the kernel already accepted
            (closing it would reset them, their requests unread)."""
            assert self.loop is not None
            for listener in self.servers:
                for sock in listener.sockets:
                    self._take_pending(sock.fileno(), sock.family, sock.type)
                listener.close()
            self.loop.call_later(LISTENER_GRACE_SECONDS, setattr, self, "should_exit", True)

        def _take_pending(self, fileno: int, family: int, kind: int) -> None:
            assert self.loop is not None
            with socket.fromfd(fileno, family, kind) as listening:
                listening.setblocking(False)
                while True:
                    try:
                        connection, _ = listening.accept()
                    except OSError:  # none left (BlockingIOError), or the socket is gone
                        return
                    connection.setblocking(False)
                    self.loop.create_task(self.loop.connect_accepted_socket(self._protocol, connection))

        def _protocol(self) -> asyncio.Protocol:
            """The connection handler uvicorn gives the connections it accepts."""
            return self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.server_state, app_state=self.lifespan.state
            )

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
