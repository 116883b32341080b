"""`sensenet serve`: a real server process on 127.0.0.1 and a real HTTP client (http.client).

One server answers for a row classifier, a regression, an image model and the eye detector;
its answers must equal the Python API's. A second, small server is stopped with SIGTERM while
requests wait in a batch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import socket
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sensenet.cli import main
from sensenet.exceptions import ModelNotFoundError
from sensenet.models.wrappers import create_model
from tests.conftest import REPO_ROOT, fixture_path, load_cases
from tests.serving import EYES, REQUEST_TIMEOUT, Server, image_row, metric, write_models

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

MAX_BODY = 1_000_000


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_model(directory: Path, name: str, network: dict) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(network))
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    cases = write_models(directory, dense="dense.json", classes="classes.json", digits="digits.json")
    with zipfile.ZipFile(fixture_path(f"detection/{EYES}.zip")) as archive:
        (directory / "eyes.json").write_bytes(archive.read(archive.namelist()[0]))
    (directory / "iris.json").write_bytes((REPO_ROOT / "sensenet" / "examples" / "iris.json").read_bytes())
    log = tmp_path_factory.mktemp("log") / "server.log"
    # an empty compiled-model cache of its own: the models are built, and readiness waits for them
    empty = {"SENSENET_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    options = ("--max-wait-ms", "5", "--max-body-bytes", str(MAX_BODY))
    with Server([directory], log, *options, env=empty) as server:
        names = ("dense", "classes", "digits", "iris", "eyes")
        models = {name: create_model(str(directory / f"{name}.json")) for name in names}
        server.wait_ready()
        yield server, models, cases


def field_tensors(metadata: dict, rows: list, encode_image=None) -> list[dict]:
    """One OIP tensor per field, built from the metadata only (as a generic client would)."""
    tensors = []
    for tensor in metadata["inputs"]:
        index = tensor["parameters"]["index"]
        values = [row[index] for row in rows]
        if tensor["parameters"]["optype"] == "image":
            values = [encode_image(value) for value in values]
        datatype = tensor["datatype"] if tensor["datatype"] == "BYTES" else "FP64"
        tensors.append({"name": tensor["name"], "datatype": datatype, "shape": [len(rows)], "data": values})
    return tensors


def outputs_by_name(answer: dict) -> dict[str, dict]:
    return {tensor["name"]: tensor for tensor in answer["outputs"]}


def test_health_and_server_metadata(served):
    server, _, _ = served
    assert server.seen_unready, "readiness answered 200 before the models were built"
    assert server.request("GET", "/v2/health/live") == (200, {"live": True})
    assert server.request("GET", "/v2/health/ready") == (200, {"ready": True})
    status, metadata = server.request("GET", "/v2")
    assert status == 200 and metadata["name"] == "sensenet"
    status, listing = server.request("GET", "/v1/models")
    assert sorted(listing["models"]) == ["classes", "dense", "digits", "eyes", "iris"]
    for name in listing["models"]:
        assert server.request("GET", f"/v2/models/{name}/ready") == (200, {"name": name, "ready": True})


def test_model_metadata_describes_inputs_and_outputs(served):
    server, models, _ = served
    _, classes = server.request("GET", "/v2/models/classes")
    model = models["classes"]
    assert [t["name"] for t in classes["inputs"]] == [f.name for f in model.fields]
    kinds = {"numeric": "FP32", "categorical": "BYTES"}
    assert [t["datatype"] for t in classes["inputs"]] == [
        kinds[t["parameters"]["optype"]] for t in classes["inputs"]
    ]
    assert classes["parameters"]["classes"] == model.classes
    assert {t["name"]: t["shape"] for t in classes["outputs"]} == {
        "probabilities": [-1, len(model.spec.classes)],
        "prediction": [-1],
    }
    assert classes["parameters"]["matrix_input"]["shape"] == [-1, len(model.spec.inputs)]
    _, dense = server.request("GET", "/v2/models/dense")
    assert dense["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1, 1]}]
    _, digits = server.request("GET", "/v2/models/digits")
    images = [t for t in digits["inputs"] if t["parameters"]["optype"] == "image"]
    assert len(images) == 2 and all("base64" in t["parameters"]["content"] for t in images)
    assert "matrix_input" not in digits["parameters"]
    _, eyes = server.request("GET", "/v2/models/eyes")
    assert [t["name"] for t in eyes["outputs"]] == ["count", "boxes", "scores", "classes"]
    assert eyes["parameters"]["classes"] == ["eye"]


@pytest.mark.parametrize("name", ["classes", "dense"])
def test_infer_field_tensors_equal_the_python_api(served, name):
    server, models, cases = served
    rows = [case["input"] for case in cases[name]["validation"]]
    _, metadata = server.request("GET", f"/v2/models/{name}")
    status, answer = server.request(
        "POST", f"/v2/models/{name}/infer", {"id": "r1", "inputs": field_tensors(metadata, rows)}
    )
    assert status == 200, answer
    assert answer["id"] == "r1" and answer["model_name"] == name
    expected = models[name](rows)
    outputs = outputs_by_name(answer)
    if name == "classes":
        probabilities = outputs["probabilities"]
        assert probabilities["shape"] == list(expected.shape)
        np.testing.assert_array_equal(np.float32(probabilities["data"]).reshape(expected.shape), expected)
        assert outputs["prediction"]["data"] == [
            record["prediction"] for record in models[name].predict(rows)
        ]
    else:
        assert outputs["prediction"]["shape"] == [len(rows), 1]
        np.testing.assert_array_equal(np.float32(outputs["prediction"]["data"]).reshape(-1, 1), expected)
    bigml = np.array([case["output"] for case in cases[name]["validation"]])
    assert np.abs(expected - bigml).max() < 1e-6


def test_infer_matrix_form_and_output_selection(served):
    server, models, cases = served
    rows = [case["input"] for case in cases["classes"]["validation"]]
    matrix = models["classes"].encode(rows)
    body = {
        "inputs": [
            {"name": "matrix", "datatype": "FP32", "shape": list(matrix.shape), "data": matrix.tolist()}
        ],
        "outputs": [{"name": "probabilities"}],
    }
    status, answer = server.request("POST", "/v2/models/classes/infer", body)
    assert status == 200, answer
    assert [tensor["name"] for tensor in answer["outputs"]] == ["probabilities"]
    np.testing.assert_array_equal(
        np.float32(answer["outputs"][0]["data"]).reshape(len(rows), -1), models["classes"](rows)
    )


@pytest.mark.parametrize("name", ["classes", "dense"])
def test_predict_rows_and_records(served, name):
    server, models, cases = served
    rows = [case["input"] for case in cases[name]["validation"]]
    expected = models[name].predict(rows)
    status, answer = server.request("POST", f"/v1/models/{name}/predict", {"rows": rows})
    assert (status, answer) == (200, {"predictions": expected})
    records = [{f.name: row[f.index] for f in models[name].fields} for row in rows]
    status, answer = server.request("POST", f"/v1/models/{name}/predict", {"records": records})
    assert (status, answer) == (200, {"predictions": expected})


def test_fields_named_by_bigml(served):
    server, models, _ = served
    iris = models["iris"]
    _, metadata = server.request("GET", "/v2/models/iris")
    assert [(t["name"], t["parameters"]["field_id"]) for t in metadata["inputs"]] == [
        (f.name, f.id) for f in iris.fields
    ]
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, None, 4.2, 1.5]]
    records = [{"id": n, **{f.name: row[f.index] for f in iris.fields}} for n, row in enumerate(rows)]
    status, answer = server.request("POST", "/v1/models/iris/predict", {"records": records})
    assert (status, answer) == (200, {"predictions": iris.predict(rows)})  # "id" ignored, as by the API
    status, answer = server.request(
        "POST", "/v2/models/iris/infer", {"inputs": field_tensors(metadata, rows)}
    )
    assert status == 200
    assert outputs_by_name(answer)["prediction"]["data"] == [r["prediction"] for r in iris.predict(rows)]


def test_image_model_takes_image_bytes(served):
    server, models, cases = served
    images = fixture_path("images")
    rows = [image_row(case["input"], images) for case in cases["digits"]["validation"]]
    expected = models["digits"](rows)
    _, metadata = server.request("GET", "/v2/models/digits")
    tensors = field_tensors(metadata, rows, lambda path: b64(Path(path)))
    status, answer = server.request("POST", "/v2/models/digits/infer", {"inputs": tensors})
    assert status == 200, answer
    probabilities = outputs_by_name(answer)["probabilities"]
    np.testing.assert_array_equal(np.float32(probabilities["data"]).reshape(expected.shape), expected)
    bigml = np.array([case["output"] for case in cases["digits"]["validation"]])
    assert np.abs(expected - bigml).max() < 1e-6
    encoded = [[b64(Path(v)) if isinstance(v, str) and "/" in v else v for v in row] for row in rows]
    status, answer = server.request("POST", "/v1/models/digits/predict", {"rows": encoded})
    assert (status, answer) == (200, {"predictions": models["digits"].predict(rows)})


def test_detector_finds_the_eyes(served):
    server, models, _ = served
    photo = fixture_path("detection/pexels-pixabay-33358.jpg")
    black = fixture_path("images/black.png")
    expected = [models["eyes"](str(photo)), models["eyes"](str(black))]
    assert len(expected[0]) >= 2 and not expected[1]
    tensor = {"name": "field_0", "datatype": "BYTES", "shape": [2], "data": [b64(photo), b64(black)]}
    _, metadata = server.request("GET", "/v2/models/eyes")
    tensor["name"] = metadata["inputs"][0]["name"]
    status, answer = server.request("POST", "/v2/models/eyes/infer", {"inputs": [tensor]})
    assert status == 200, answer
    outputs = outputs_by_name(answer)
    found = len(expected[0])
    assert outputs["count"]["data"] == [found, 0]
    assert outputs["boxes"]["shape"] == [2, found, 4]
    boxes = np.array(outputs["boxes"]["data"]).reshape(2, found, 4)
    assert boxes[0].tolist() == [obj["box"] for obj in expected[0]] and not boxes[1].any()
    scores = np.float32(outputs["scores"]["data"]).reshape(2, found)
    np.testing.assert_array_equal(scores[0], np.float32([obj["score"] for obj in expected[0]]))
    assert outputs["classes"]["data"] == ["eye"] * found + [""] * found
    status, answer = server.request("POST", "/v1/models/eyes/predict", {"images": [b64(photo)]})
    assert (status, answer) == (200, {"predictions": models["eyes"].predict(str(photo))})


def chunked(data: bytes, size: int = 65536):
    for start in range(0, len(data), size):
        yield data[start : start + size]


BAD_REQUESTS = [
    # (method, path, body, status, words of the error)
    ("POST", "/v2/models/dense/infer", b"{not json", 400, "malformed JSON"),
    ("POST", "/v2/models/dense/infer", b"", 400, "empty request body"),
    ("POST", "/v2/models/dense/infer", b"[1, 2]", 400, "JSON object with 'inputs'"),
    ("POST", "/v2/models/dense/infer", b'{"inputs": []}', 400, "non-empty list"),
    ("POST", "/v2/models/nothing/infer", b'{"inputs": []}', 404, "unknown model 'nothing'"),
    ("GET", "/v2/models/" + "x" * 500, None, 404, "unknown model"),
    ("GET", "/v3/elsewhere", None, 404, "Not Found"),
    ("GET", "/v2/models/dense/infer", None, 405, "Method Not Allowed"),
    ("POST", "/v1/models/dense/predict", b'{"rows": [[1, 2]]}', 400, "rows need at least"),
    ("POST", "/v1/models/dense/predict", b'{"rows": [[0, "a", 7, "x", 1, 2, "b"]]}', 400, "'x' is not a"),
    (
        "POST",
        "/v1/models/dense/predict",
        b'{"records": [{"nope": 1}]}',
        400,
        "no key of the records names an input field",
    ),
    ("POST", "/v1/models/dense/predict", b'{"rows": [[[1, 2], "a", 7, 1, 1, 2, "b"]]}', 400, "got a list"),
    ("POST", "/v1/models/dense/predict", b'{"records": [{"field_1": {"a": 1}}]}', 400, "got a dict"),
    ("POST", "/v1/models/dense/predict", b'{"rows": [[0]], "records": []}', 400, "one of"),
    ("POST", "/v1/models/dense/predict", b'{"images": ["AAAA"]}', 400, "does not read one image"),
    ("POST", "/v1/models/dense/predict", b'{"rows": [[1e39, "a", 0, 1, 2, 3, "b"]]}', 400, "infinite"),
    ("POST", "/v1/models/digits/predict", b'{"rows": [["b", "%%%", 0, null]]}', 400, "not a base64"),
    (
        "POST",
        "/v1/models/digits/predict",
        b'{"rows": [["b", "aGVsbG8=", 0, null]]}',
        400,
        "cannot be decoded",
    ),
    ("POST", "/v1/models/eyes/predict", b'{"images": ["aGVsbG8="]}', 400, "cannot be decoded"),
    ("POST", "/v1/models/eyes/predict", b'{"images": ["/etc/passwd"]}', 400, "not a base64"),
]


def tensor_body(**changes) -> bytes:
    tensor = {"name": "matrix", "datatype": "FP32", "shape": [1, 6], "data": [0, 1, 0.5, 42, 0.5, 2]}
    tensor.update(changes)
    return json.dumps({"inputs": [tensor]}).encode()


BAD_TENSORS = [
    (tensor_body(name="wrong"), "unknown: wrong"),
    (tensor_body(shape=[2, 6]), "holds 12 values"),
    (tensor_body(shape=[1, 5], data=[0] * 5), "shape [rows, 6]"),
    (tensor_body(datatype="BYTES"), "numeric datatype"),
    (tensor_body(datatype="STRING"), "'datatype' must be one of"),
    (tensor_body(data=[0, 1, "x", 42, 0.5, 2]), "'x' is not a FP32 number"),
    (tensor_body(shape=[-1, 6]), "non-negative integers"),
    (tensor_body(data="1,2,3"), "'data' must be a list"),
    (
        json.dumps({"inputs": [{"name": "field_0", "datatype": "FP32", "shape": [1], "data": [1]}]}).encode(),
        "missing",
    ),
    (json.dumps({"inputs": [{"name": "matrix"}], "outputs": [{"name": "nope"}]}).encode(), "unknown output"),
]


def assert_good_request(server: Server, models: dict, cases: dict) -> None:
    row = cases["dense"]["validation"][0]["input"]
    status, answer = server.request("POST", "/v1/models/dense/predict", {"rows": [row]})
    assert status == 200 and answer["predictions"][0]["prediction"] == float(models["dense"]([row])[0, 0])


@pytest.mark.parametrize("method, path, body, status, words", BAD_REQUESTS)
def test_bad_requests_get_4xx_with_the_reason(served, method, path, body, status, words):
    server, models, cases = served
    answer_status, answer = server.request(method, path, raw=body)
    assert answer_status == status and words in answer["error"], answer
    assert_good_request(server, models, cases)


@pytest.mark.parametrize("body, words", BAD_TENSORS)
def test_bad_tensors_get_400_with_the_reason(served, body, words):
    server, models, cases = served
    status, answer = server.request("POST", "/v2/models/dense/infer", raw=body)
    assert status == 400 and words in answer["error"], answer
    assert_good_request(server, models, cases)


def test_oversized_bodies_are_refused_while_reading(served):
    server, models, cases = served
    big = b'{"rows": [' + b"[0]," * (MAX_BODY // 2) + b"[0]]}"
    declared = server.request("POST", "/v1/models/dense/predict", raw=big)
    assert declared[0] == 413 and "over the limit" in declared[1]["error"]
    streamed = server.request("POST", "/v1/models/dense/predict", raw=chunked(big))
    assert streamed[0] == 413 and "over the limit" in streamed[1]["error"]
    assert_good_request(server, models, cases)


def test_concurrent_clients_are_batched(served):
    server, models, cases = served
    base = np.array([case["input"] for case in cases["dense"]["validation"]], dtype=object)
    rows = [list(base[i % len(base)]) for i in range(32 * 8)]
    for i, row in enumerate(rows):
        row[0] = float(i)
    expected = models["dense"](rows)[:, 0]
    _, before = server.request("GET", "/metrics")

    def client(start: int) -> list[tuple[int, float]]:
        """Every 8th request of a client is bad: it gets its own error, the others their answers."""
        answers = []
        for n, i in enumerate(range(start, len(rows), 32)):
            row = [*rows[i][:3], "x", *rows[i][4:]] if n % 8 == 7 else rows[i]
            status, answer = server.request("POST", "/v1/models/dense/predict", {"rows": [row]})
            if row is rows[i]:
                answers.append((i, answer["predictions"][0]["prediction"] if status == 200 else answer))
            else:
                assert (status, answer) == (400, {"error": "row 0, column 3: 'x' is not a number"})
        return answers

    with ThreadPoolExecutor(32) as pool:
        answers = [answer for answers in pool.map(client, range(32)) for answer in answers]
    assert len(answers) == len(rows) - len(rows) // 8
    assert all(value == float(expected[i]) for i, value in answers)
    _, after = server.request("GET", "/metrics")

    def change(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, default=0.0, **labels)

    calls = change("sensenet_batch_requests_count", model="dense")
    assert change("sensenet_batch_requests_sum", model="dense") == len(rows)
    assert calls < len(rows), "no two requests shared an engine call"
    assert change("sensenet_requests_total", model="dense", endpoint="predict", code="200") == len(answers)
    bad = change("sensenet_request_errors_total", model="dense", endpoint="predict", code="400")
    assert bad == len(rows) // 8
    assert change("sensenet_request_duration_seconds_count", model="dense", endpoint="predict") == len(rows)
    assert 'model="x' not in after  # made-up model names never become labels


def test_access_log_has_one_line_per_request(served):
    server, _, _ = served
    path = f"/v2/models/probe-{time.monotonic_ns()}"
    line = f'"GET {path}" 404'
    server.request("GET", path)
    deadline = time.monotonic() + 5
    while line not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.log.read_text().count(line) == 1


def half_sent_request(port: int, body: bytes) -> tuple[socket.socket, bytes]:
    """A connection holding a request whose body is half sent, and the other half."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
    head = f"POST /v1/models/dense/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
    half = len(body) // 2
    sock.sendall(head.encode() + body[:half])
    return sock, body[half:]


