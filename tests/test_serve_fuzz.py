"""A property-based fuzz of every route of `sensenet serve` (hypothesis, seeded and bounded).

One real server on 127.0.0.1 serves a numeric classifier (the shipped iris), a classifier with
categorical fields and an image model. Requests are drawn from every route with made-up model
names and versions, methods, headers (Inference-Header-Content-Length, Content-Encoding,
Content-Type) and bodies: random bytes, random JSON, and inference requests built from each
model's own fields with mutated names, datatypes, shapes, data, parameters and binary tensor
data. Every answer must come within the timeout with a status under 500 and a JSON error for a
4xx, and a good request right after it must be answered, by the same worker process.

``FUZZ_SCALE`` multiplies the number of requests (default 1: 150, about half a minute).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import struct
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from tests.conftest import fixture_path
from tests.serving import REQUEST_TIMEOUT, Server, image_row, write_models

pytest.importorskip("starlette")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402 (after the skip)
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = round(150 * float(os.environ.get("FUZZ_SCALE", "1")))
MAX_BODY = 50_000
MODELS = ("iris", "classes", "digits")
ROUTES = [  # (method, path with {name} and {version})
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/stats"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("GET", "/v2/models/{name}/stats"),
    ("GET", "/v2/models/{name}/versions/{version}"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"),
    ("POST", "/v2/models/{name}/versions/{version}/infer"),
    ("GET", "/v2/models/{name}/versions/{version}/stats"),
    ("GET", "/v1/models"),
    ("POST", "/v1/models/{name}/predict"),
    ("GET", "/metrics"),
    ("GET", "/nowhere/{name}"),
]
INFERENCE_ROUTES = [route for route in ROUTES if route[0] == "POST"]
DATATYPES = [
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT32",
    "INT64",
    "UINT8",
    "UINT64",
    "BYTES",
    "BOOL",
    "BF16",
    "STRING",
]
NUMPY = {
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "INT8": "i1",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "u1",
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    digits = write_models(directory, classes="classes.json", digits="digits.json")["digits"]
    log = tmp_path_factory.mktemp("log") / "server.log"
    options = ("--example", "iris", "--quiet", "--max-body-bytes", str(MAX_BODY))
    with Server([directory], log, *options) as server:
        server.wait_ready()
        metadata = {name: server.request("GET", f"/v2/models/{name}")[1] for name in MODELS}
        image = fixture_path("images") / "digits" / "3"
        row = image_row(digits["validation"][0]["input"], fixture_path("images"))
        yield server, metadata, sorted(image.iterdir())[0].read_bytes(), row


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


def rarely(draw, odds: int) -> bool:
    """True one time in `odds` (away from the value hypothesis shrinks towards)."""
    return draw(st.integers(0, odds - 1)) == odds - 1


def often(draw, usual, other, odds: int = 5):
    """A value of `usual` most of the time, of `other` one time in `odds`."""
    return draw(other if rarely(draw, odds) else usual)


@st.composite
def element(draw, image: bytes):
    return draw(
        st.none()
        | st.integers(-(2**70), 2**70)
        | st.floats()
        | st.text(max_size=12)
        | st.sampled_from(["class0", "something", base64.b64encode(image).decode(), "aGVsbG8="])
    )


def fitting(tensor: dict, image: bytes) -> st.SearchStrategy:
    """JSON elements a tensor of the metadata takes: numbers, its categories or base64 images."""
    parameters = tensor.get("parameters", {})
    if parameters.get("optype") == "image":
        return st.none() | st.just(base64.b64encode(image).decode())
    if parameters.get("optype") == "categorical":
        return st.none() | st.sampled_from(parameters["values"]) | st.text(max_size=5)
    return st.none() | st.integers(-9, 99) | st.floats(-1e3, 1e3)


@st.composite
def binary_data(draw, datatype: str, count: int, image: bytes) -> bytes:
    """The bytes of a tensor: right for its datatype and count, or not."""
    if rarely(draw, 4):
        return draw(st.binary(max_size=64))
    if datatype in NUMPY:
        values = draw(st.lists(st.floats(width=16) | st.integers(0, 100), min_size=count, max_size=count))
        return np.array(values).astype(NUMPY[datatype]).tobytes()
    bytes_element = st.sampled_from([b"", b"a", b"class0", "é".encode(), b"\xff\xfe", image[:200], image])
    items = often(draw, st.lists(bytes_element, min_size=count, max_size=count), st.lists(bytes_element), 10)
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


@st.composite
def infer_body(draw, metadata: dict, image: bytes) -> tuple[bytes, dict[str, str]]:
    """An inference request built from a model's metadata, each part mutated now and then; its
    tensors in JSON or binary."""
    tensors, chunks = [], []
    inputs = list(metadata["inputs"])
    if metadata["parameters"].get("matrix_input") and draw(st.booleans()):
        inputs = [metadata["parameters"]["matrix_input"]]
    rows = often(draw, st.integers(1, 3), st.integers(0, 3))
    in_binary = draw(st.booleans())
    for tensor in often(draw, st.just(inputs), st.permutations(inputs)):
        if rarely(draw, 20):
            continue  # a missing input
        name = often(draw, st.just(tensor["name"]), st.sampled_from([tensor["name"] + "x", "matrix"]), 20)
        datatype = often(draw, st.just(tensor["datatype"]), st.sampled_from(DATATYPES), 10)
        shape = [w if w >= 0 else rows for w in tensor["shape"]]
        shape = often(draw, st.just(shape), st.sampled_from([[rows], [rows, 1], [-1], [], [rows, 2, 2]]), 10)
        count = int(np.prod(shape)) if shape and min(shape) >= 0 else 0
        entry: dict = {"name": name, "datatype": datatype, "shape": shape}
        if in_binary:
            data = draw(binary_data(datatype, count, image))
            size = often(
                draw, st.just(len(data)), st.sampled_from([len(data) + 1, len(data) - 1, -1, 10**12, "1"])
            )
            entry["parameters"] = {"binary_data_size": size}
            chunks.append(data)
        else:
            values = element(image) if rarely(draw, 10) else fitting(tensor, image)
            entry["data"] = often(draw, st.lists(values, min_size=count, max_size=count), json_values, 10)
        tensors.append(entry)
    body: dict = {"inputs": tensors}
    if draw(st.booleans()):
        names = [o["name"] for o in metadata["outputs"]]
        output = often(draw, st.sampled_from(names), st.just("nope"), 10)
        parameters = st.sampled_from([{}, {"binary_data": True}, {"binary_data": False}])
        body["outputs"] = [
            {
                "name": output,
                "parameters": often(
                    draw, parameters, st.sampled_from([{"binary_data": 1}, {"classification": 2}]), 10
                ),
            }
        ]
    if draw(st.booleans()):
        usual = st.sampled_from([{"binary_data_output": True}, {"binary_data_output": False}])
        body["parameters"] = often(
            draw, usual, st.sampled_from([{"sequence_id": 3}, [], {"binary_data_output": "yes"}]), 10
        )
    header = json.dumps(body).encode()
    headers = {}
    if chunks:
        length = often(
            draw, st.just(len(header)), st.sampled_from([len(header) - 1, len(header) + 3, 0, -1]), 10
        )
        headers["Inference-Header-Content-Length"] = str(length)
    return header + b"".join(chunks), headers


@st.composite
def predict_body(draw, metadata: dict, image: bytes) -> bytes:
    """A plain JSON request built from a model's fields, mutated."""
    names = [tensor["name"] for tensor in metadata["inputs"]]
    rows = draw(st.integers(0, 3))
    form = draw(st.sampled_from(["rows", "records", "images", "rows"]))
    if form == "rows":
        data = [draw(st.lists(element(image), max_size=len(names) + 1)) for _ in range(rows)]
    elif form == "records":
        keys = st.sampled_from([*names, "nope"])
        data = [draw(st.dictionaries(keys, element(image), max_size=len(names))) for _ in range(rows)]
    else:
        data = draw(st.lists(element(image), max_size=rows))
    body = {form: draw(json_values), "rows": []} if rarely(draw, 10) else {form: data}
    return json.dumps(body).encode()


