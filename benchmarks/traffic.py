"""Rude traffic for `sensenet serve`, shared by benchmarks/serve_traffic.py, benchmarks/serve_soak.py
and the tests: a served model, the bytes of a request to it in each form, and a small HTTP/1.1
client on asyncio streams that records every outcome (answers, refusals with their Retry-After,
abandoned requests, connections reset or refused).

Forms: ``binary`` (/v2 infer, every input as binary tensor data), ``json`` (/v2 infer, JSON
tensors, images as base64) and ``v1`` (/v1 predict, ``{"rows": ...}``). Models: ``image`` (the
image + numeric + categorical network of image_regression.json.gz: two 28x28 digit images per
row) and ``rows`` (the first network of regression.json.gz: numeric and categorical fields).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
MODELS = {"image": ("image_regression.json.gz", 0), "rows": ("regression.json.gz", 0)}
FORMS = ("binary", "json", "v1")
START_TIMEOUT = 120.0
ANSWER_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_model(kind: str, directory: Path) -> tuple[Path, list[list]]:
    """The model file (named `kind`.json) and the fixture rows (image paths made absolute)."""
    fixture, position = MODELS[kind]
    with gzip.open(FIXTURES / fixture) as stream:
        case = json.load(stream)[position]
    path = directory / f"{kind}.json"
    path.write_text(json.dumps(case["model"]))
    rows = []
    for validation in case["validation"]:
        rows.append(
            [
                str(FIXTURES / value.removeprefix("tests/data/"))
                if isinstance(value, str) and value.startswith("tests/data/")
                else value
                for value in validation["input"]
            ]
        )
    return path, rows


def _head(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request_bytes(model: str, form: str, fields: list[dict], rows: list[list], timeout_us: int = 0) -> bytes:
    """`rows` as one whole HTTP request in `form`; `fields` is the model's metadata inputs; a
    /v2 request's `timeout` parameter when `timeout_us` is given."""
    if form == "v1":
        encoded = [[_b64_file(value) if _is_file(value) else value for value in row] for row in rows]
        body = json.dumps({"rows": encoded}).encode()
        return _head("POST", f"/v1/models/{model}/predict", body, {"Content-Type": "application/json"}) + body
    parameters = {"timeout": timeout_us} if timeout_us else {}
    inputs, chunks = [], []
    for tensor in fields:
        values = [row[tensor["parameters"]["index"]] for row in rows]
        optype = tensor["parameters"]["optype"]
        if form == "json":
            data = [_b64_file(value) for value in values] if optype == "image" else values
            datatype = "FP64" if optype == "numeric" else "BYTES"
            inputs.append({"name": tensor["name"], "datatype": datatype, "shape": [len(rows)], "data": data})
            continue
        if optype == "numeric":
            raw = struct.pack(f"<{len(values)}f", *(float("nan") if v is None else v for v in values))
            datatype = "FP32"
        else:
            texts = [Path(v).read_bytes() if optype == "image" else str(v or "").encode() for v in values]
            raw, datatype = b"".join(struct.pack("<I", len(text)) + text for text in texts), "BYTES"
        parameters_of = {"binary_data_size": len(raw)}
        inputs.append(
            {"name": tensor["name"], "datatype": datatype, "shape": [len(rows)], "parameters": parameters_of}
        )
        chunks.append(raw)
    header = json.dumps({"inputs": inputs, "parameters": parameters}).encode()
    headers = {"Content-Type": "application/json"}
    if form == "binary":
        headers = {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header)),
        }
    body = header + b"".join(chunks)
    return _head("POST", f"/v2/models/{model}/infer", body, headers) + body


def _is_file(value: object) -> bool:
    return isinstance(value, str) and value.startswith(str(FIXTURES))


