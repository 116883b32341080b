"""Load on `sensenet serve` and on the peer a user would pick instead: requests/s, p50 and p99
latency at 1, 8 and 64 concurrent clients, over REST and over gRPC.

The peer is KServe's Python model server (package ``kserve``): a ``kserve.Model`` whose
``predict`` runs onnxruntime on the ONNX graph sensenet exports (`convert(model, None, path,
"onnx")`, self-contained: one input per field, BigML's encoding inside the graph). It is not a
dependency of sensenet; install it in a venv of its own, for this benchmark only:

    python3 -m venv /tmp/kserve-venv
    /tmp/kserve-venv/bin/pip install "kserve>=0.21,<0.22" onnxruntime pillow numpy

Run from the repository root (it reads the BigML fixtures, like the tests):

    KSERVE_PYTHON=/tmp/kserve-venv/bin/python python3 benchmarks/serve.py [--seconds 12]

Without KSERVE_PYTHON only the floor and sensenet are measured. Two models:
- ``ensemble``: two networks of regression.json.gz (case 5, with tree embeddings, and case 2)
  averaged; 13 rows per request (a holdout-sized batch), one binary tensor per field (FP32
  numbers, BYTES categories); both servers get the same request bytes;
- ``mobilenetv2``: the MobileNetV2 topology of pretrained_topologies.json.gz with generated
  weights (the server is measured, not the weights), one JPEG per request (dog.jpg, 800x600). The
  peer decodes it with Pillow and fits it to 224x224 as the model's ``crop`` says. KServe 0.21
  turns binary BYTES into text before a model sees them and answers a JPEG sent that way with a
  500, so it gets the image as base64 in JSON; sensenet is measured with the JPEG as binary BYTES
  (``sensenet/mobilenetv2``) and with the peer's very request (``sensenet/mobilenetv2-json``).

gRPC cells (``-grpc``): both servers also serve the protocol's gRPC service (sensenet with
``--grpc-port``, KServe on its ``grpc_port``) and get a ModelInferRequest with every input in
``raw_input_contents``, tritonclient's way: the same bytes for both on the ensemble; for
MobileNetV2 sensenet gets the JPEG's bytes as the BYTES element, KServe (whose model decodes base64,
as above) the JPEG in base64. Target (issue 28): at 64 clients sensenet's gRPC >= 1.5x KServe's
gRPC requests/s with a p99 no worse, and no slower than sensenet's own REST binary cell.

The load generator is the same for all: asyncio clients on keep-alive connections (gRPC: one
grpc.aio channel each, on a connection of its own), each sending one request after another until
the cell's time is up, on 127.0.0.1. A request sensenet's admission refuses (503, UNAVAILABLE) is
counted in the "refused" column, not in the latencies, and its client waits the Retry-After it
was given, as a polite client does. The servers take turns at each level,
so a change in the machine's load hits them alike; neither logs a line per request. sensenet runs
with its defaults (one onnxruntime thread per prediction, a worker per core for image models);
the peer's session has onnxruntime's default threads (every core), or KSERVE_THREADS of them
(``KSERVE_THREADS=1`` suits its row model better). The floor is the Starlette/uvicorn
stack answering a constant. Target: at 1, 8 and 64 clients, sensenet >= the peer's requests/s
for both models, with a p99 no worse. Nothing here is a test: a missed target is printed, not
raised.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # this checkout's sensenet and tests, not an installed one
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
CLIENTS = (1, 8, 64)
MODELS = ("ensemble", "mobilenetv2")
ENSEMBLE_ROWS = 13
MAX_REQUESTS_PER_CLIENT = 100_000
WARM_UP_REQUESTS = 30
TIMEOUT = 30.0
START_TIMEOUT = 180.0
IMAGE = "images/dog.jpg"
GRPC_PORT = "<grpc port>"  # in a command: the gRPC port given to the server
INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
GRPC_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),  # a connection per client, as the HTTP clients have
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


@dataclass
class Served:
    label: str  # server/model
    command: list[str] | None  # the HTTP port follows; None: the process of the server before
    request: bytes
    transport: str = "http"  # or "grpc": `request` is a serialized ModelInferRequest
    process: subprocess.Popen | None = None
    port: int = 0
    grpc_port: int = 0


def floor_app():
    """The stack alone: read the body, answer a constant JSON."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = json.dumps(
        {
            "model_name": "floor",
            "outputs": [{"name": "prediction", "datatype": "FP32", "shape": [1, 1], "data": [0.5]}],
        }
    ).encode()

    async def infer(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    routes = [Route("/v2/models/{name}/infer", infer, methods=["POST"]), Route("/v2/health/ready", ready)]
    return Starlette(routes=routes)


def _text(value: bytes | str) -> str:
    """A BYTES element as KServe hands it over: text it decoded from binary data, or bytes."""
    return value.decode() if isinstance(value, bytes) else value


def kserve_main(kind: str, onnx_path: str, name: str, port: int, grpc_port: int) -> None:
    """The peer: KServe's model server with an onnxruntime Model (runs in the kserve venv), REST on
    `port` and gRPC on `grpc_port`."""
    import base64
    import io
    import logging

    import kserve
    import kserve.protocol.grpc.server as kserve_grpc
    import onnxruntime
    import uvicorn
    from kserve.protocol.infer_type import InferOutput, InferResponse
    from PIL import Image, ImageOps

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("KSERVE_THREADS", "0"))  # 0: every core
    session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    described = json.loads(session.get_modelmeta().custom_metadata_map["sensenet"])
    classes = np.array(described["classes"], dtype=object)
    size = (described["image"]["width"], described["image"]["height"]) if kind == "image" else None

    def feeds(request) -> dict:
        if kind == "image":
            (tensor,) = request.inputs
            images = [
                ImageOps.fit(
                    Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), size, Image.NEAREST
                )
                for data in tensor.as_numpy().ravel()
            ]
            return {described["inputs"]["images"][0]: np.stack([np.asarray(i, np.float32) for i in images])}
        columns = {}
        for tensor in request.inputs:
            values = tensor.as_numpy().reshape(-1, 1)
            if tensor.datatype == "BYTES":
                values = np.array([[_text(value)] for value in values.ravel()], dtype=object)
            columns[tensor.name] = values
        return columns

    class OnnxModel(kserve.Model):
        def __init__(self):
            super().__init__(name)
            self.ready = True

        def predict(self, payload, headers=None):
            (probabilities,) = session.run(None, feeds(payload))
            outputs = [
                InferOutput("probabilities", list(probabilities.shape), "FP32"),
                InferOutput("prediction", [len(probabilities)], "BYTES"),
            ]
            outputs[0].set_data_from_numpy(probabilities.astype(np.float32), binary_data=False)
            outputs[1].set_data_from_numpy(classes[probabilities.argmax(axis=1)], binary_data=False)
            return InferResponse(payload.id or "", name, outputs)

    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    config = uvicorn.Config  # KServe listens on every address; here only on 127.0.0.1
    uvicorn.Config = lambda app, **options: config(app, **{**options, "host": "127.0.0.1"})
    grpc_server = kserve_grpc.aio.server

    def local_grpc_server(*args, **options):
        server = grpc_server(*args, **options)
        add_port = server.add_insecure_port
        server.add_insecure_port = lambda address: add_port(address.replace("[::]", "127.0.0.1"))
        return server

    kserve_grpc.aio.server = local_grpc_server
    server = kserve.ModelServer(
        http_port=port, grpc_port=grpc_port, enable_grpc=True, enable_latency_logging=False, workers=1
    )
    server.start([OnnxModel()])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(served: Served, log) -> None:
    assert served.command is not None
    served.port, served.grpc_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [str(served.grpc_port) if arg == GRPC_PORT else arg for arg in served.command]
    served.process = subprocess.Popen([*command, str(served.port)], stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise SystemExit(f"{served.label} exited with {served.process.returncode}: see {log.name}")
        try:
            with socket.create_connection(("127.0.0.1", served.port), timeout=1) as sock:
                sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{served.label} not ready after {START_TIMEOUT} s")


def stop(served: Served) -> None:
    if served.process is not None and served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.process.kill()


class Refusal(Exception):
    """A 503 or UNAVAILABLE answer: the server's admission refused the request."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after


class Tally:
    """What one cell's clients saw."""

    def __init__(self) -> None:
        self.latencies: list[float] = []  # of the requests answered
        self.refused = 0


async def exchange(reader, writer, request: bytes) -> bytes:
    """One request on a keep-alive connection; the answer's body (a 503 raises `Refusal`, any other
    non-200 stops the run)."""
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    if head.startswith(b"HTTP/1.1 503"):
        after = [line for line in head.split(b"\r\n") if line.lower().startswith(b"retry-after:")]
        raise Refusal(float(after[0].split(b":", 1)[1]) if after else 1.0)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected answer: {head[:200]!r} {body[:300]!r}")
    return body


async def wait_after(refusal: Refusal, tally: Tally, deadline: float) -> None:
    """Count a refusal and wait its Retry-After (a polite client), or until the cell ends."""
    tally.refused += 1
    await asyncio.sleep(max(0.0, min(refusal.retry_after, deadline - time.perf_counter())))


async def client(port: int, request: bytes, deadline: float, tally: Tally) -> None:
    """One keep-alive connection sending requests one after another until `deadline`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            try:
                await exchange(reader, writer, request)
            except Refusal as refusal:
                await wait_after(refusal, tally, deadline)
                continue
            tally.latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def grpc_client(port: int, request: bytes, deadline: float, tally: Tally) -> None:
    """One channel sending ModelInfer calls one after another until `deadline` (UNAVAILABLE is a
    refusal; any other failed call raises and stops the run)."""
    import grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS) as channel:
        infer = channel.unary_unary(INFER_METHOD)  # bytes in, bytes out
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            try:
                await infer(request, timeout=TIMEOUT)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                after = dict(error.trailing_metadata() or ()).get("retry-after", "1")
                await wait_after(Refusal(float(after)), tally, deadline)
                continue
            tally.latencies.append(time.perf_counter() - start)


async def load(served: Served, clients: int, seconds: float) -> tuple[float, Tally]:
    tally = Tally()
    one, port = (grpc_client, served.grpc_port) if served.transport == "grpc" else (client, served.port)
    start = time.perf_counter()
    await asyncio.gather(*(one(port, served.request, start + seconds, tally) for _ in range(clients)))
    return time.perf_counter() - start, tally


async def answer_of(served: Served) -> bytes:
    """One answer's body (HTTP) or serialized ModelInferResponse (gRPC)."""
    if served.transport == "grpc":
        import grpc

        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{served.grpc_port}", options=GRPC_OPTIONS
        ) as channel:
            return await channel.unary_unary(INFER_METHOD)(
                served.request, timeout=TIMEOUT, wait_for_ready=True
            )
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        return await exchange(reader, writer, served.request)
    finally:
        writer.close()