def read_answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        if length and len(payload) >= int(length.group(1)):
            return int(head.split()[1]), json.loads(payload)
    raise AssertionError(f"connection closed before the answer: {data!r}")


def test_sigterm_lets_requests_in_progress_finish(tmp_path):
    case = load_cases("regression.json.gz")[0]
    path = write_model(tmp_path, "dense", case["model"])
    rows = [c["input"] for c in case["validation"]]
    expected = create_model(str(path)).predict(rows)
    with Server([path], tmp_path / "server.log") as server:
        server.wait_ready()
        # Requests in progress when SIGTERM comes: their bodies are half sent.
        pending = [half_sent_request(server.port, json.dumps({"rows": [row]}).encode()) for row in rows]
        load = ThreadPoolExecutor(8)
        answers = [
            load.submit(server.request, "POST", "/v1/models/dense/predict", {"rows": [row]}) for row in rows
        ]
        # Whole requests answered meanwhile (a slow machine must not see them refused after SIGTERM).
        futures.wait(answers, timeout=REQUEST_TIMEOUT)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        for sock, rest in pending:
            sock.sendall(rest)
        finished = []
        for sock, _ in pending:
            with sock:
                finished.append(read_answer(sock))
        assert server.process.wait(timeout=30) == 0, server.log.read_text()
        load.shutdown()
    assert finished == [(200, {"predictions": [record]}) for record in expected]
    assert [answer.result() for answer in answers] == [
        (200, {"predictions": [record]}) for record in expected
    ]


