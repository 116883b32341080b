"""`sensenet serve` answering NVIDIA's reference Open Inference Protocol client, `tritonclient[http]`.

A real server on 127.0.0.1 serves the shipped iris example (`--example`), the eye detector from
BigML's own `.zip` download, a classifier with categorical fields (`.json.gz`) and the image model
of the fixtures. The client sends what it sends by default (binary tensor data, binary outputs)
and JSON; answers must equal the Python API's. Bodies whose binary sizes lie get a 400, and the
next request is answered.
"""

from __future__ import annotations

import json
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import fixture_path
from tests.serving import EYES, Server, assert_found_in_photo_only, image_row, protocol_server

pytest.importorskip("starlette")
httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402 (after the skip)

MAX_BODY = 200_000
NUMPY = {"numeric": np.float32, "categorical": np.object_}


def triton_client(server: Server):
    """A client of its own (one client is not for several threads at once)."""
    return httpclient.InferenceServerClient(
        f"127.0.0.1:{server.port}", connection_timeout=30, network_timeout=30
    )


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    options = ("--max-wait-ms", "5", "--max-body-bytes", str(MAX_BODY))
    with protocol_server(tmp_path_factory, Server, *options) as (server, models, cases):
        with triton_client(server) as client:
            yield server, client, models, cases


def field_inputs(metadata: dict, rows: list, binary: bool, image=lambda value: value) -> list:
    """One InferInput per field, built from the model's metadata as a generic client would."""
    inputs = []
    for tensor in metadata["inputs"]:
        parameters = tensor["parameters"]
        values = [row[parameters["index"]] for row in rows]
        if parameters["optype"] == "image":
            array = np.array([image(value) for value in values], dtype=np.object_)
        elif parameters["optype"] == "numeric":
            array = np.array([np.nan if value is None else value for value in values], dtype=np.float32)
        else:
            array = np.array(["" if value is None else value for value in values], dtype=np.object_)
        entry = httpclient.InferInput(tensor["name"], [len(rows)], tensor["datatype"])
        entry.set_data_from_numpy(array, binary_data=binary)
        inputs.append(entry)
    return inputs


def fixture_rows(case: dict) -> list:
    """The case's rows, a missing category written as the empty string binary BYTES use for it."""
    return [["" if value is None else value for value in v["input"]] for v in case["validation"]]


def test_server_declares_its_extensions(triton):
    _, client, _, _ = triton
    assert client.is_server_live() and client.is_server_ready()
    metadata = client.get_server_metadata()
    assert {"binary_tensor_data", "statistics"} <= set(metadata["extensions"])
    for name in ("classes", "digits", "iris", EYES):
        assert client.is_model_ready(name)
        assert client.get_model_metadata(name)["versions"] == ["1"]
        assert client.is_model_ready(name, "1")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_field_inputs_equal_the_python_api(triton, binary):
    _, client, models, cases = triton
    rows = fixture_rows(cases["classes"])
    if binary:  # missing numbers travel as NaN, which JSON does not have
        rows[0] = [None if isinstance(value, float) else value for value in rows[0]]
    metadata = client.get_model_metadata("classes")
    result = client.infer("classes", field_inputs(metadata, rows, binary))
    expected = models["classes"]([[None if v == "" else v for v in row] for row in rows])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
    labels = np.array(models["classes"].classes)[expected.argmax(axis=1)]
    assert [label.decode() for label in result.as_numpy("prediction")] == labels.tolist()
    assert all("binary_data_size" in output["parameters"] for output in result.get_response()["outputs"])


def test_each_output_in_binary_or_json_as_asked(triton):
    _, client, models, _ = triton
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [np.nan, 3.0, 5.0, 1.8]], np.float32)
    matrix = httpclient.InferInput("matrix", list(rows.shape), "FP32")
    matrix.set_data_from_numpy(rows)
    outputs = [
        httpclient.InferRequestedOutput("probabilities", binary_data=False),
        httpclient.InferRequestedOutput("prediction", binary_data=True),
    ]
    result = client.infer("iris", [matrix], outputs=outputs, request_id="r1")
    expected = models["iris"](rows.tolist())
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-6)
    answer = result.get_response()
    assert answer["id"] == "r1"
    by_name = {output["name"]: output for output in answer["outputs"]}
    assert "data" in by_name["probabilities"] and "parameters" not in by_name["probabilities"]
    assert by_name["prediction"]["parameters"]["binary_data_size"] == sum(
        4 + len(label) for label in result.as_numpy("prediction")
    )
    only = client.infer("iris", [matrix], outputs=[httpclient.InferRequestedOutput("prediction")])
    assert [output["name"] for output in only.get_response()["outputs"]] == ["prediction"]