Tensors = list[tuple[str, str, list[int], bytes]]  # name, datatype, shape, binary data


def infer_request(model: str, tensors: Tensors) -> bytes:
    """An HTTP request with every input as binary tensor data."""
    inputs = [
        {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": len(data)}}
        for name, datatype, shape, data in tensors
    ]
    header = json.dumps({"inputs": inputs}).encode()
    body = header + b"".join(data for *_, data in tensors)
    head = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {len(header)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def grpc_request(model: str, tensors: Tensors) -> bytes:
    """A serialized ModelInferRequest with every input in raw_input_contents (tritonclient's way)."""
    from sensenet.serve.grpc_messages import message

    request = message("ModelInferRequest")(model_name=model)
    for name, datatype, shape, data in tensors:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(data)
    return request.SerializeToString()


def json_request(model: str, inputs: list[dict]) -> bytes:
    """An HTTP request with the inputs in JSON."""
    body = json.dumps({"inputs": inputs}).encode()
    head = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def bytes_tensor(values: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(value)) + value for value in values)


def ensemble_tensors(model, rows: list[list]) -> Tensors:
    tensors = []
    for field in model.fields:
        values = [row[field.index] for row in rows]
        if field.optype == "numeric":
            data = np.array([np.nan if v is None else v for v in values], "<f4").tobytes()
            tensors.append((field.name, "FP32", [len(rows)], data))
        else:
            data = bytes_tensor([b"" if v is None else str(v).encode() for v in values])
            tensors.append((field.name, "BYTES", [len(rows)], data))
    return tensors


def ensemble_network() -> tuple[dict, list]:
    """Two networks of the fixtures averaged (one with tree embeddings), and 13 of their rows."""
    with gzip.open(FIXTURES / "regression.json.gz") as stream:
        cases = json.load(stream)
    with_trees, plain = cases[5]["model"], cases[2]["model"]
    network = {
        **{key: with_trees[key] for key in ("preprocess", "output_exposition")},
        "trees": with_trees.get("trees"),
        "networks": [
            {"layers": with_trees["layers"], "trees": True},
            {"layers": plain["layers"], "trees": False},
        ],
    }
    return network, [case["input"] for case in cases[5]["validation"]][:ENSEMBLE_ROWS]


def mobilenet_network() -> dict:
    from tests.pretrained_helpers import with_generated_weights

    with gzip.open(FIXTURES / "pretrained_topologies.json.gz") as stream:
        return with_generated_weights(json.load(stream)["mobilenetv2"])


def build_model(name: str, directory: Path) -> dict[str, bytes]:
    """The model written as deepnet JSON and as ONNX; its requests by form (for images, "json" and
    "grpc-base64" carry the JPEG in base64, what the peer reads)."""
    from sensenet.models.wrappers import convert, create_model

    network, rows = ensemble_network() if name == "ensemble" else (mobilenet_network(), None)
    model = create_model(network)
    convert(model, None, str(directory / f"{name}.onnx"), "onnx")
    (directory / f"{name}.json").write_text(json.dumps(network, default=lambda a: np.asarray(a).tolist()))
    if rows is not None:
        tensors = ensemble_tensors(model, rows)
        return {"binary": infer_request(name, tensors), "grpc": grpc_request(name, tensors)}
    jpeg = (FIXTURES / IMAGE).read_bytes()
    encoded = base64.b64encode(jpeg)
    tensor = {"name": model.fields[0].name, "datatype": "BYTES", "shape": [1]}
    return {
        "binary": infer_request(name, [(tensor["name"], "BYTES", [1], bytes_tensor([jpeg]))]),
        "json": json_request(name, [{**tensor, "data": [encoded.decode()]}]),
        "grpc": grpc_request(name, [(tensor["name"], "BYTES", [1], bytes_tensor([jpeg]))]),
        "grpc-base64": grpc_request(name, [(tensor["name"], "BYTES", [1], bytes_tensor([encoded]))]),
    }


def servers_for(model: str, directory: Path, kserve_python: str | None) -> list[Served]:
    """sensenet serving `model` (binary requests; for images base64 JSON too; gRPC), and the peer
    (REST and gRPC).

    KServe 0.21 turns binary BYTES into text before the model sees them, and answers a JPEG
    sent that way with a 500: it gets the image as base64 in JSON, as its documentation sends it.
    """
    requests = build_model(model, directory)
    command = [
        sys.executable,
        "-m",
        "sensenet",
        "serve",
        "--quiet",
        str(directory / f"{model}.json"),
        "--grpc-port",
        GRPC_PORT,
        "--port",
    ]
    servers = [Served(f"sensenet/{model}", command, requests["binary"])]
    if "json" in requests:
        servers.append(Served(f"sensenet/{model}-json", None, requests["json"]))
    servers.append(Served(f"sensenet/{model}-grpc", None, requests["grpc"], "grpc"))
    if kserve_python:
        kind = "image" if "json" in requests else "rows"
        onnx = str(directory / f"{model}.onnx")
        command = [kserve_python, __file__, "--kserve", kind, onnx, model, GRPC_PORT]
        label = f"kserve/{model}-json" if "json" in requests else f"kserve/{model}"
        servers.append(Served(label, command, requests.get("json", requests["binary"])))
        grpc_form = "grpc-base64" if "json" in requests else "grpc"
        servers.append(Served(f"kserve/{model}-{grpc_form}", None, requests[grpc_form], "grpc"))
    return servers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(served: Served, clients: int, seconds: float) -> tuple:
    cpu = cpu_seconds(served.process.pid)
    elapsed, tally = asyncio.run(load(served, clients, seconds))
    latencies = tally.latencies
    cpu_ms = (cpu_seconds(served.process.pid) - cpu) / len(latencies) * 1000
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    rate = len(latencies) / elapsed
    load1 = os.getloadavg()[0]
    print(
        f"{served.label:>22} {clients:>3} clients: {rate:8.1f} req/s  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  "
        f"server CPU {cpu_ms:.3f} ms/request  refused {tally.refused}  load {load1:.2f}",
        flush=True,
    )
    return served.label, clients, rate, p50, p99, cpu_ms, tally.refused, load1


def probabilities(served: Served, answer: bytes) -> np.ndarray:
    if served.transport == "grpc":
        from sensenet.serve.grpc_messages import message

        response = message("ModelInferResponse").FromString(answer)
        (index,) = [i for i, output in enumerate(response.outputs) if output.name == "probabilities"]
        if response.raw_output_contents:
            return np.frombuffer(response.raw_output_contents[index], "<f4")
        return np.float32(response.outputs[index].contents.fp32_contents)
    outputs = {output["name"]: output for output in json.loads(answer)["outputs"]}
    return np.float32(outputs["probabilities"]["data"])


def check_same_answers(servers: list[Served]) -> None:
    """The peer must answer what sensenet answers, or the comparison means nothing."""
    pairs = {
        "ensemble": ("ensemble", "ensemble"),
        "ensemble over gRPC": ("ensemble-grpc", "ensemble-grpc"),
        "mobilenetv2": ("mobilenetv2-json", "mobilenetv2-json"),
        "mobilenetv2 over gRPC": ("mobilenetv2-grpc", "mobilenetv2-grpc-base64"),
    }
    labels = {s.label: s for s in servers}
    for model, (ours, theirs) in pairs.items():
        pair = [labels.get(f"sensenet/{ours}"), labels.get(f"kserve/{theirs}")]
        if all(pair):
            answers = [probabilities(s, asyncio.run(answer_of(s))) for s in pair]
            gap = float(np.abs(answers[0] - answers[1]).max())
            print(f"{model}: largest difference between the two servers' probabilities {gap:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="time per cell (default: 12)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, help="models measured")
    parser.add_argument("--clients", nargs="+", type=int, default=CLIENTS, help="levels of concurrency")
    parser.add_argument(
        "--plot", metavar="SVG", help="also draw requests/s as a picture (benchmarks/plot.py)"
    )
    args = parser.parse_args()
    kserve_python = os.environ.get("KSERVE_PYTHON")
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="sensenet-serve-bench-") as name:
        directory = Path(name)
        servers = [Served("floor", [sys.executable, __file__, "--floor"], infer_request("floor", []))]
        for model in args.models:
            servers += servers_for(model, directory, kserve_python)
        rows = []
        with open(directory / "servers.log", "wb") as log:
            try:
                for before, served in zip([None, *servers], servers):
                    if served.command is None:
                        served.process, served.port, served.grpc_port = (
                            before.process,
                            before.port,
                            before.grpc_port,
                        )
                    else:
                        start(served, log)
                    for _ in range(WARM_UP_REQUESTS):
                        asyncio.run(answer_of(served))
                check_same_answers(servers)
                for clients in args.clients:
                    for served in servers:
                        rows.append(measure(served, clients, args.seconds))
            finally:
                for served in servers:
                    if served.command is not None:
                        stop(served)
    print(f"load average after: {os.getloadavg()}")
    print_table(rows)
    if args.plot:
        chart(rows).write(args.plot)