def test_a_model_that_cannot_load_stops_the_server(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"layers": [], "preprocess": []}')
    server = Server([path], tmp_path / "server.log")
    assert server.process.wait(timeout=60) == 1
    assert "error: " + str(path) + ": network.preprocess" in server.log.read_text()


def test_command_line_errors(tmp_path, capsys, monkeypatch):
    assert main(["serve", str(tmp_path / "missing.json")]) == 1
    assert "not found" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["serve", str(tmp_path)]) == 1
    assert "holds no model files" in capsys.readouterr().err
    assert main(["serve", "--threads", "0", str(tmp_path)]) == 1
    assert "--threads must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # a bad option value is a usage error, as for predict
        main(["serve", "--example", "nope"])
    assert usage.value.code == 2 and "iris" in capsys.readouterr().err
    assert main(["serve", "--workers", "0", str(tmp_path)]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err
    (tmp_path / "iris.zip").write_bytes(b"PK\x03\x04")
    assert main(["serve", "--example", "iris", str(tmp_path / "iris.zip")]) == 1
    assert "two models would be served as 'iris'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "starlette", None)
    assert main(["serve", str(tmp_path)]) == 1
    assert 'pip install "sensenet-local[serve]"' in capsys.readouterr().err


def test_model_files_and_their_names(tmp_path):
    from sensenet.serve.catalog import find_model_files

    for name in ("a.json", "b.json.gz", "c.smbundle", "e.zip", "notes.txt", ".json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.json").write_text("{}")
    found = find_model_files([str(tmp_path), str(tmp_path / "sub" / "d.json")])
    assert {name: path.name for name, path in found.items()} == {
        "a": "a.json",
        "b": "b.json.gz",
        "c": "c.smbundle",
        "d": "d.json",
        "e": "e.zip",
    }
    (tmp_path / "sub" / "a.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="two models would be served as 'a'"):
        find_model_files([str(tmp_path), str(tmp_path / "sub")])
    with pytest.raises(ModelNotFoundError, match="not a model file"):
        find_model_files([str(tmp_path / "notes.txt")])


def test_unknown_categories_are_counted_in_metrics(served):
    """Values not among a field's categories predict as missing (BigML's rule) and are counted, per
    model and field, for requests that were predicted (rows and records; bad requests not)."""
    server, models, cases = served
    dense = models["dense"]
    categorical = [f for f in dense.fields if f.optype == "categorical"]
    row = list(cases["dense"]["validation"][0]["input"])
    first, second = categorical[0], categorical[1]
    unknown_rows = [
        {**dict(enumerate(row)), first.index: "never seen", second.index: "nor this"},
        {**dict(enumerate(row)), first.index: "again"},
        {**dict(enumerate(row)), first.index: None, second.index: ""},  # missing: not counted
    ]
    rows = [[values[i] for i in range(len(row))] for values in unknown_rows]
    _, before = server.request("GET", "/metrics")
    status, answer = server.request("POST", "/v1/models/dense/predict", {"rows": rows})
    assert status == 200 and answer == {"predictions": dense.predict(rows)}
    records = [{f.name: r[f.index] for f in dense.fields} for r in rows[:1]]
    assert server.request("POST", "/v1/models/dense/predict", {"records": records})[0] == 200
    bad = [*rows[0][:3], "x", *rows[0][4:]]
    assert server.request("POST", "/v1/models/dense/predict", {"rows": [bad]})[0] == 400
    _, after = server.request("GET", "/metrics")
    assert "# TYPE sensenet_unknown_categories_total counter" in after

    def change(field: str) -> float:
        labels = {"model": "dense", "field": field}
        return metric(after, "sensenet_unknown_categories_total", **labels) - metric(
            before, "sensenet_unknown_categories_total", default=0.0, **labels
        )

    assert (change(first.name), change(second.name)) == (3, 2)
    assert dense.unknown_categories(rows) == {first.name: 2, second.name: 1}


def _batch_requests(run: Callable[[list], list], requests: int, max_batch_rows: int, workers: int) -> None:
    """`requests` one-row requests (0, 1, ...) submitted at once to a MicroBatcher running `run`
    on `workers` workers; each must be answered with its own row."""
    from sensenet.serve.batching import MicroBatcher

    async def main() -> None:
        batcher = MicroBatcher(
            run, max_batch_rows=max_batch_rows, max_wait=0, observe=lambda *_: None, name="m", workers=workers
        )
        batcher.start()
        done = await asyncio.gather(*(batcher.submit(n, 1) for n in range(requests)))
        assert [d.outcome for d in done] == list(range(requests))
        await batcher.stop()

    asyncio.run(main())


def _batches_side_by_side(workers: int) -> int:
    """How many batches of one model were in a worker at the same time, most, for 4 requests that
    each wait (up to 2 s) for another batch to start, under `workers` workers."""
    lock, state = threading.Lock(), {"now": 0, "most": 0}
    met = threading.Barrier(2)

    def run(items: list) -> list:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            met.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        with lock:
            state["now"] -= 1
        return items

    _batch_requests(run, 4, max_batch_rows=1, workers=workers)
    return state["most"]


def test_workers_run_a_models_batches_side_by_side():
    assert _batches_side_by_side(workers=2) == 2
    assert _batches_side_by_side(workers=1) == 1


def test_waiting_requests_are_split_among_free_workers():
    """Eight requests waiting, two free workers: four each, not eight in one batch while the other
    worker idles; one worker takes them all (up to its batch limit)."""

    def batch_sizes(workers: int) -> list[int]:
        sizes: list[int] = []
        lock = threading.Lock()

        def run(items: list) -> list:
            with lock:
                sizes.append(len(items))
            time.sleep(0.05)
            return items

        _batch_requests(run, 8, max_batch_rows=8, workers=workers)
        return sizes

    assert batch_sizes(workers=2) == [4, 4]
    assert batch_sizes(workers=1) == [8]


def test_a_batch_alone_takes_every_core_and_side_by_side_ones_do_not():
    """A lone request on an idle model runs on the wide session (`run_alone`); requests that
    arrive together, and lone ones within a second of batches side by side, run on the narrow."""
    from sensenet.serve.batching import SIDE_BY_SIDE_MEMORY, MicroBatcher

    calls: list[tuple[str, int]] = []
    lock = threading.Lock()

    def runner(kind: str) -> Callable[[list], list]:
        def run(items: list) -> list:
            with lock:
                calls.append((kind, len(items)))
            time.sleep(0.05)
            return items

        return run

    async def main() -> None:
        batcher = MicroBatcher(
            runner("narrow"),
            run_alone=runner("wide"),
            max_batch_rows=8,
            max_wait=0,
            observe=lambda *_: None,
            name="m",
            workers=2,
        )
        batcher.start()
        await batcher.submit("lone", 1)
        await asyncio.gather(*(batcher.submit(n, 1) for n in range(8)))
        await batcher.submit("lone, just after", 1)
        await asyncio.sleep(SIDE_BY_SIDE_MEMORY)
        await batcher.submit("lone, a while after", 1)
        await batcher.stop()

    asyncio.run(main())
    assert calls == [("wide", 1), ("narrow", 4), ("narrow", 4), ("narrow", 1), ("wide", 1)]


def test_a_batch_alone_runs_on_the_wide_build_and_counts_its_unknown_categories(tmp_path):
    """`run_alone` predicts what `run` does, on the second build, and adds to the same counts
    /metrics shows."""
    from benchmarks.traffic import write_model
    from sensenet.serve.catalog import load_model

    fixture_path("image_regression.json.gz")
    path, rows = write_model("image", tmp_path)
    served = load_model("image", path, {"threads": 1}, alone_threads=lambda reads_images: 2)
    assert served.alone is not None and served.alone is not served.model
    categorical = next(f for f in served.fields if f.optype == "categorical")
    unknown = [
        [*row[: categorical.index], "not a category", *row[categorical.index + 1 :]] for row in rows[:3]
    ]
    alone, narrow = served.run_alone([unknown]), served.run([unknown])
    np.testing.assert_array_equal(np.asarray(alone[0]), np.asarray(narrow[0]))
    assert served.unknown_categories[categorical.name] == 6
