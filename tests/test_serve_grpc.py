"""`sensenet serve --grpc-port` answering NVIDIA's reference client over gRPC, `tritonclient.grpc`
(sync and aio), unchanged.

A real server on 127.0.0.1 serves the shipped iris example, a classifier with categorical fields
(`.json.gz`), the image model of the fixtures and the eye detector from BigML's own `.zip`; its
gRPC answers must equal the Python API's, its failures be status codes a client acts on, and a
request whose client gave up is never computed. The compiled descriptor must match
inference.proto, and our messages import beside tritonclient's.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, fixture_path
from tests.serving import EYES, Server, assert_found_in_photo_only, free_port, image_row, protocol_server

pytest.importorskip("grpc")
pytest.importorskip("starlette")
grpcclient = pytest.importorskip("tritonclient.grpc")
import grpc  # noqa: E402 (after the skips)
import tritonclient.grpc.aio as aioclient  # noqa: E402
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException, deserialize_bytes_tensor  # noqa: E402

MAX_BODY = 200_000
PHOTO = "detection/pexels-pixabay-33358.jpg"
IRIS_ROWS = np.float32([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [np.nan, 3.0, 5.0, 1.8]])
TIMEOUT = 30  # seconds a test's call may take at most
BUSY_IMAGES = 40  # a request keeping the one worker busy for a few seconds


class GrpcServer(Server):
    """A `sensenet serve` subprocess with its gRPC port."""

    def __init__(self, models: list[Path], log: Path, *options: str):
        self.grpc_port = free_port()
        super().__init__(models, log, "--grpc-port", str(self.grpc_port), *options)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def client(self):
        return grpcclient.InferenceServerClient(self.url)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    options = ("--max-wait-ms", "5", "--max-body-bytes", str(MAX_BODY))
    one_worker = ("--workers", "1", "--max-queue-ms", "60000")
    with protocol_server(tmp_path_factory, GrpcServer, *options, *one_worker) as (server, models, cases):
        with server.client() as client:
            yield server, client, models, cases


def matrix_input(rows: np.ndarray):
    matrix = grpcclient.InferInput("matrix", list(rows.shape), "FP32")
    matrix.set_data_from_numpy(rows)
    return matrix


def field_inputs(client, model, name: str, rows: list, image=lambda value: value) -> list:
    """One InferInput per field, named and typed by the gRPC metadata; a missing number is NaN,
    a missing category or image the empty element."""
    inputs = []
    for tensor, field in zip(client.get_model_metadata(name).inputs, model.fields):
        assert tensor.name == field.name
        values = [row[field.index] for row in rows]
        if field.optype == "numeric":
            array = np.array([np.nan if value is None else value for value in values], dtype=np.float32)
        else:
            read = image if field.optype == "image" else str.encode
            array = np.array([b"" if value is None else read(value) for value in values], dtype=np.object_)
        entry = grpcclient.InferInput(tensor.name, [len(rows)], tensor.datatype)
        entry.set_data_from_numpy(array)
        inputs.append(entry)
    return inputs


def test_every_health_and_metadata_rpc(served):
    server, client, models, _ = served
    assert client.is_server_live() and client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata.name == "sensenet" and {"binary_tensor_data", "statistics"} <= set(metadata.extensions)
    for name in ("classes", "digits", "iris", EYES):
        assert client.is_model_ready(name) and client.is_model_ready(name, "1")
        ours = client.get_model_metadata(name, as_json=True)
        status, rest = server.request("GET", f"/v2/models/{name}")
        assert status == 200 and ours["versions"] == ["1"] and ours["platform"] == "sensenet"
        for kind in ("inputs", "outputs"):
            assert [(t["name"], t["datatype"], [int(n) for n in t["shape"]]) for t in ours[kind]] == [
                (t["name"], t["datatype"], t["shape"]) for t in rest[kind]
            ]


def test_matrix_equals_the_python_api(served):
    _, client, models, _ = served
    result = client.infer("iris", [matrix_input(IRIS_ROWS)], request_id="r1", client_timeout=TIMEOUT)
    expected = models["iris"](IRIS_ROWS.tolist())
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-6)
    labels = np.array(models["iris"].classes)[expected.argmax(axis=1)]
    assert [label.decode() for label in result.as_numpy("prediction")] == labels.tolist()
    response = result.get_response()
    assert (response.id, response.model_name, response.model_version) == ("r1", "iris", "1")
    only = client.infer(
        "iris", [matrix_input(IRIS_ROWS)], outputs=[grpcclient.InferRequestedOutput("prediction")]
    )
    assert [output.name for output in only.get_response().outputs] == ["prediction"]


def test_one_tensor_per_field_equals_the_python_api(served):
    _, client, models, cases = served
    model = models["classes"]
    rows = [list(v["input"]) for v in cases["classes"]["validation"]]
    for row, optype in zip(rows, ("numeric", "categorical")):  # a missing value of each kind
        row[next(f.index for f in model.fields if f.optype == optype)] = None
    result = client.infer("classes", field_inputs(client, model, "classes", rows), client_timeout=TIMEOUT)
    expected = model(rows)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
    labels = np.array(model.classes)[expected.argmax(axis=1)]
    assert [label.decode() for label in result.as_numpy("prediction")] == labels.tolist()


def test_typed_contents_are_read_like_raw_contents(served):
    """A client generated from the proto (Triton's, here) may send typed contents, not raw."""
    server, _, models, cases = served
    model = models["classes"]
    rows = [v["input"] for v in cases["classes"]["validation"]]
    request = service_pb2.ModelInferRequest(model_name="classes")
    for field in model.fields:
        values = [row[field.index] for row in rows]
        tensor = request.inputs.add(name=field.name, shape=[len(rows)])
        if field.optype == "numeric":
            tensor.datatype = "FP64"
            tensor.contents.fp64_contents.extend([np.nan if v is None else v for v in values])
        else:
            tensor.datatype = "BYTES"
            tensor.contents.bytes_contents.extend([b"" if v is None else v.encode() for v in values])
    with grpc.insecure_channel(server.url) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=TIMEOUT)
    raw = {output.name: data for output, data in zip(response.outputs, response.raw_output_contents)}
    expected = model(rows)
    np.testing.assert_array_equal(
        np.frombuffer(raw["probabilities"], "<f4").reshape(expected.shape), expected
    )
    labels = np.array(model.classes)[expected.argmax(axis=1)]
    assert [label.decode() for label in deserialize_bytes_tensor(raw["prediction"])] == labels.tolist()


