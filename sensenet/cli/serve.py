"""`sensenet serve`: models behind HTTP (Open Inference Protocol v2 and a plain JSON endpoint) and,
with --grpc-port, the protocol's gRPC service."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sensenet.cli.model_file import CACHE_HELP, add_cache_argument, cache_settings, open_model
from sensenet.examples import EXAMPLES, example_path
from sensenet.exceptions import ModelNotFoundError, SettingsError
from sensenet.extras import require_extra
from sensenet.serve import DRAIN_SECONDS, MAX_QUEUE_WAIT, ServeOptions
from sensenet.serve.catalog import find_model_files
from sensenet.serve.server import run_server

HELP = "serve models over HTTP and gRPC (Open Inference Protocol v2, plain JSON, Prometheus metrics)"
QUIET_HELP = "log warnings and errors only, no access log"
USAGE = "sensenet serve [options] [--example NAME] MODEL_OR_DIR [MODEL_OR_DIR ...]"
DESCRIPTION = (
    """\
Serve BigML deepnets over HTTP. Each MODEL file (.json, .json.gz, BigML's
.zip download, .smbundle) is served under its file name without that suffix;
a DIR stands for the model files directly inside it; --example NAME serves a
model shipped with sensenet under NAME. Models load once, at start-up;
/v2/health/ready answers 200 when all are built.

