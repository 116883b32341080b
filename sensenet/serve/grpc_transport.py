"""The Open Inference Protocol's gRPC service (`sensenet serve --grpc-port`), served by grpc.aio on
the event loop uvicorn runs: both transports share one `InferenceService`, so one admission, one
batcher per model, one set of statistics and metrics.

Each RPC decodes its message (`grpc_codec`), asks the service and encodes the answer. A failure is
a status code a client can act on, from the table REST answers from (`failures`): NOT_FOUND for a
model or version not served, INVALID_ARGUMENT for bad input, UNAVAILABLE for a refusal
(overloaded, deadline, draining, loading; its ``retry-after`` trailer in seconds, as REST's
header), RESOURCE_EXHAUSTED (grpc's own) for a message over ``--max-body-bytes``; INTERNAL only
for a fault of the server, which it logs. A client's deadline or cancellation drops its request if
no worker took it yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from sensenet.exceptions import InputDataError, SensenetError, SettingsError
from sensenet.serve import grpc_codec
from sensenet.serve.batching import Departure
from sensenet.serve.failures import INTERNAL_MESSAGE, Status, status_of
from sensenet.serve.grpc_messages import (
    SERVICE,
    ModelReadyResponse,
    ServerLiveResponse,
    ServerReadyResponse,
    message_classes,
)
from sensenet.serve.inference import Inference, InferenceService
from sensenet.serve.refusals import Refused

log = logging.getLogger("sensenet.serve")
access_log = logging.getLogger("sensenet.serve.access")
OK = Status(200, "OK")
CANCELLED = Status(499, "CANCELLED")  # the client's: never answered


@dataclass
class GrpcTransport:
    """The RPCs of GRPCInferenceService, each (request message, context) -> response message."""

    service: InferenceService

    async def server_live(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return ServerReadyResponse(ready=self.service.ready())

    async def model_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        name = self.service.known(request.name, request.version)
        return ModelReadyResponse(ready=self.service.model_ready(name))

    async def server_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return grpc_codec.server_metadata_response()

    async def model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        served = self.service.served(self.service.known(request.name, request.version))
        return grpc_codec.model_metadata_response(served)

    async def model_statistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        statistics = self.service.statistics
        if request.name or request.version:
            name = self.service.known(request.name, request.version)
            statistics = {name: statistics[name]}
        return grpc_codec.statistics_response(statistics)

    async def model_infer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """One inference: decoded here, admitted, batched and counted by the service."""
        name = self.service.known(request.model_name, request.model_version)
        received = time.monotonic()
        self.service.admit(name, received)  # an overloaded model refuses before the decoding
        served = self.service.served(name)
        try:
            parsed = grpc_codec.parse_infer(request, served)
        except SensenetError:
            self.service.record_failure(name, received)
            raise
        deadlines = [received + seconds for seconds in (parsed.timeout, context.time_remaining()) if seconds]
        gone = Departure()
        inference = Inference(name, parsed.item, parsed.rows, received, min(deadlines, default=None), gone)
        answer = asyncio.ensure_future(
            self.service.infer(inference, partial(grpc_codec.infer_response, served, parsed))
        )
        try:
            return await asyncio.shield(answer)
        except asyncio.CancelledError:  # the client cancelled, or its deadline passed
            gone.leave()  # dropped if still queued, and counted as the service counts any refusal
            await asyncio.gather(answer, return_exceptions=True)
            raise


Rpc = Callable[[GrpcTransport, Any, grpc.aio.ServicerContext], Awaitable[Any]]
RPCS: dict[str, Rpc] = {
    "ServerLive": GrpcTransport.server_live,
    "ServerReady": GrpcTransport.server_ready,
    "ModelReady": GrpcTransport.model_ready,
    "ServerMetadata": GrpcTransport.server_metadata,
    "ModelMetadata": GrpcTransport.model_metadata,
    "ModelInfer": GrpcTransport.model_infer,
    "ModelStatistics": GrpcTransport.model_statistics,
}
Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]


def _model_label(service: InferenceService, request: Any) -> str:
    """The model a request names (None: unreadable), for metrics: only ever a served name."""
    name = getattr(request, "model_name", None) or getattr(request, "name", "")
    return name if isinstance(name, str) and service.knows(name) else ""


def _rpc(method: Any, transport: GrpcTransport) -> Handler:
    """The RPC `method` (of SERVICE) from its message's bytes to its answer's, every failure
    turned into a status code, logged and counted. The request is parsed here, so a message that
    is none gets INVALID_ARGUMENT, not grpc's INTERNAL."""
    rpc, handler, service = method.name, RPCS[method.name], transport.service
    request_class, response_class = message_classes(method)

    async def call(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        start = time.perf_counter()
        status, message = OK, ""
        trailers: tuple[tuple[str, str], ...] = ()
        request = None
        try:
            try:
                request = request_class.FromString(data)
            except DecodeError as error:
                raise InputDataError(f"not a {request_class.__name__} message: {error}") from None
            return (await handler(transport, request, context)).SerializeToString()
        except asyncio.CancelledError:
            status = CANCELLED
            raise
        except Exception as error:
            status, message = status_of(error), str(error)
            if status.internal:
                log.exception("gRPC %s failed", rpc)
                message = INTERNAL_MESSAGE
            if isinstance(error, Refused):
                trailers = (("retry-after", str(error.retry_after)),)
        finally:
            seconds = time.perf_counter() - start
            model = _model_label(service, request)
            service.metrics.observe_request(model, f"grpc_{rpc}", status.http, seconds)
            if access_log.isEnabledFor(logging.INFO):  # not with --quiet: the peer's name costs
                call_name = " ".join(filter(None, ("gRPC", rpc, model)))
                access_log.info('%s "%s" %s %.2fms', context.peer(), call_name, status.grpc, seconds * 1000)
        await context.abort(getattr(grpc.StatusCode, status.grpc), message, trailers)

    return call


def _handlers(transport: GrpcTransport) -> grpc.GenericRpcHandler:
    methods = {
        method.name: grpc.unary_unary_rpc_method_handler(_rpc(method, transport))
        for method in SERVICE.methods
    }
    return grpc.method_handlers_generic_handler(SERVICE.full_name, methods)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_grpc(
    service: InferenceService, host: str, port: int, max_message_bytes: int
) -> grpc.aio.Server:
    """The gRPC server listening on `host`:`port` (on the running event loop); a message over
    `max_message_bytes` gets RESOURCE_EXHAUSTED."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),  # a port another process listens on is refused, not shared
        ]
    )
    server.add_generic_rpc_handlers((_handlers(GrpcTransport(service)),))
    try:
        server.add_insecure_port(address(host, port))
    except RuntimeError:  # grpc logs why (e.g. "Address already in use") on stderr
        raise SettingsError(
            f"cannot listen for gRPC on {address(host, port)}: the port is in use, or the address is "
            "not one of this machine's (--host, --grpc-port)"
        ) from None
    await server.start()
    log.info("gRPC (inference.GRPCInferenceService) on %s", address(host, port))
    return server