def test_image_model_reads_image_files_as_bytes(served):
    _, client, models, cases = served
    images = fixture_path("images")
    rows = [image_row(v["input"], images) for v in cases["digits"]["validation"]]
    inputs = field_inputs(client, models["digits"], "digits", rows, lambda path: Path(path).read_bytes())
    result = client.infer("digits", inputs, client_timeout=TIMEOUT)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), models["digits"](rows))


def test_eye_detector_from_bigml_zip_takes_a_jpeg_as_bytes(served):
    _, client, models, _ = served
    photo, black = fixture_path(PHOTO), fixture_path("images/black.png")
    detector = models[EYES]
    expected = detector(str(photo))
    assert len(expected) >= 2 and not detector(str(black))
    name = client.get_model_metadata(EYES).inputs[0].name
    images = grpcclient.InferInput(name, [2], "BYTES")
    images.set_data_from_numpy(np.array([photo.read_bytes(), black.read_bytes()], dtype=np.object_))
    result = client.infer(EYES, [images], client_timeout=TIMEOUT)
    assert_found_in_photo_only(result, expected)


def grpc_stats(client, name: str, version: str = "") -> dict:
    (entry,) = client.get_inference_statistics(name, version, as_json=True)["model_stats"]
    return entry


def count(entry: dict, *path: str) -> int:
    """A figure of the statistics' JSON (protobuf's JSON leaves out zeros, as strings otherwise)."""
    for key in path:
        entry = entry.get(key, {})
    return int(entry or 0)