def chart(rows: list[tuple]) -> Any:
    """Requests per second, a panel per level of concurrency, a bar per server and model."""
    from benchmarks.plot import Chart

    drawn = Chart("sensenet serve: requests/s by concurrent clients (benchmarks/serve.py)")
    for label, clients, rate, *_ in rows:
        drawn.add(f"{clients} concurrent clients", label, rate, "requests/s")
    return drawn


def print_table(rows: list[tuple]) -> None:
    print(
        "\n| server/model | clients | requests/s | p50 ms | p99 ms | server CPU ms/request | refused | "
        "load (1 min) |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for label, clients, rate, p50, p99, cpu_ms, refusals, load1 in rows:
        figures = f"{rate:.1f} | {p50:.2f} | {p99:.2f} | {cpu_ms:.3f} | {refusals} | {load1:.2f}"
        print(f"| {label} | {clients} | {figures} |")
    cells = {(row[0], row[1]): row for row in rows}
    # (ours, the peer's, the ratio of requests/s targeted)
    pairs = (
        ("sensenet/ensemble", "kserve/ensemble", 1.0),
        ("sensenet/mobilenetv2", "kserve/mobilenetv2-json", 1.0),
        ("sensenet/mobilenetv2-json", "kserve/mobilenetv2-json", 1.0),
        ("sensenet/ensemble-grpc", "kserve/ensemble-grpc", 1.5),
        ("sensenet/mobilenetv2-grpc", "kserve/mobilenetv2-grpc-base64", 1.5),
        ("sensenet/ensemble-grpc", "sensenet/ensemble", 1.0),  # gRPC no slower than REST binary
        ("sensenet/mobilenetv2-grpc", "sensenet/mobilenetv2", 1.0),
    )
    for clients in sorted({row[1] for row in rows}):
        for label, peer_label, target in pairs:
            ours, peer = cells.get((label, clients)), cells.get((peer_label, clients))
            if ours and peer:
                met = ours[2] >= target * peer[2] and ours[4] <= peer[4]
                print(
                    f"{label} at {clients} clients: {ours[2] / peer[2]:.2f}x {peer_label}'s requests/s, "
                    f"p99 {ours[4]:.1f} ms vs {peer[4]:.1f} ms "
                    f"(target >= {target:g}x, p99 no worse: {'met' if met else 'MISSED'})"
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:
        import uvicorn

        uvicorn.run(floor_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    elif sys.argv[1:2] == ["--kserve"]:
        kserve_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[6]), int(sys.argv[5]))
    else:
        main()