@st.composite
def requests(draw, metadata: dict, image: bytes):
    method, template = often(draw, st.sampled_from(ROUTES), st.sampled_from(INFERENCE_ROUTES), 2)
    method = often(draw, st.just(method), st.sampled_from(["PUT", "DELETE", "GET", "POST"]))
    name = often(draw, st.sampled_from(MODELS), st.text(min_size=1, max_size=30))
    version = often(
        draw, st.just("1"), st.sampled_from(["2", "0", "x" * 200]) | st.text(min_size=1, max_size=5)
    )
    path = template.format(name=quote(name, safe=""), version=quote(version, safe=""))
    headers: dict[str, str] = {}
    body: bytes | None = None
    if name in metadata and template.endswith("/infer") and not rarely(draw, 6):
        body, headers = draw(infer_body(metadata[name], image))
    elif name in metadata and template.endswith("/predict") and not rarely(draw, 6):
        body = draw(predict_body(metadata[name], image))
    elif draw(st.booleans()):
        body = draw(st.binary(max_size=300) | st.builds(lambda v: json.dumps(v).encode(), json_values))
    printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
    for header, values in (
        ("Content-Encoding", st.sampled_from(["gzip", "identity", "br"]) | printable),
        ("Content-Type", st.sampled_from(["application/json", "application/octet-stream"]) | printable),
        ("Inference-Header-Content-Length", printable),
    ):
        if rarely(draw, 30):
            headers[header] = draw(values)
    return method, path, body, headers


def send(port: int, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, object]:
    """(status, answer) of one request: parsed JSON, or for binary tensor data its JSON header,
    checked against the bytes after it; else the text."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    header_length = response.getheader("Inference-Header-Content-Length")
    if header_length is not None:
        answer = json.loads(payload[: int(header_length)])
        sizes = [o.get("parameters", {}).get("binary_data_size", 0) for o in answer["outputs"]]
        assert sum(sizes) == len(payload) - int(header_length), (answer, len(payload))
        return response.status, answer
    if response.getheader("content-type", "").startswith("application/json"):
        return response.status, json.loads(payload)
    return response.status, payload.decode()


def test_every_route_survives_what_a_client_may_send(fuzzed):
    server, metadata, image, row = fuzzed
    pid = server.process.pid
    good_row = [
        base64.b64encode(Path(v).read_bytes()).decode() if isinstance(v, str) and "/" in v else v for v in row
    ]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(requests(metadata, image))
    def answer_then_answer_a_good_one(request):
        method, path, body, headers = request
        status, answer = send(server.port, method, path, body, headers)
        event(f"{method} {path.split('/')[-1] if status < 404 else ''} {status}")
        assert status < 500, (status, answer, request)
        if status >= 400:
            assert isinstance(answer, dict) and isinstance(answer.get("error"), str), (status, answer)
        status, answer = server.request("POST", "/v1/models/digits/predict", {"rows": [good_row]})
        assert status == 200, (answer, request)
        assert server.process.poll() is None

    answer_then_answer_a_good_one()
    assert server.process.pid == pid and server.process.poll() is None