def test_statistics_and_metrics_count_grpc_requests_as_rest_shows_them(served):
    server, client, _, _ = served
    before = grpc_stats(client, "iris")
    for _ in range(4):
        client.infer("iris", [matrix_input(IRIS_ROWS)], client_timeout=TIMEOUT)
    with pytest.raises(InferenceServerException, match=r"shape \[rows, 4\]"):
        client.infer("iris", [matrix_input(IRIS_ROWS[:, :3].copy())])
    after = grpc_stats(client, "iris", "1")
    assert count(after, "inference_count") - count(before, "inference_count") == 12
    for stage, added in (("success", 4), ("fail", 1), ("compute_infer", 4), ("queue", 4)):
        assert (
            count(after, "inference_stats", stage, "count") - count(before, "inference_stats", stage, "count")
            == added
        )
    status, answer = server.request("GET", "/v2/models/iris/stats")
    (rest,) = answer["model_stats"]
    assert status == 200
    for key in ("inference_count", "execution_count", "last_inference"):
        assert count(after, key) == rest[key], key
    for stage, figures in rest["inference_stats"].items():
        assert count(after, "inference_stats", stage, "count") == figures["count"], stage
        assert count(after, "inference_stats", stage, "ns") == figures["ns"], stage
    every = client.get_inference_statistics(as_json=True)["model_stats"]
    assert sorted(entry["name"] for entry in every) == sorted(["classes", "digits", "iris", EYES])
    _, metrics = server.request("GET", "/metrics")
    answered = re.search(
        r'sensenet_requests_total\{model="iris",endpoint="grpc_ModelInfer",code="200"\} (\d+)', metrics
    )
    assert answered and int(answered.group(1)) >= 4, metrics
    assert 'sensenet_request_errors_total{model="iris",endpoint="grpc_ModelInfer",code="400"}' in metrics


def one_field_of_iris(client):
    entry = grpcclient.InferInput("sepal length (cm)", [1], "FP32")
    entry.set_data_from_numpy(np.float32([5.1]))
    return client.infer("iris", [entry])


def bool_matrix(client):
    flags = grpcclient.InferInput("matrix", [1, 4], "BOOL")
    flags.set_data_from_numpy(np.ones((1, 4), dtype=bool))
    return client.infer("iris", [flags])


def over_the_size_limit(client):
    name = client.get_model_metadata(EYES).inputs[0].name
    images = grpcclient.InferInput(name, [1], "BYTES")
    images.set_data_from_numpy(np.array([b"\xff" * (MAX_BODY + 1)], dtype=np.object_))
    return client.infer(EYES, [images])


def not_an_image(client):
    name = client.get_model_metadata(EYES).inputs[0].name
    images = grpcclient.InferInput(name, [1], "BYTES")
    images.set_data_from_numpy(np.array([b"no image at all"], dtype=np.object_))
    return client.infer(EYES, [images])


MATRIX = matrix_input(IRIS_ROWS)
# case -> (what the client does, the status code it must get, words of the message)
FAILURES = {
    "unknown model": (lambda c: c.infer("nope", [MATRIX]), "NOT_FOUND", "unknown model 'nope'; models:"),
    "unknown version": (
        lambda c: c.infer("iris", [MATRIX], model_version="2"),
        "NOT_FOUND",
        "no version '2'",
    ),
    "unknown model's readiness": (lambda c: c.is_model_ready("nope"), "NOT_FOUND", "unknown model"),
    "unknown model's metadata": (lambda c: c.get_model_metadata("nope"), "NOT_FOUND", "unknown model"),
    "unknown model's statistics": (lambda c: c.get_inference_statistics("nope"), "NOT_FOUND", "unknown"),
    "wrong shape": (
        lambda c: c.infer("iris", [matrix_input(IRIS_ROWS[:, :3].copy())]),
        "INVALID_ARGUMENT",
        "shape [rows, 4]",
    ),
    "unsupported datatype": (bool_matrix, "INVALID_ARGUMENT", "datatype BOOL is not supported"),
    "missing input": (one_field_of_iris, "INVALID_ARGUMENT", "missing: sepal width (cm)"),
    "unknown output": (
        lambda c: c.infer("iris", [MATRIX], outputs=[grpcclient.InferRequestedOutput("nope")]),
        "INVALID_ARGUMENT",
        "unknown output(s) 'nope'",
    ),
    "unsupported extension": (
        lambda c: c.infer("iris", [MATRIX], sequence_id=7),
        "INVALID_ARGUMENT",
        "sequence extension",
    ),
    "not an image": (not_an_image, "INVALID_ARGUMENT", "image"),
    "deadline passed while queued": (
        lambda c: c.infer("iris", [MATRIX], timeout=1),
        "UNAVAILABLE",
        "Request timeout expired",
    ),
    "message over --max-body-bytes": (over_the_size_limit, "RESOURCE_EXHAUSTED", str(MAX_BODY)),
}


