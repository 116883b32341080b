"""Load on `sensenet serve`: requests/s and p50/p99 latency at 1, 8 and 64 concurrent clients.

Run from the repository root (it reads the BigML fixtures, like the tests):

    python3 benchmarks/serve.py

Three servers on 127.0.0.1, measured in turn at each level: the same Starlette/uvicorn stack
answering a constant JSON (the floor of the stack on this machine), `sensenet serve` with the dense
fixture model (regression.json.gz case 0) and with the image fixture model
(image_regression.json.gz: two digit images and a category per row). Each request is one
row through the Open Inference Protocol (`/v2/models/NAME/infer`); the clients keep their
connections open and send a fixed number of requests each, with a timeout on every one.
The server's CPU time per request is shown too: unlike requests/s, it hardly depends on
what else the machine runs. Target: the dense model at 64 clients reaches at least half the
floor's requests/s, with p99 under 4x p50. Nothing here is a test: a missed target is printed,
not raised.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
CLIENTS = (1, 8, 64)
REQUESTS = {1: 400, 8: 1600, 64: 3200}  # per level, for the floor and the dense model
IMAGE_REQUESTS = {1: 100, 8: 200, 64: 320}
WARM_UP_REQUESTS = 50
TIMEOUT = 30.0
START_TIMEOUT = 60.0


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

    return Starlette(routes=[Route("/v2/models/{name}/infer", infer, methods=["POST"])])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}: {' '.join(command)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200") or "--floor" in command:
                    return process
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server not ready after {START_TIMEOUT} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


async def client(port: int, request: bytes, count: int, latencies: list[float]) -> None:
    """One keep-alive connection sending `count` requests one after another."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            start = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"unexpected answer: {head[:200]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def load(port: int, request: bytes, clients: int, total: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(client(port, request, total // clients, latencies) for _ in range(clients)))
    return time.perf_counter() - start, latencies


def http_request(model: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def tensors(network: dict, row: list, image_root: Path | None = None) -> dict:
    inputs = []
    for field in network["preprocess"]:
        value = row[field["index"]]
        if field["type"] == "image":
            path = image_root / value.removeprefix("tests/data/images/")
            value = base64.b64encode(path.read_bytes()).decode()
        datatype = "FP64" if field["type"] == "numeric" else "BYTES"
        inputs.append(
            {"name": f"field_{field['index']}", "datatype": datatype, "shape": [1], "data": [value]}
        )
    return {"inputs": inputs}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    name: str, process: subprocess.Popen, port: int, request: bytes, clients: int, total: int
) -> tuple:
    cpu = cpu_seconds(process.pid)
    seconds, latencies = asyncio.run(load(port, request, clients, total))
    cpu_ms = (cpu_seconds(process.pid) - cpu) / len(latencies) * 1000
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    rate = len(latencies) / seconds
    print(
        f"{name:>6} {clients:>3} clients: {rate:8.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
        f"server CPU {cpu_ms:.3f} ms/request"
    )
    return name, clients, rate, p50, p99, cpu_ms


def main() -> None:
    with gzip.open(FIXTURES / "regression.json.gz") as stream:
        dense = json.load(stream)[0]
    with gzip.open(FIXTURES / "image_regression.json.gz") as stream:
        image = json.load(stream)[0]
    with tempfile.TemporaryDirectory(prefix="sensenet-serve-bench-") as name:
        rows = run_servers(Path(name), dense, image)
    print_table(rows)


def run_servers(directory: Path, dense: dict, image: dict) -> list[tuple]:
    (directory / "dense.json").write_text(json.dumps(dense["model"]))
    (directory / "digits.json").write_text(json.dumps(image["model"]))
    dense_row = dense["validation"][0]["input"]
    image_row = image["validation"][0]["input"]
    servers = [  # name, command (the port follows), request, requests per level
        ("floor", [sys.executable, __file__, "--floor"], http_request("floor", {}), REQUESTS),
        (
            "dense",
            [sys.executable, "-m", "sensenet", "serve", str(directory / "dense.json"), "--port"],
            http_request("dense", tensors(dense["model"], dense_row)),
            REQUESTS,
        ),
        (
            "image",
            [sys.executable, "-m", "sensenet", "serve", str(directory / "digits.json"), "--port"],
            http_request("digits", tensors(image["model"], image_row, FIXTURES / "images")),
            IMAGE_REQUESTS,
        ),
    ]
    running = []
    rows = []
    with open(directory / "servers.log", "wb") as log:
        try:
            for name, command, request, counts in servers:
                port = free_port()
                process = start([*command, str(port)], port, log)
                running.append((name, process, port, request, counts))
                asyncio.run(load(port, request, 1, WARM_UP_REQUESTS))
            # Servers take turns at each level, so a change in the machine's load hits them alike.
            for clients in CLIENTS:
                for name, process, port, request, counts in running:
                    rows.append(measure(name, process, port, request, clients, counts[clients]))
        finally:
            for _, process, *_ in running:
                stop(process)
    return rows


def print_table(rows: list[tuple]) -> None:
    print(
        "\n| server | clients | requests/s | p50 ms | p99 ms | server CPU ms/request |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    for name, clients, rate, p50, p99, cpu_ms in rows:
        print(f"| {name} | {clients} | {rate:.0f} | {p50:.2f} | {p99:.2f} | {cpu_ms:.3f} |")
    floor_rate = next(row[2] for row in rows if row[0] == "floor" and row[1] == 64)
    _, _, rate, p50, p99, _ = next(row for row in rows if row[0] == "dense" and row[1] == 64)
    print(
        f"\ndense at 64 clients: {rate / floor_rate:.2f} of the floor's requests/s (target >= 0.5), "
        f"p99/p50 {p99 / p50:.2f} (target < 4)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:
        import uvicorn

        uvicorn.run(floor_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    else:
        main()
