"""MLflow's sensenet flavor with the real MLflow: saved, logged to a local file tracking store, loaded
by path and ``runs:/`` URI, served by ``mlflow models serve`` and scored by ``spark_udf``, each
giving the local API's predictions (and BigML's numbers)."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

import mlflow
import mlflow.pyfunc
import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import ColSpec, Schema
from pyspark.sql.types import BinaryType

from sensenet import mlflow as sensenet_mlflow
from sensenet import spark as sensenet_spark
from sensenet.exceptions import (
    InputDataError,
    MissingExtraError,
    ModelFormatError,
    ModelNotFoundError,
    OutputPathError,
    UnsupportedError,
)
from sensenet.extras import install_command
from sensenet.models.wrappers import Deepnet, ObjectDetector, create_model
from tests import test_spark
from tests.conftest import REPO_ROOT, fixture_path, load_cases
from tests.serving import free_port
from tests.test_spark import _named_resource, _read

TOLERANCE = 1e-6
CLASSIFIER, REGRESSION = 2, 1  # cases of regression.json.gz
DETECTOR_SETTINGS = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}
# BigML's boxes for the photo (fixtures README): [x1, y1, x2, y2] relative to its width and height
BIGML_EYES = [[0.68164, 0.30469, 0.79688, 0.36979], [0.38086, 0.27865, 0.50391, 0.36068]]
START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 60.0

# the suite's fixtures: one local[2] Spark session, the image case, the eye detector's resource
spark = test_spark.spark
image_case = test_spark.image_case
detector_resource = test_spark.detector_resource


def _resource(number):
    """A case of regression.json.gz as a full BigML resource naming its fields ("feature <i>")."""
    case = load_cases("regression.json.gz")[number]
    width = max(item["index"] for item in case["model"]["preprocess"]) + 1
    return case, _named_resource(case["model"], [f"feature {index}" for index in range(width)])


def _records(model, rows):
    """BigML rows as records keyed by field name: numbers as floats (MLflow's double), None missing."""
    return [
        {
            f.name: float(row[f.index])
            if f.optype == "numeric" and row[f.index] is not None
            else row[f.index]
            for f in model.fields
        }
        for row in rows
    ]


def _case_frame(case, model):
    """The case's inputs, plus copies with holes, as a frame with shuffled columns and an extra one."""
    rows = [row["input"] for row in case["validation"]]
    holes = [
        [None if (r + k) % 3 == 0 else value for k, value in enumerate(row)] for r, row in enumerate(rows)
    ]
    frame = pd.DataFrame(_records(model, rows + holes))
    frame = frame[list(reversed(frame.columns))]
    frame.insert(1, "not a field", "ignored")
    return frame


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The classifier and the regression saved as MLflow models: {case number: (case, resource, path)}."""
    directory = tmp_path_factory.mktemp("mlflow")
    models = {}
    for number in (CLASSIFIER, REGRESSION):
        case, resource = _resource(number)
        path = directory / f"case{number}"
        sensenet_mlflow.save_model(resource, path, settings={"threads": 1})
        models[number] = (case, resource, path)
    return models


def test_the_model_directory_holds_bigmls_json_and_both_flavors(saved):
    case, resource, path = saved[CLASSIFIER]
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["MLmodel", "deepnet.json.gz", "requirements.txt", "python_env.yaml", "conda.yaml"]
    )
    assert orjson.loads(gzip.decompress((path / "deepnet.json.gz").read_bytes())) == resource
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"sensenet", "python_function"}
    flavor = mlmodel["flavors"]["sensenet"]
    name, version = sensenet_mlflow._distribution()
    assert flavor["sensenet_version"] == version and flavor["settings"] == {"threads": 1}
    assert flavor["kind"] == "classification" and flavor["data"] == "deepnet.json.gz"
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "sensenet.mlflow" and pyfunc["data"] == "deepnet.json.gz"

    model = create_model(resource)
    signature = mlflow.models.Model.load(str(path / "MLmodel")).signature
    inputs = signature.inputs.to_dict()
    types = {"numeric": "double", "categorical": "string"}
    assert [(i["name"], i["type"]) for i in inputs] == [(f.name, types[f.optype]) for f in model.fields]
    # the model needs a column per field (its values may be missing): MLflow refuses a frame without one
    assert [i["required"] for i in inputs] == [True] * len(model.fields)
    assert '"required": false' not in (path / "MLmodel").read_text()
    outputs = [(o["name"], o["type"]) for o in signature.outputs.to_dict()]
    assert outputs == [("prediction", "string"), ("probability", "double")] + [
        (name, "double") for name in model.classes
    ]
    requirements = (path / "requirements.txt").read_text().split("\n")
    assert f"{name}[mlflow]=={version}" in requirements
    assert any(line.startswith(("mlflow-skinny==", "mlflow==")) for line in requirements)


def test_keras_models_require_the_tensorflow_extra():
    name, version = sensenet_mlflow._distribution()
    assert sensenet_mlflow.default_pip_requirements({"engine": "keras"})[0] == (
        f"{name}[mlflow,tensorflow]=={version}"
    )


@pytest.mark.parametrize("number", [CLASSIFIER, REGRESSION])
def test_native_and_pyfunc_models_give_the_local_api_and_bigml(saved, number):
    case, resource, path = saved[number]
    native = sensenet_mlflow.load_model(path)
    assert isinstance(native, Deepnet) and native.settings.threads == 1
    local = create_model(resource)
    frame = _case_frame(case, local)
    expected = local.predict(frame, as_frame=True)
    predicted = mlflow.pyfunc.load_model(str(path)).predict(frame)
    pd.testing.assert_frame_equal(predicted, expected)
    pd.testing.assert_frame_equal(native.predict(frame, as_frame=True), expected)
    bigml = np.array([row["output"] for row in case["validation"]])
    outputs = list(local.classes) if local.classes else ["prediction"]
    assert np.allclose(predicted[outputs].to_numpy()[: len(bigml)], bigml, atol=TOLERANCE, rtol=0)


def test_log_model_and_load_by_runs_uri(tmp_path, monkeypatch):
    case, resource = _resource(CLASSIFIER)
    local = create_model(resource)
    frame = _case_frame(case, local)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.18 keeps it behind this switch
    with mlflow.start_run() as run:
        info = sensenet_mlflow.log_model(
            resource, "deepnet", input_example=frame.head(3), metadata={"source": "test"}
        )
    assert isinstance(info, ModelInfo) and set(info.flavors) == {"sensenet", "python_function"}
    assert info.metadata == {"source": "test"}
    expected = local.predict(frame, as_frame=True)
    for uri in (f"runs:/{run.info.run_id}/deepnet", info.model_uri):
        pd.testing.assert_frame_equal(mlflow.pyfunc.load_model(uri).predict(frame), expected)
        pd.testing.assert_frame_equal(sensenet_mlflow.load_model(uri).predict(frame, as_frame=True), expected)


def _image_frame(model, rows):
    """Rows of the image case as a frame: image fields as the files' bytes."""
    return pd.DataFrame(
        [
            {f.name: bytes(_read(v)) if f.optype == "image" else v for f, v in zip(model.fields, row)}
            for row in rows
        ]
    )


@pytest.fixture(scope="module")
def image_saved(image_case, tmp_path_factory):
    case, model, rows = image_case
    path = tmp_path_factory.mktemp("mlflow-image") / "model"
    sensenet_mlflow.save_model(case["model"], path)
    return path


def test_an_image_model_reads_binary_columns(image_case, image_saved):
    case, model, rows = image_case
    mlmodel = mlflow.models.Model.load(str(image_saved / "MLmodel"))
    types = {"numeric": "double", "categorical": "string", "image": "binary"}
    assert [i["type"] for i in mlmodel.signature.inputs.to_dict()] == [types[f.optype] for f in model.fields]
    predicted = mlflow.pyfunc.load_model(str(image_saved)).predict(_image_frame(model, rows))
    bigml = [row["output"] for row in case["validation"]]
    assert np.allclose(predicted[model.classes], bigml, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def detector_saved(detector_resource, tmp_path_factory):
    path = tmp_path_factory.mktemp("mlflow-detector") / "model"
    sensenet_mlflow.save_model(detector_resource, path, settings=DETECTOR_SETTINGS)
    return path


def test_the_eye_detector_finds_bigmls_boxes(detector_saved):
    from PIL import Image

    detector = sensenet_mlflow.load_model(detector_saved)
    assert isinstance(detector, ObjectDetector)
    photo = fixture_path("detection/pexels-pixabay-33358.jpg")
    frame = pd.DataFrame({detector.fields[0].name: [photo.read_bytes(), None]})
    predicted = mlflow.pyfunc.load_model(str(detector_saved)).predict(frame)
    assert predicted["objects"][0] == detector(str(photo)) and predicted["objects"][1] == []
    width, height = Image.open(photo).size
    relative = [np.array(o["box"]) / [width, height, width, height] for o in predicted["objects"][0]]
    assert np.allclose(relative, BIGML_EYES, atol=2e-3)
    assert [o["label"] for o in predicted["objects"][0]] == ["eye", "eye"]


# --- Spark --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workers(request):
    """The session, with this checkout first on its Python workers' path (they get the driver's
    environment when Spark starts them), so spark_udf's workers load this sensenet.mlflow."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(REPO_ROOT), *filter(None, [before])]))
    try:
        yield request.getfixturevalue("spark")
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


@pytest.mark.parametrize("number", [CLASSIFIER, REGRESSION])
def test_spark_udf_gives_what_sensenet_spark_gives(workers, saved, number):
    case, resource, path = saved[number]
    model = create_model(resource)
    rows = _records(model, [row["input"] for row in case["validation"]])
    types = [test_spark._spark_type(f) for f in model.fields]
    columns = [f.name for f in model.fields]
    df = test_spark._frame(workers, columns, types, [[row[c] for c in columns] for row in rows])
    udf = mlflow.pyfunc.spark_udf(workers, str(path))
    scored = test_spark._sorted(df.withColumn("mlflow", udf(*[df[f"`{c}`"] for c in columns])))
    expected = test_spark._sorted(sensenet_spark.predict(df, resource))
    if model.kind == "regression":
        assert [row["mlflow"] for row in scored] == [row["prediction"] for row in expected]
        return
    assert [row["mlflow"]["prediction"] for row in scored] == [row["prediction"] for row in expected]
    by_class = [[row["mlflow"][name] for name in model.classes] for row in scored]
    assert np.array_equal(np.array(by_class, dtype=np.float32), [row["probabilities"] for row in expected])


def test_spark_udf_scores_images_and_detects_eyes(workers, image_case, image_saved, detector_saved):
    case, model, rows = image_case
    frame = _image_frame(model, rows)
    types = [BinaryType() if f.optype == "image" else test_spark._spark_type(f) for f in model.fields]
    df = test_spark._frame(workers, list(frame.columns), types, frame.values.tolist())
    udf = mlflow.pyfunc.spark_udf(workers, str(image_saved))
    scored = test_spark._sorted(df.withColumn("mlflow", udf(*[df[f"`{c}`"] for c in frame.columns])))
    expected = test_spark._sorted(sensenet_spark.predict(df, case["model"]))
    by_class = [[row["mlflow"][name] for name in model.classes] for row in scored]
    assert np.array_equal(np.array(by_class, dtype=np.float32), [row["probabilities"] for row in expected])

    photo = str(fixture_path("detection/pexels-pixabay-33358.jpg"))
    files = workers.read.format("binaryFile").load(photo)
    detector = sensenet_mlflow.load_model(detector_saved)
    udf = mlflow.pyfunc.spark_udf(
        workers, str(detector_saved), result_type=sensenet_mlflow.DETECTOR_SPARK_TYPE
    )
    found = files.select(udf(files["content"].alias(detector.fields[0].name)).alias("found")).collect()
    objects = [o.asDict(recursive=True) for o in found[0]["found"]["objects"]]
    expected = sensenet_spark.predict(files, detector, keep_columns=["path"]).collect()[0]["objects"]
    assert objects == [o.asDict(recursive=True) for o in expected]


# --- mlflow models serve ------------------------------------------------------------------------


class ModelServer:
    """`mlflow models serve --env-manager local` in its own process group, its log in a file."""

    def __init__(self, path, log):
        self.port = free_port()
        self.log = log
        bin_dir = os.path.dirname(sys.executable)  # MLflow runs `uvicorn` from PATH: this Python's
        env = {
            **os.environ,
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            "PYTHONPATH": str(REPO_ROOT),
        }
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(path),
            "--env-manager",
            "local",
        ]
        with open(log, "wb") as stream:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=stream,
                stderr=stream,
                env=env,
                start_new_session=True,
            )

    def request(self, method, path, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"mlflow models serve exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            try:
                if self.request("GET", "/ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"mlflow models serve not ready after {START_TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self):
        """Stop the whole group: `mlflow models serve` execs uvicorn in a child shell."""
        for sent in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sent)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=15)
                return
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def served(saved, tmp_path_factory):
    server = ModelServer(saved[CLASSIFIER][2], tmp_path_factory.mktemp("serve") / "log.txt")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_mlflow_models_serve_gives_the_local_api(served, saved):
    case, resource, _ = saved[CLASSIFIER]
    local = create_model(resource)
    frame = _case_frame(case, local).drop(columns=["not a field"])
    expected = local.predict(frame)
    split = json.loads(frame.to_json(orient="split", index=False))
    records = json.loads(frame.to_json(orient="records"))
    for body in ({"dataframe_split": split}, {"dataframe_records": records}):
        status, payload = served.request("POST", "/invocations", body)
        assert status == 200, payload
        predictions = json.loads(payload)["predictions"]
        assert [p["prediction"] for p in predictions] == [e["prediction"] for e in expected]
        got = [[p[name] for name in local.classes] for p in predictions]
        assert np.allclose(
            got, [[e[name] for name in local.classes] for e in expected], atol=TOLERANCE, rtol=0
        )

    # a missing column: MLflow's own 400 naming it (the signature requires it), never a stack trace
    missing = frame.drop(columns=[local.fields[0].name]).head(2)
    for body in (
        {"dataframe_records": missing.to_dict("records")},
        {"dataframe_split": json.loads(missing.to_json(orient="split", index=False))},
    ):
        status, payload = served.request("POST", "/invocations", body)
        answer = json.loads(payload)
        assert status == 400 and "stack_trace" not in answer, answer
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"Model is missing inputs [{local.fields[0].name!r}]" in answer["message"]
        assert "Traceback" not in answer["message"]
    # a value the model cannot take (beyond float32): our error's one line, never a stack trace
    huge = frame.head(1).assign(**{local.fields[0].name: 1e39})
    status, payload = served.request("POST", "/invocations", {"dataframe_records": huge.to_dict("records")})
    answer = json.loads(payload)
    assert status == 400 and "stack_trace" not in answer, answer
    assert answer["message"].endswith(
        f"Error: row 0, column {local.fields[0].name!r}: infinite values (or values beyond float32 range) "
        "cannot be standardised"
    ), answer


# --- bad input ----------------------------------------------------------------------------------


def test_a_missing_field_column_is_refused_naming_it(saved):
    case, resource, path = saved[CLASSIFIER]
    model = create_model(resource)
    frame = _case_frame(case, model).drop(columns=[model.fields[1].name])
    said = re.escape(f"Model is missing inputs [{model.fields[1].name!r}]")
    with pytest.raises(MlflowException, match=said):
        mlflow.pyfunc.load_model(str(path)).predict(frame)


def test_a_model_saved_with_optional_columns_still_names_a_missing_one(saved, tmp_path):
    """Models written before the signature required every column reach our own check."""
    case, resource, _ = saved[CLASSIFIER]
    path = tmp_path / "model"
    sensenet_mlflow.save_model(resource, path)
    written = mlflow.models.Model.load(str(path / "MLmodel"))
    optional = [ColSpec(c.type, c.name, required=False) for c in written.signature.inputs.inputs]
    written.signature = ModelSignature(Schema(optional), written.signature.outputs)
    written.save(str(path / "MLmodel"))
    model = create_model(resource)
    frame = _case_frame(case, model).drop(columns=[model.fields[1].name])
    with pytest.raises(MlflowException, match=f"field\\(s\\) \\['{model.fields[1].name}'\\]") as caught:
        mlflow.pyfunc.load_model(str(path)).predict(frame)
    assert isinstance(caught.value.__cause__, InputDataError)


def test_paths_that_are_not_sensenet_models_are_named(tmp_path, saved):
    with pytest.raises(ModelNotFoundError, match="not a directory"):
        sensenet_mlflow.load_model(tmp_path / "nothing")
    with pytest.raises(ModelFormatError, match="no MLmodel file"):
        sensenet_mlflow.load_model(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": {"loader_module": "x"}}}))
    with pytest.raises(ModelFormatError, match=r"flavor\(s\) \['python_function'\], not a Sense/Net one"):
        sensenet_mlflow.load_model(other)
    (other / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(ModelFormatError, match="cannot be read as MLflow's YAML"):
        sensenet_mlflow.load_model(other)


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (lambda p: p.unlink(), ModelNotFoundError, "model file not found"),
        (lambda p: p.write_bytes(p.read_bytes()[:1000]), ModelFormatError, "truncated gzip"),
        (lambda p: p.write_bytes(gzip.compress(b"{not json")), ModelFormatError, "not valid JSON"),
    ],
)
def test_an_unreadable_artifact_is_our_error_naming_the_file(saved, tmp_path, damage, error, message):
    _, resource, _ = saved[REGRESSION]
    path = tmp_path / "model"
    sensenet_mlflow.save_model(resource, path)
    damage(path / "deepnet.json.gz")
    for load in (sensenet_mlflow.load_model, mlflow.pyfunc.load_model):
        with pytest.raises(error, match=message) as caught:
            load(str(path))
        assert "deepnet.json.gz" in str(caught.value)


def test_existing_paths_are_refused_unless_overwrite_replaces_our_own(saved, tmp_path):
    _, classifier, _ = saved[CLASSIFIER]
    _, regression, _ = saved[REGRESSION]
    path = tmp_path / "model"
    sensenet_mlflow.save_model(classifier, path)
    with pytest.raises(OutputPathError, match="already exists"):
        sensenet_mlflow.save_model(regression, path)
    assert sensenet_mlflow.load_model(path).kind == "classification"
    sensenet_mlflow.save_model(regression, path, overwrite=True)
    assert sensenet_mlflow.load_model(path).kind == "regression"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="did not write"):
        sensenet_mlflow.save_model(regression, foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_models_without_bigmls_json_are_refused(saved, tmp_path):
    _, resource, _ = saved[REGRESSION]
    with pytest.raises(UnsupportedError, match="does not keep BigML's JSON"):
        sensenet_mlflow.save_model(create_model(resource), tmp_path / "a")
    bundle = tmp_path / "model.smbundle"
    bundle.write_bytes(b"")
    with pytest.raises(UnsupportedError, match="not BigML's JSON"):
        sensenet_mlflow.save_model(bundle, tmp_path / "b")
    with pytest.raises(ModelNotFoundError):
        sensenet_mlflow.save_model(tmp_path / "missing.json", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.smbundle"]


def test_a_missing_mlflow_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingExtraError, match=re.escape(install_command("mlflow"))):
        sensenet_mlflow.save_model({}, tmp_path / "model")