Endpoints:
  GET  /v2, /v2/health/live, /v2/health/ready
  GET  /v2/models/NAME            metadata: input and output tensors
  GET  /v2/models/NAME/ready
  POST /v2/models/NAME/infer      Open Inference Protocol (KServe v2) tensors,
                                  in JSON or binary tensor data
  GET  /v2/models[/NAME]/stats    inference statistics (Triton's extension)
  (/v2/models/NAME/versions/1/... too: every model has version 1)
  GET  /v1/models                 the names served
  POST /v1/models/NAME/predict    {"rows": [[...]]}, {"records": [{FIELD: value}]}
                                  or {"images": [BASE64, ...]} -> {"predictions": [...]}
  GET  /metrics                   Prometheus text format

With --grpc-port P, the same models answer on port P the protocol's gRPC
service (inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady,
ServerMetadata, ModelMetadata, ModelInfer, ModelStatistics), as
tritonclient.grpc speaks it; images there are BYTES elements holding the
image files' bytes.

Images travel as base64 strings of the image files. One access-log line per
request goes to stderr (--quiet: warnings and errors only).

Under load: a request is refused at once (503, Retry-After, {"error": ...})
when its model's queued work would take over --max-queue-ms at its measured
rate, or longer than the request has left (the Open Inference Protocol's
"timeout" parameter in microseconds, else --request-timeout-ms). A request
still queued at its deadline, or whose client closed the connection, is
dropped uncomputed. Refusals are counted in the statistics (refusal_stats)
and /metrics (sensenet_refused_total).

SIGTERM: /v2/health/ready answers 503 at once, requests are still answered
for --drain-seconds (with Connection: close), then the listener closes, the
requests already read are answered and the server exits 0. Ctrl-C: the same
without the wait. Needs the extra 'serve': pip install "sensenet-local[serve]".

"""
    + CACHE_HELP
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = DESCRIPTION
    parser.add_argument("inputs", nargs="*", metavar="MODEL_OR_DIR", help=argparse.SUPPRESS)
    parser.add_argument(
        "--example",
        action="append",
        default=[],
        metavar="NAME",
        choices=sorted(EXAMPLES),
        help=f"serve a model shipped with sensenet (repeatable): {', '.join(sorted(EXAMPLES))}",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument(
        "--grpc-port",
        type=int,
        metavar="P",
        help="also serve the Open Inference Protocol's gRPC service on port P, same host (default: off)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        metavar="ROWS",
        help="most rows predicted in one engine call by merging requests (default: 64; 8 for "
        "models that read images, which cost more per image in larger batches)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=1.0,
        metavar="MS",
        help="how long a batch waits for more requests when clients send concurrently (default: 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="threads one prediction may use (default: 1; requests run in parallel by batching, "
        "and an image model's batch that runs alone uses every core; an .smbundle keeps its own "
        "setting)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="batches of one model predicted side by side, the waiting requests split among the "
        "free ones (default: one per core for models that read images, 1 for the others)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="largest request body accepted; larger ones get 413, or RESOURCE_EXHAUSTED over gRPC "
        "(default: 16 MiB)",
    )
    add_cache_argument(parser)
    parser.add_argument(
        "--max-queue-ms",
        type=float,
        default=MAX_QUEUE_WAIT * 1000,
        metavar="MS",
        help="refuse requests (503 + Retry-After) while a model's queued work would take longer "
        f"than this at its measured rate (default: {MAX_QUEUE_WAIT * 1000:g})",
    )
    parser.add_argument(
        "--request-timeout-ms",
        type=float,
        metavar="MS",
        help="drop a request (503) still waiting for a worker this long after it arrived; a "
        "request's own 'timeout' parameter overrides it (default: no limit)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=DRAIN_SECONDS,
        metavar="S",
        help="after SIGTERM, answer requests (readiness 503) this long before closing the listener; "
        f"set it to your load balancer's endpoint-removal delay (default: {DRAIN_SECONDS:g})",
    )


def _options(args: argparse.Namespace) -> ServeOptions:
    if args.max_batch_size is not None and args.max_batch_size < 1:
        raise SettingsError(f"--max-batch-size must be at least 1, got {args.max_batch_size}")
    if not 0 <= args.max_wait_ms <= 10_000:
        raise SettingsError(f"--max-wait-ms must be between 0 and 10000, got {args.max_wait_ms}")
    if args.max_body_bytes < 1:
        raise SettingsError(f"--max-body-bytes must be at least 1, got {args.max_body_bytes}")
    if args.threads < 1:
        raise SettingsError(f"--threads must be at least 1, got {args.threads}")
    if args.workers is not None and args.workers < 1:
        raise SettingsError(f"--workers must be at least 1, got {args.workers}")
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port must be between 0 and 65535, got {args.port}")
    if not 0 < args.max_queue_ms <= 3_600_000:
        raise SettingsError(f"--max-queue-ms must be over 0 and at most 3600000, got {args.max_queue_ms}")
    if args.request_timeout_ms is not None and not 0 < args.request_timeout_ms <= 3_600_000:
        raise SettingsError(
            f"--request-timeout-ms must be over 0 and at most 3600000, got {args.request_timeout_ms}"
        )
    if not 0 <= args.drain_seconds <= 3600:
        raise SettingsError(f"--drain-seconds must be between 0 and 3600, got {args.drain_seconds}")
    if args.grpc_port is not None and not 1 <= args.grpc_port <= 65535:
        raise SettingsError(f"--grpc-port must be between 1 and 65535, got {args.grpc_port}")
    if args.grpc_port == args.port:
        raise SettingsError(f"--grpc-port and --port must differ, both are {args.port}")
    return ServeOptions(
        max_batch_rows=args.max_batch_size,
        max_wait=args.max_wait_ms / 1000,
        max_body_bytes=args.max_body_bytes,
        threads=args.threads,
        workers=args.workers,
        max_queue_wait=args.max_queue_ms / 1000,
        request_timeout=None if args.request_timeout_ms is None else args.request_timeout_ms / 1000,
        drain_seconds=args.drain_seconds,
    )


def _model_files(args: argparse.Namespace) -> dict[str, Path]:
    """Model name -> file, from the positionals and the --example names."""
    examples = {name: example_path(name) for name in args.example}
    files = find_model_files(args.inputs) if args.inputs or not examples else {}
    repeated = sorted(files.keys() & examples.keys())
    if repeated:
        raise ModelNotFoundError(f"two models would be served as {repeated[0]!r}: a file and --example")
    return {**files, **examples}


def read_any_model(path: Path, settings: dict[str, Any]) -> Any:
    """A model from any file `predict` and `detect` read (the CLI's one reader)."""
    return open_model(os.fspath(path)).create(settings)


def run(args: argparse.Namespace) -> int:
    require_extra("serve", "sensenet serve")
    options = _options(args)
    files = _model_files(args)
    import logging  # here: every other command starts without it

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    no_cache = cache_settings(args)
    run_server(
        files,
        args.host,
        args.port,
        options,
        lambda path, settings: read_any_model(path, {**settings, **no_cache}),
        args.grpc_port,
    )
    return 0