def _b64_file(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


@dataclass
class Server:
    """A `sensenet serve` subprocess on 127.0.0.1."""

    models: list[Path]
    options: list[str]
    log: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        command = [sys.executable, "-m", "sensenet", "serve", *map(str, self.models), "--quiet"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), *self.options], stdout=log, stderr=log, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log.read_text()}")
            if get_status(self.port, "/v2/health/ready") == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {START_TIMEOUT} s: {self.log.read_text()}")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)

    def rss_mb(self) -> float:
        return proc_status(self.process.pid)["VmRSS"] / 1024 if self.process else 0.0

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd")) if self.process else 0


def proc_status(pid: int) -> dict[str, int]:
    """The kB figures of /proc/PID/status."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            found[key] = int(value.split()[0])
    return found


def get_status(port: int, path: str) -> int | None:
    """The status of a GET on a fresh connection; None when the connection is refused or cut."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(64)
    except OSError:
        return None
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None


def get_json(port: int, path: str) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


@dataclass
class Tally:
    """Every outcome of a load run."""

    latencies: list[float] = field(default_factory=list)  # of answered (200) requests
    outcomes: Counter = field(default_factory=Counter)  # "200", "503 overloaded", "abandoned", "reset"...
    retry_after: Counter = field(default_factory=Counter)  # seconds -> 503s that said so
    refused_without_retry_after: int = 0
    cuts: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic(), why) of each reset

    @property
    def answered(self) -> int:
        return len(self.latencies)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _reason(body: bytes) -> str:
    """A refusal's reason, from the start of its error message."""
    try:
        message = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return "?"
    for reason in ("overloaded", "timeout", "shutting down", "loading", "client"):
        if reason in message:
            return reason
    return message[:40]


class Cut(Exception):
    """The server closed or reset the connection before answering."""


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes):
    """(status, headers, body) of one request on an open connection."""
    writer.write(request)
    try:
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        raise Cut(type(error).__name__) from None
    return int(lines[0].split()[1]), headers, body


async def client(
    port: int,
    request: bytes,
    until: float,
    tally: Tally,
    *,
    patience: float = ANSWER_TIMEOUT,
    honor_retry_after: bool = False,
    stop_when_refused: bool = False,
    max_requests: int = 1_000_000,
) -> None:
    """Requests one after another on a keep-alive connection until `until` (time.monotonic()).
    A request not answered within `patience` is abandoned: the connection is closed, as a load
    balancer's timeout does, and the next request goes on a new one."""
    writer = None
    try:
        for _ in range(max_requests):
            if time.monotonic() >= until:
                break
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    tally.outcomes["connection refused"] += 1
                    if stop_when_refused:
                        return
                    await asyncio.sleep(0.05)
                    continue
            start = time.monotonic()
            try:
                status, headers, body = await asyncio.wait_for(exchange(reader, writer, request), patience)
            except (asyncio.TimeoutError, Cut) as error:
                if isinstance(error, Cut):
                    tally.cuts.append((time.monotonic(), str(error)))
                tally.outcomes["abandoned" if isinstance(error, asyncio.TimeoutError) else "reset"] += 1
                writer.close()
                writer = None
                continue
            if status == 200:
                tally.latencies.append(time.monotonic() - start)
                tally.outcomes["200"] += 1
            else:
                tally.outcomes[f"{status} {_reason(body)}"] += 1
            if status == 503:
                if "retry-after" in headers:
                    tally.retry_after[int(headers["retry-after"])] += 1
                else:
                    tally.refused_without_retry_after += 1
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
            if status == 503 and honor_retry_after:
                await asyncio.sleep(min(float(headers.get("retry-after", 1)), until - time.monotonic()))
    finally:
        if writer is not None:
            writer.close()


async def load(port: int, request: bytes, clients: int, seconds: float, **options) -> tuple[Tally, float]:
    """`clients` clients for `seconds`; the tally and the seconds it really took."""
    tally = Tally()
    start = time.monotonic()
    await asyncio.gather(*(client(port, request, start + seconds, tally, **options) for _ in range(clients)))
    return tally, time.monotonic() - start
