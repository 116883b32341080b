"""`sensenet serve` in the tests: a real server process on 127.0.0.1, the fixtures' models written
for it, and the server the protocol clients' tests (tritonclient over HTTP and gRPC) share.

A server is a context manager: leaving the block stops it (SIGTERM), and a block that ended
without an error also requires the process to have exited 0 (its log in the failure).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from sensenet.cli.model_file import open_model
from sensenet.models.wrappers import create_model
from tests.conftest import REPO_ROOT, fixture_path, load_cases

START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
EYES = "cats_eye_tinyyolov4"  # BigML's eye detector, its own .zip download in the fixtures
FIXTURE_MODELS = {  # name -> (cases file, position): the fixtures' models the servers serve
    "dense": ("regression.json.gz", 0),
    "classes": ("regression.json.gz", 2),  # numeric and categorical fields
    "digits": ("image_regression.json.gz", 0),  # two images, a number and a category
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `sensenet serve` subprocess; its log goes to a file (a pipe could fill and block it)."""

    def __init__(self, models: list[Path], log: Path, *options: str, env: dict | None = None):
        options = ("--drain-seconds", "0", *options)  # stopping a test's server: no drain delay
        self.port = free_port()
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        command = [sys.executable, "-m", "sensenet", "serve", *map(str, models), "--port", str(self.port)]
        with open(log, "wb") as stream:
            self.process = subprocess.Popen([*command, *options], stdout=stream, stderr=stream, env=env)
        self.seen_unready = False

    def __enter__(self) -> Server:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        code = self.stop()
        if error_type is None:
            assert code == 0, self.log.read_text()

    def request(self, method: str, path: str, body: object = None, raw: bytes | None = None, headers=None):
        """(status, parsed JSON or text) of one request on a new connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            streamed = data is not None and not isinstance(data, bytes)
            connection.request(method, path, body=data, headers=headers or {}, encode_chunked=streamed)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        kind = response.getheader("content-type", "")
        return response.status, json.loads(payload) if kind.startswith(
            "application/json"
        ) else payload.decode()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                status, _ = self.request("GET", "/v2/health/ready")
            except OSError:
                time.sleep(0.05)
                continue
            if status == 200:
                return
            assert status == 503
            assert self.request("GET", "/v2/health/live")[0] == 200
            self.seen_unready = True
            time.sleep(0.05)
        pytest.fail(f"server not ready after {START_TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


ServerType = TypeVar("ServerType", bound=Server)


def write_models(directory: Path, **files: str) -> dict[str, dict]:
    """Each named model of FIXTURE_MODELS written in `directory` under its file name (`.json`, or
    `.json.gz` compressed); their fixture cases (model, BigML's predictions) by name."""
    cases = {}
    for name, file_name in files.items():
        cases_file, position = FIXTURE_MODELS[name]
        cases[name] = load_cases(cases_file)[position]
        opened = gzip.open if file_name.endswith(".gz") else open
        with opened(directory / file_name, "wt") as stream:
            json.dump(cases[name]["model"], stream)
    return cases


@contextmanager
def protocol_server(
    tmp_path_factory, server_type: type[ServerType], *options: str
) -> Iterator[tuple[ServerType, dict, dict]]:
    """A ready server of the iris example (--example), the eye detector from BigML's .zip, a
    classifier with categorical fields (a `.json.gz`) and the fixtures' image model; the Python
    API's model of each by served name, and the cases of `classes` and `digits`."""
    directory = tmp_path_factory.mktemp("models")
    cases = write_models(directory, classes="classes.json.gz", digits="digits.json")
    eyes = fixture_path(f"detection/{EYES}.zip")
    log = tmp_path_factory.mktemp("log") / "server.log"
    with server_type([directory, eyes], log, "--example", "iris", *options) as server:
        models = {name: create_model(case["model"]) for name, case in cases.items()}
        models["iris"] = create_model(str(REPO_ROOT / "sensenet" / "examples" / "iris.json"))
        models[EYES] = open_model(str(eyes)).create()  # what `sensenet detect` reads BigML's .zip with
        server.wait_ready()
        yield server, models, cases


def assert_found_in_photo_only(result, expected: list[dict]) -> None:
    """A tritonclient result (HTTP or gRPC) of the eye detector for the photo, then a black image:
    the objects the Python API found in the photo (`expected`), none in the black image."""
    found = len(expected)
    assert result.as_numpy("count").tolist() == [found, 0]
    boxes = result.as_numpy("boxes")
    assert boxes.shape == (2, found, 4) and not boxes[1].any()
    np.testing.assert_array_equal(boxes[0], np.float32([obj["box"] for obj in expected]))
    scores = result.as_numpy("scores")
    np.testing.assert_array_equal(scores[0], np.float32([obj["score"] for obj in expected]))
    assert [label.decode() for label in result.as_numpy("classes")[0]] == [obj["label"] for obj in expected]


def image_row(row: list, images: Path) -> list:
    """A fixture row with its image paths resolved in the fixtures' images directory."""
    return [
        str(images / value.removeprefix("tests/data/images/"))
        if isinstance(value, str) and "/" in value
        else value
        for value in row
    ]


def metric(text: str, name: str, default: float | None = None, **labels: str) -> float:
    """The value of one sample of /metrics (`text`); `default` when it is absent (else a failure)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    assert match or default is not None, f"{name}{{{wanted}}} not in /metrics"
    return float(match.group(1)) if match else default