def test_a_message_that_is_none_is_invalid_argument_not_internal(served):
    server, client, _, _ = served
    with grpc.insecure_channel(server.url) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")  # bytes as they are
        with pytest.raises(grpc.RpcError) as caught:
            infer(b"\xff\xff\xff", timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a ModelInferRequest message" in caught.value.details()
    assert client.is_server_live()


@pytest.mark.parametrize("case", list(FAILURES))
def test_failures_are_status_codes_a_client_acts_on_and_the_next_call_is_answered(served, case):
    _, client, models, _ = served
    call, code, words = FAILURES[case]
    with pytest.raises(InferenceServerException) as caught:
        call(client)
    assert caught.value.status() == f"StatusCode.{code}", caught.value
    assert words in caught.value.message(), caught.value.message()
    result = client.infer("iris", [MATRIX], client_timeout=TIMEOUT)
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), models["iris"](IRIS_ROWS.tolist()), rtol=1e-6
    )


def test_64_concurrent_aio_clients_are_all_answered_correctly(served):
    server, client, models, _ = served
    rows = np.random.default_rng(7).uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], (64, 3, 4)).astype(np.float32)
    expected = models["iris"](rows.reshape(-1, 4).tolist()).reshape(64, 3, -1)
    before = grpc_stats(client, "iris")

    async def one(i: int) -> np.ndarray:
        async with aioclient.InferenceServerClient(server.url) as aio:
            answers = []
            for j in range(3):
                result = await aio.infer("iris", [matrix_input(rows[i, j : j + 1])], client_timeout=TIMEOUT)
                answers.append(result.as_numpy("probabilities")[0])
            return np.stack(answers)

    async def everyone() -> list:
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(64))), 4 * TIMEOUT)

    answers = asyncio.run(everyone())
    for got, want in zip(answers, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    after = grpc_stats(client, "iris")
    assert count(after, "inference_count") - count(before, "inference_count") == 64 * 3
    executions = count(after, "execution_count") - count(before, "execution_count")
    assert executions < 64 * 3, "no two gRPC requests shared an engine call"


def running_rows(server, model: str) -> int:
    _, metrics = server.request("GET", "/metrics")
    found = re.search(rf'sensenet_running_rows\{{model="{model}"\}} (\d+)', metrics)
    return int(found.group(1)) if found else 0


def test_requests_whose_client_gave_up_are_never_computed(served):
    """With the one worker busy, requests whose gRPC deadline passes (sync client) or that the
    client cancels (aio) while they wait leave the queue uncomputed, counted as refusals."""
    server, client, _, _ = served
    name = client.get_model_metadata(EYES).inputs[0].name
    black = fixture_path("images/black.png").read_bytes()

    def images(count: int):
        entry = grpcclient.InferInput(name, [count], "BYTES")
        entry.set_data_from_numpy(np.array([black] * count, dtype=np.object_))
        return entry

    def refused() -> int:
        _, answer = server.request("GET", f"/v2/models/{EYES}/stats")
        return sum(
            answer["model_stats"][0]["refusal_stats"][reason]["count"]
            for reason in ("deadline", "client_gone")
        )

    before, refused_before = grpc_stats(client, EYES), refused()
    with server.client() as busy_client:
        pool = ThreadPoolExecutor(1)
        busy = pool.submit(busy_client.infer, EYES, [images(BUSY_IMAGES)], client_timeout=4 * TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while running_rows(server, EYES) != BUSY_IMAGES and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(3):
            with pytest.raises(InferenceServerException) as caught:
                client.infer(EYES, [images(1)], client_timeout=0.2)
            assert caught.value.status() in ("StatusCode.DEADLINE_EXCEEDED", "StatusCode.UNAVAILABLE")

        async def cancelled() -> None:
            async with aioclient.InferenceServerClient(server.url) as aio:
                calls = [asyncio.ensure_future(aio.infer(EYES, [images(1)])) for _ in range(3)]
                await asyncio.sleep(0.2)
                for call in calls:
                    call.cancel()
                await asyncio.gather(*calls, return_exceptions=True)

        asyncio.run(cancelled())
        assert running_rows(server, EYES) == BUSY_IMAGES, "the busy request ended before the others gave up"
        assert busy.result().as_numpy("count").tolist() == [0] * BUSY_IMAGES
        pool.shutdown()
    deadline = time.monotonic() + TIMEOUT
    while refused() - refused_before < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused() - refused_before == 6
    after = grpc_stats(client, EYES)
    assert count(after, "inference_count") - count(before, "inference_count") == BUSY_IMAGES, (
        "an abandoned one was computed"
    )


def test_sigterm_drains_grpc_like_rest(tmp_path):
    """Readiness false at once, requests answered for --drain-seconds, then the port closes."""
    with GrpcServer([], tmp_path / "server.log", "--example", "iris", "--drain-seconds", "2") as server:
        server.wait_ready()
        with server.client() as client:
            assert client.is_server_ready() and client.is_model_ready("iris")
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + TIMEOUT
            while client.is_server_ready() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not client.is_server_ready() and not client.is_model_ready("iris")
            assert client.is_server_live()
            result = client.infer("iris", [MATRIX], client_timeout=TIMEOUT)
            assert result.as_numpy("probabilities").shape == (3, 3)
            assert server.process.wait(timeout=TIMEOUT) == 0, (tmp_path / "server.log").read_text()
            with pytest.raises(InferenceServerException) as caught:
                client.infer("iris", [MATRIX], client_timeout=5)
            assert caught.value.status() == "StatusCode.UNAVAILABLE"


def test_a_grpc_port_in_use_stops_the_server_with_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sensenet", "serve", "--example", "iris", "--port", str(free_port())]
            + ["--grpc-port", str(port)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"cannot listen for gRPC on 127.0.0.1:{port}" in result.stderr, result.stderr


def test_grpc_port_must_be_a_port(tmp_path):
    for port in ("0", "70000"):
        result = subprocess.run(
            [sys.executable, "-m", "sensenet", "serve", "--example", "iris", "--grpc-port", port],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (
            result.returncode == 1 and f"--grpc-port must be between 1 and 65535, got {port}" in result.stderr
        )


def test_the_committed_descriptor_is_inference_proto_compiled():
    from sensenet.serve.grpc_descriptor import SERIALIZED
    from tools.generate_grpc_descriptor import compiled, module_text

    assert SERIALIZED == compiled(), "run python3 tools/generate_grpc_descriptor.py"
    module = REPO_ROOT / "sensenet" / "serve" / "grpc_descriptor.py"
    assert module.read_text() == module_text(SERIALIZED)


COEXIST = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from tritonclient.grpc import service_pb2
from sensenet.serve.grpc_messages import SERVICE, message

theirs = service_pb2.ModelInferRequest(model_name="iris", id="r1")
theirs.inputs.add(name="matrix", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend([1, 2, 3, 4])
theirs.parameters["priority"].uint64_param = 3
ours = message("ModelInferRequest").FromString(theirs.SerializeToString())
assert ours.model_name == "iris" and ours.id == "r1", ours
assert list(ours.inputs[0].contents.fp32_contents) == [1, 2, 3, 4]
assert ours.parameters["priority"].uint64_param == 3
back = service_pb2.ModelInferRequest.FromString(ours.SerializeToString())
assert back == theirs
assert [m.name for m in SERVICE.methods] == [
    "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer",
    "ModelStatistics",
]
print("ok")
"""


@pytest.mark.parametrize(
    "order",
    [
        ["tritonclient.grpc", "sensenet.serve.grpc_transport"],
        ["sensenet.serve.grpc_transport", "tritonclient.grpc"],
    ],
    ids=["tritonclient-first", "sensenet-first"],
)
def test_our_messages_import_beside_tritonclient_grpc_in_either_order(order):
    """Both define messages named inference.*: ours live in a pool of their own, so neither
    import is refused and the two speak the same wire format."""
    pytest.importorskip("tritonclient.grpc")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(COEXIST), *order],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr
