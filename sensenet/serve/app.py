"""The ASGI application: routes of the Open Inference Protocol and the plain JSON endpoint,
request bodies read under a size limit, errors as ``{"error": ...}``, access log, metrics and
per-model statistics.

Models load in the background once the server listens: ``/v2/health/live`` answers at once,
``/v2/health/ready`` only when every model is built and has predicted once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sensenet.serve import ServeOptions
from sensenet.serve.batching import Departure
from sensenet.serve.binary import HEADER_LENGTH, split_body
from sensenet.serve.catalog import ServedModel
from sensenet.serve.failures import INTERNAL_MESSAGE, status_of
from sensenet.serve.inference import Inference, InferenceService
from sensenet.serve.lifecycle import Lifecycle
from sensenet.serve.metrics import CONTENT_TYPE, Metrics
from sensenet.serve.protocol import (
    InferRequest,
    infer_response,
    model_metadata,
    parse_infer,
    server_metadata,
)
from sensenet.serve.records import parse_predict, predict_response
from sensenet.serve.refusals import Refused

log = logging.getLogger("sensenet.serve")
access_log = logging.getLogger("sensenet.serve.access")
CLOSE = (b"connection", b"close")


class HTTPError(Exception):
    """A request REST refuses before reading it (a body too large, not JSON, compressed)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


Parse = Callable[[ServedModel, bytes, Request], InferRequest]
Respond = Callable[[ServedModel, InferRequest, Any], Response]


@dataclass
class RestTransport:
    """HTTP requests to and from the protocol-neutral `InferenceService`."""

    service: InferenceService
    options: ServeOptions

    def known(self, request: Request) -> str:
        """The name of the served model a request's path names (and its version, when given)."""
        name = self.service.known(request.path_params["name"], request.path_params.get("version", ""))
        request.scope["sensenet"]["model"] = name
        return name

    async def answer(self, request: Request, parse: Parse, respond: Respond) -> Response:
        """One inference: the body read and parsed here, the rest in the service."""
        name = self.known(request)
        received = time.monotonic()
        self.service.admit(name, received)
        served = self.service.served(name)
        try:
            parsed = parse(served, await _read_body(request, self.options.max_body_bytes), request)
        except Exception:
            self.service.record_failure(name, received)
            raise
        deadline = None if parsed.timeout is None else received + parsed.timeout
        gone = Departure()
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(request, gone))
        try:
            return await self.service.infer(
                Inference(name, parsed.item, parsed.rows, received, deadline, gone),
                partial(respond, served, parsed),
            )
        finally:
            watcher.cancel()


