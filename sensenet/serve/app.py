"""The ASGI application: routes of the Open Inference Protocol and the plain JSON endpoint,
request bodies read under a size limit, errors as ``{"error": ...}``, access log and metrics.

Models load in the background once the server listens: ``/v2/health/live`` answers at once,
``/v2/health/ready`` only when every model is built and has predicted once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sensenet.exceptions import SensenetError
from sensenet.serve import ServeOptions
from sensenet.serve.batching import MicroBatcher
from sensenet.serve.catalog import ServedModel, load_model
from sensenet.serve.metrics import CONTENT_TYPE, Metrics
from sensenet.serve.protocol import infer_response, model_metadata, parse_infer, server_metadata
from sensenet.serve.records import parse_predict, predict_response

log = logging.getLogger("sensenet.serve")
access_log = logging.getLogger("sensenet.serve.access")
SHOWN_NAME = 80  # characters of an unknown model name quoted back


class HTTPError(Exception):
    """A request the server refuses before the library sees it (unknown model, body too large)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ServerState:
    files: dict[str, Path]
    options: ServeOptions
    on_failure: Callable[[BaseException], None]
    metrics: Metrics = field(default_factory=Metrics)
    models: dict[str, tuple[ServedModel, MicroBatcher]] = field(default_factory=dict)
    ready: bool = False

    async def load(self) -> None:
        try:
            for name, path in self.files.items():
                served = await asyncio.to_thread(load_model, name, path, self.options.model_settings)
                batcher = MicroBatcher(
                    served.run,
                    max_batch_rows=self.options.max_batch_rows,
                    max_wait=self.options.max_wait,
                    observe=partial(self.metrics.observe_batch, name),
                    name=name,
                )
                batcher.start()
                self.metrics.watch_categories(name, served.unknown_categories)
                self.models[name] = (served, batcher)
                log.info("model %s loaded from %s", name, path)
        except Exception as error:
            log.error("cannot serve: %s", error, exc_info=not isinstance(error, SensenetError))
            self.on_failure(error)
            return
        self.ready = True
        log.info("ready: %s", ", ".join(self.files))

    def model(self, request: Request) -> tuple[ServedModel, MicroBatcher]:
        name = request.path_params["name"]
        if name not in self.files:
            shown = name if len(name) <= SHOWN_NAME else name[:SHOWN_NAME] + "..."
            raise HTTPError(404, f"unknown model {shown!r}; models: {', '.join(self.files)}")
        request.scope["sensenet"]["model"] = name
        if name not in self.models:
            raise HTTPError(503, f"model {name!r} is still loading")
        return self.models[name]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


async def _read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON; a body over `limit` bytes is refused as soon as it is seen."""
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
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise HTTPError(400, f"malformed JSON: {error}") from None


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(name: str, handler: Handler) -> Handler:
    """Labels the request for metrics and turns every failure into a JSON error."""

    async def endpoint(request: Request) -> Response:
        request.scope["sensenet"]["endpoint"] = name
        try:
            return await handler(request)
        except HTTPError as error:
            return _error(error.status, str(error))
        except SensenetError as error:
            return _error(400, str(error))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return _error(500, "internal server error (logged by the server)")

    return endpoint


class AccessLog:
    """One log line and one metrics observation per HTTP request."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

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
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_request(labels["model"], labels["endpoint"], status, seconds)
            client = scope.get("client") or ("-", 0)
            path = scope.get("raw_path", b"").decode("latin-1")  # still percent-encoded: one line
            access_log.info('%s "%s %s" %d %.2fms', client[0], scope["method"], path, status, seconds * 1000)


def create_app(
    files: dict[str, Path], options: ServeOptions, on_failure: Callable[[BaseException], None]
) -> Starlette:
    """The application serving `files` (name -> model file)."""
    state = ServerState(files, options, on_failure)

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        return _json({"ready": state.ready}, 200 if state.ready else 503)

    async def server(request: Request) -> Response:
        return _json(server_metadata())

    async def metadata(request: Request) -> Response:
        served, _ = state.model(request)
        return _json(model_metadata(served))

    async def model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            state.model(request)
        except HTTPError as error:
            if error.status != 503:
                raise
            return _json({"name": name, "ready": False}, 503)
        return _json({"name": name, "ready": True})

    async def infer(request: Request) -> Response:
        served, batcher = state.model(request)
        parsed = parse_infer(await _read_json(request, options.max_body_bytes), served)
        outcome = await batcher.submit(parsed.item, parsed.rows)
        return _json(infer_response(served, parsed, outcome))

    async def predict(request: Request) -> Response:
        served, batcher = state.model(request)
        parsed = parse_predict(await _read_json(request, options.max_body_bytes), served)
        outcome = await batcher.submit(parsed.item, parsed.rows)
        return _json(predict_response(served, outcome))

    async def models(request: Request) -> Response:
        return _json({"models": list(files), "ready": [name for name in files if name in state.models]})

    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # the only kind it is registered for
        return _error(error.status_code, error.detail)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.get_running_loop().create_task(state.load())
        yield
        loading.cancel()
        await asyncio.gather(loading, return_exceptions=True)
        for _, batcher in state.models.values():
            await batcher.stop()

    routes = [
        ("/v2", "server", server, "GET"),
        ("/v2/health/live", "live", live, "GET"),
        ("/v2/health/ready", "ready", ready, "GET"),
        ("/v2/models/{name}", "metadata", metadata, "GET"),
        ("/v2/models/{name}/ready", "model_ready", model_ready, "GET"),
        ("/v2/models/{name}/infer", "infer", infer, "POST"),
        ("/v1/models", "models", models, "GET"),
        ("/v1/models/{name}/predict", "predict", predict, "POST"),
        ("/metrics", "metrics", metrics, "GET"),
    ]
    return Starlette(
        routes=[
            Route(path, _endpoint(name, handler), methods=[method]) for path, name, handler, method in routes
        ],
        middleware=[Middleware(AccessLog, metrics=state.metrics)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