def test_image_model_reads_image_files_as_bytes(triton):
    _, client, models, cases = triton
    images = fixture_path("images")
    rows = [image_row(v["input"], images) for v in cases["digits"]["validation"]]
    metadata = client.get_model_metadata("digits")
    result = client.infer("digits", field_inputs(metadata, rows, True, lambda path: Path(path).read_bytes()))
    np.testing.assert_array_equal(result.as_numpy("probabilities"), models["digits"](rows))


def batch_counts(entry: dict) -> dict[int, int]:
    """Engine calls by batch size."""
    return {batch["batch_size"]: batch["compute_infer"]["count"] for batch in entry["batch_stats"]}


def test_concurrent_image_requests_are_batched_by_eight_at_most(triton):
    server, client, models, cases = triton
    images = fixture_path("images")
    rows = [image_row(v["input"], images) for v in cases["digits"]["validation"]]
    expected = models["digits"](rows)
    before = batch_counts(stats(client, "digits"))
    metadata = client.get_model_metadata("digits")

    def one(i: int) -> np.ndarray:
        client = triton_client(server)
        row = rows[i % len(rows)]
        result = client.infer(
            "digits", field_inputs(metadata, [row], True, lambda path: Path(path).read_bytes())
        )
        client.close()
        return result.as_numpy("probabilities")[0]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(48)))
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, expected[i % len(rows)])
    after = batch_counts(stats(client, "digits"))
    new = {size: count - before.get(size, 0) for size, count in after.items() if count > before.get(size, 0)}
    assert sum(size * count for size, count in new.items()) == 48 and max(new) <= 8, new
    assert sum(new.values()) < 48, "no two requests shared an engine call"


def test_eye_detector_from_bigml_zip_takes_a_jpeg_as_bytes(triton):
    _, client, models, _ = triton
    photo = fixture_path("detection/pexels-pixabay-33358.jpg")
    black = fixture_path("images/black.png")
    detector = models[EYES]
    expected = detector(str(photo))
    assert len(expected) >= 2 and not detector(str(black))
    name = client.get_model_metadata(EYES)["inputs"][0]["name"]
    images = httpclient.InferInput(name, [2], "BYTES")
    images.set_data_from_numpy(np.array([photo.read_bytes(), black.read_bytes()], dtype=np.object_))
    result = client.infer(EYES, [images])
    assert_found_in_photo_only(result, expected)


def stats(client, name: str, version: str = "") -> dict:
    (entry,) = client.get_inference_statistics(name, version)["model_stats"]
    return entry


def test_statistics_count_what_was_sent(triton):
    _, client, _, _ = triton
    before = stats(client, "iris")
    rows = np.float32([[5.1, 3.5, 1.4, 0.2]] * 3)
    matrix = httpclient.InferInput("matrix", [3, 4], "FP32")
    matrix.set_data_from_numpy(rows)
    for _ in range(5):
        client.infer("iris", [matrix])
    wrong = httpclient.InferInput("matrix", [3, 3], "FP32")
    wrong.set_data_from_numpy(rows[:, :3].copy())
    with pytest.raises(InferenceServerException, match=r"shape \[rows, 4\]"):
        client.infer("iris", [wrong])
    after = stats(client, "iris", "1")
    assert after["name"] == "iris" and after["version"] == "1"
    assert after["inference_count"] - before["inference_count"] == 15
    assert 1 <= after["execution_count"] - before["execution_count"] <= 5
    counts = {
        stage: after["inference_stats"][stage]["count"] - before["inference_stats"][stage]["count"]
        for stage in after["inference_stats"]
    }
    assert counts == {
        "success": 5,
        "fail": 1,
        "queue": 5,
        "compute_input": 5,
        "compute_infer": 5,
        "compute_output": 5,
        "cache_hit": 0,
    }
    for stage in ("success", "compute_infer", "fail"):
        assert after["inference_stats"][stage]["ns"] > before["inference_stats"][stage]["ns"]
    assert sum(batch["compute_infer"]["count"] for batch in after["batch_stats"]) == after["execution_count"]
    assert after["last_inference"] >= before["last_inference"] > 0 or before["inference_count"] == 0
    every = client.get_inference_statistics()["model_stats"]
    assert sorted(entry["name"] for entry in every) == sorted(["classes", "digits", "iris", EYES])
    with pytest.raises(InferenceServerException, match="no version '2'"):
        client.get_inference_statistics("iris", "2")