async def _watch_disconnect(request: Request, gone: Departure) -> None:
    """Leave `gone` when the client closes its connection (the body was read: what comes next on
    an HTTP/1.1 connection that waits for its answer is ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    gone.leave()


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": message}, status, headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body; one over `limit` bytes is refused as soon as it is seen."""
    encoding = request.headers.get("content-encoding", "")
    if encoding.strip().lower() not in ("", "identity"):
        raise HTTPError(
            400, f"Content-Encoding {encoding[:40]!r} is not supported: send the body uncompressed"
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body of {length} bytes is over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPError(413, f"request body is over the limit of {limit} bytes")
    if not body:
        raise HTTPError(400, "empty request body: send a JSON object")
    return bytes(body)


def _parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        hint = ""
        if "UTF-8" in str(error):
            hint = (
                " (binary tensor data goes after the JSON, whose length the "
                "Inference-Header-Content-Length header gives)"
            )
        raise HTTPError(400, f"malformed JSON: {error}{hint}") from None


def _parse_infer(served: ServedModel, body: bytes, request: Request) -> InferRequest:
    header, data_after = split_body(body, request.headers.get(HEADER_LENGTH))
    return parse_infer(_parse_json(header), served, data_after)


def _infer_answer(served: ServedModel, parsed: InferRequest, outcome: Any) -> Response:
    answer, chunks = infer_response(served, parsed, outcome)
    if not chunks:
        return _json(answer)
    header = orjson.dumps(answer)
    return Response(
        b"".join([header, *chunks]),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def _parse_predict(served: ServedModel, body: bytes, request: Request) -> InferRequest:
    return parse_predict(_parse_json(body), served)


def _predict_answer(served: ServedModel, parsed: InferRequest, outcome: Any) -> Response:
    return _json(predict_response(served, outcome))


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(name: str, handler: Handler) -> Handler:
    """Labels the request for metrics and turns every failure into a JSON error."""

    async def endpoint(request: Request) -> Response:
        request.scope["sensenet"]["endpoint"] = name
        try:
            return await handler(request)
        except HTTPError as error:
            return _error(error.status, str(error))
        except Exception as error:
            status = status_of(error)
            if status.internal:
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(status.http, INTERNAL_MESSAGE)
            retry = {"Retry-After": str(error.retry_after)} if isinstance(error, Refused) else None
            return _error(status.http, str(error), retry)

    return endpoint


class AccessLog:
    """One log line and one metrics observation per HTTP request; while the server drains, every
    answer says ``Connection: close`` so keep-alive clients reconnect (to another replica)."""

    def __init__(self, app: Any, metrics: Metrics, lifecycle: Lifecycle):
        self.app = app
        self.metrics = metrics
        self.lifecycle = lifecycle

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        labels = scope["sensenet"] = {"endpoint": "other", "model": ""}
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if not self.lifecycle.serving:
                    message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_request(labels["model"], labels["endpoint"], status, seconds)
            client = scope.get("client") or ("-", 0)
            path = scope.get("raw_path", b"").decode("latin-1")  # still percent-encoded: one line
            access_log.info('%s "%s %s" %d %.2fms', client[0], scope["method"], path, status, seconds * 1000)


def create_app(service: InferenceService) -> Starlette:
    """The REST transport of `service` (shared with gRPC, when served) as an application; its
    lifespan loads the service's models and stops them."""
    files, state = service.files, RestTransport(service, service.options)

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        ready = service.ready()
        return _json({"ready": ready}, 200 if ready else 503)

    async def server(request: Request) -> Response:
        return _json(server_metadata())

    async def metadata(request: Request) -> Response:
        return _json(model_metadata(service.served(state.known(request))))

    async def model_ready(request: Request) -> Response:
        name = state.known(request)
        ready = service.model_ready(name)
        return _json({"name": name, "ready": ready}, 200 if ready else 503)

    async def infer(request: Request) -> Response:
        return await state.answer(request, _parse_infer, _infer_answer)

    async def predict(request: Request) -> Response:
        return await state.answer(request, _parse_predict, _predict_answer)

    async def model_stats(request: Request) -> Response:
        name = state.known(request)
        return _json({"model_stats": [service.statistics[name].as_json(name)]})

    async def all_stats(request: Request) -> Response:
        return _json({"model_stats": [stats.as_json(name) for name, stats in service.statistics.items()]})

    async def models(request: Request) -> Response:
        return _json({"models": list(files), "ready": [name for name in files if name in service.models]})

    async def metrics(request: Request) -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # the only kind it is registered for
        return _error(error.status_code, error.detail)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.get_running_loop().create_task(service.load())
        yield
        loading.cancel()
        await asyncio.gather(loading, return_exceptions=True)
        await service.stop()

    model_routes = [  # under /v2/models/NAME and /v2/models/NAME/versions/VERSION
        ("", "metadata", metadata, "GET"),
        ("/ready", "model_ready", model_ready, "GET"),
        ("/infer", "infer", infer, "POST"),
        ("/stats", "stats", model_stats, "GET"),
    ]
    routes = [
        ("/v2", "server", server, "GET"),
        ("/v2/health/live", "live", live, "GET"),
        ("/v2/health/ready", "ready", ready, "GET"),
        ("/v2/models/stats", "stats", all_stats, "GET"),
        *(
            (f"{prefix}{path}", name, handler, method)
            for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
            for path, name, handler, method in model_routes
        ),
        ("/v1/models", "models", models, "GET"),
        ("/v1/models/{name}/predict", "predict", predict, "POST"),
        ("/metrics", "metrics", metrics, "GET"),
    ]
    return Starlette(
        routes=[
            Route(path, _endpoint(name, handler), methods=[method]) for path, name, handler, method in routes
        ],
        middleware=[Middleware(AccessLog, metrics=service.metrics, lifecycle=service.lifecycle)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