def binary_body(
    size: object, data: bytes, shape=(1, 4), header_length: int | None = None
) -> tuple[bytes, dict]:
    """An infer body for iris's matrix with a declared binary size and the bytes that follow."""
    tensor = {
        "name": "matrix",
        "datatype": "FP32",
        "shape": list(shape),
        "parameters": {"binary_data_size": size},
    }
    header = json.dumps({"inputs": [tensor]}).encode()
    length = len(header) if header_length is None else header_length
    return header + data, {"Inference-Header-Content-Length": str(length)}


ROW = np.float32([5.1, 3.5, 1.4, 0.2]).tobytes()
LYING_BODIES = {
    "size too long": (binary_body(20, ROW), "declares 20 bytes of binary data; the body has 16 left"),
    "size too short": (binary_body(12, ROW), "is 16 bytes, binary_data_size says 12"),
    "bytes left over": (binary_body(16, ROW + b"more"), "4 bytes after the binary data"),
    "size negative": (binary_body(-16, ROW), "non-negative integer"),
    "size over the body limit": (binary_body(MAX_BODY * 10, ROW), "the body has 16 left"),
    "size not a number": (binary_body("16", ROW), "non-negative integer"),
    "shape and size disagree": (binary_body(16, ROW, shape=(2, 4)), "is 32 bytes"),
    "header length too long": (binary_body(16, ROW, header_length=10**6), "Inference-Header-Content-Length"),
    "header length negative": (binary_body(16, ROW, header_length=-5), "Inference-Header-Content-Length"),
    "header length cuts the JSON": (binary_body(16, ROW, header_length=10), "malformed JSON"),
}


def bytes_body(elements: bytes, count: int) -> tuple[bytes, dict]:
    tensor = {"name": "sepal length (cm)", "datatype": "BYTES", "shape": [count]}
    tensor["parameters"] = {"binary_data_size": len(elements)}
    header = json.dumps({"inputs": [tensor]}).encode()
    return header + elements, {"Inference-Header-Content-Length": str(len(header))}


LYING_BODIES |= {
    "element length too long": (bytes_body(struct.pack("<I", 9) + b"abc", 1), "declares 9 bytes"),
    "element length cut short": (bytes_body(b"\x01\x00", 1), "cut short"),
    "fewer elements than the shape": (bytes_body(struct.pack("<I", 1) + b"a", 2), "holds 2 BYTES elements"),
}


def test_unsupported_encodings_are_named(triton):
    server, client, _, _ = triton
    rows = np.float32([[5.1, 3.5, 1.4, 0.2]])
    matrix = httpclient.InferInput("matrix", [1, 4], "FP32")
    matrix.set_data_from_numpy(rows)
    with pytest.raises(InferenceServerException, match="Content-Encoding 'gzip' is not supported"):
        client.infer("iris", [matrix], request_compression_algorithm="gzip")
    with pytest.raises(InferenceServerException, match="sequence extension"):
        client.infer("iris", [matrix], sequence_id=7)
    with pytest.raises(InferenceServerException, match="classification extension"):
        client.infer(
            "iris", [matrix], outputs=[httpclient.InferRequestedOutput("probabilities", class_count=2)]
        )
    flags = httpclient.InferInput("matrix", [1, 4], "BOOL")
    flags.set_data_from_numpy(np.ones((1, 4), dtype=bool))
    with pytest.raises(InferenceServerException, match="datatype BOOL is not supported"):
        client.infer("iris", [flags])
    body, _ = binary_body(16, ROW)
    status, answer = server.request("POST", "/v2/models/iris/infer", raw=body)
    assert status == 400 and "Inference-Header-Content-Length header gives" in answer["error"], answer
    assert client.infer("iris", [matrix]).as_numpy("probabilities").shape == (1, 3)


@pytest.mark.parametrize("case", list(LYING_BODIES))
def test_binary_sizes_that_lie_get_400_and_the_next_request_is_answered(triton, case):
    server, client, models, _ = triton
    (body, headers), words = LYING_BODIES[case]
    status, answer = server.request("POST", "/v2/models/iris/infer", raw=body, headers=headers)
    assert status == 400 and words in answer["error"], answer
    good, headers = binary_body(16, ROW)
    status, answer = server.request("POST", "/v2/models/iris/infer", raw=good, headers=headers)
    assert status == 200, answer
    expected = models["iris"]([np.frombuffer(ROW, np.float32).tolist()])
    np.testing.assert_allclose(answer["outputs"][0]["data"], expected.ravel(), rtol=1e-6)
