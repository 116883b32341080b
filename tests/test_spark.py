"""Scoring on a real local Spark (local[2]): the same numbers as the local API, on BigML's fixtures."""

from __future__ import annotations

import json
import os
import random
import sys
import zipfile

import numpy as np
import pytest
from pyspark.errors import PythonException
from pyspark.sql import SparkSession
from pyspark.sql.types import BinaryType, DoubleType, LongType, StringType, StructField, StructType

from sensenet import spark as sensenet_spark
from sensenet.exceptions import InputDataError, MissingExtraError, SettingsError, UnsupportedError
from sensenet.models.wrappers import create_model
from tests.conftest import FIXTURES, fixture_path, load_cases

TOLERANCE = 1e-6


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for every test: starting Spark costs seconds."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sensenet-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "7")  # several Arrow batches per task
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _spark_type(field):
    return {"numeric": DoubleType(), "categorical": StringType(), "image": StringType()}[field.optype]


def _frame(spark, columns, types, rows):
    """A DataFrame with an `id` column first (local data: one partition per core, no Spark job)."""
    schema = StructType([StructField("id", LongType())] + [StructField(c, t) for c, t in zip(columns, types)])
    return spark.createDataFrame([[i, *row] for i, row in enumerate(rows)], schema)


def _sorted(df):
    """The rows by id (sorted here: a Spark sort would cost a shuffle)."""
    return sorted(df.collect(), key=lambda row: row["id"])


def _collect(df, column):
    return [row[column] for row in _sorted(df)]


def _with_missing(rows, seed):
    """Copies of the rows with some values missing (None), for the library's missing-value rules."""
    generator = random.Random(seed)
    holes = [[None if generator.random() < 0.25 else value for value in row] for row in rows]
    return rows + holes + [[None] * len(rows[0])]


def _case_rows(case, model):
    """Each validation input as the values of the model's fields, in field order (numbers as floats)."""
    return [
        [_typed(field, row["input"][field.index]) for field in model.fields] for row in case["validation"]
    ]


def _typed(field, value):
    return float(value) if field.optype == "numeric" and value is not None else value


def _named_resource(network, names):
    """A full BigML resource around a fixture's network, naming its fields (by row index)."""
    ids = [f"{index:06x}" for index in range(len(names))]
    optypes = {item["index"]: item["type"] for item in network["preprocess"]}
    fields = {
        ids[index]: {"name": name, "optype": optypes.get(index, "numeric")}
        for index, name in enumerate(names)
    }
    return {
        "resource": "deepnet/0123456789abcdef01234567",
        "object": {
            "input_fields": ids,
            "fields": fields,
            "deepnet": {"network": network, "fields": fields},
        },
    }


@pytest.mark.parametrize("number", range(10))
def test_row_models_equal_the_local_api_and_bigml(spark, tmp_path, number):
    """A regression.json.gz case, columns shuffled, an extra column, missing values, 2 partitions."""
    case = load_cases("regression.json.gz")[number]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(case["model"]))
    model = create_model(str(path))
    rows = _with_missing(_case_rows(case, model), number)
    columns = [field.name for field in model.fields]
    order = list(range(len(columns)))
    random.Random(number).shuffle(order)
    df = _frame(
        spark,
        [columns[k] for k in order] + ["extra"],
        [_spark_type(model.fields[k]) for k in order] + [StringType()],
        [[row[k] for k in order] + ["kept"] for row in rows],
    )
    assert df.rdd.getNumPartitions() == 2
    scored = _sorted(sensenet_spark.predict(df, str(path), batch_size=5))
    assert [row["extra"] for row in scored] == ["kept"] * len(rows)
    local = model(_as_rows(model, rows))
    bigml = np.array([row["output"] for row in case["validation"]])
    if model.kind == "regression":
        predicted = np.array([[row["prediction"]] for row in scored])
    else:
        predicted = np.array([row["probabilities"] for row in scored])
        assert [row["prediction"] for row in scored] == [model.classes[i] for i in local.argmax(axis=1)]
        assert np.allclose([row["probability"] for row in scored], local.max(axis=1), atol=TOLERANCE, rtol=0)
    assert np.allclose(predicted, local, atol=TOLERANCE, rtol=0)
    assert np.allclose(predicted[: len(bigml)], bigml, atol=TOLERANCE, rtol=0)


def _as_rows(model, values):
    """Field-order values as rows indexed like BigML's fields, the local API's input."""
    width = max(field.index for field in model.fields) + 1
    rows = []
    for row in values:
        full = [None] * width
        for field, value in zip(model.fields, row):
            full[field.index] = value
        rows.append(full)
    return rows


def test_named_fields_are_matched_by_name_or_id(spark):
    case = load_cases("regression.json.gz")[2]
    network = case["model"]
    width = max(item["index"] for item in network["preprocess"]) + 1
    names = [f"feature {index}" for index in range(width)]
    resource = _named_resource(network, names)
    model = create_model(resource)
    assert model.names_fields
    rows = _case_rows(case, model)
    columns = [field.name for field in model.fields]
    columns[0] = model.fields[0].id  # one column named by its field id
    df = _frame(
        spark,
        ["noise", *reversed(columns)],
        [DoubleType()] + [_spark_type(f) for f in reversed(model.fields)],
        [[1.5, *reversed(row)] for row in rows],
    )
    scored = sensenet_spark.predict(
        df, model, keep_columns=["id"], output_columns={"prediction": "label", "probabilities": "p"}
    )
    assert scored.columns == ["id", "label", "probability", "p"]
    predicted = np.array(_collect(scored, "p"))
    assert np.allclose(predicted, [row["output"] for row in case["validation"]], atol=TOLERANCE, rtol=0)


def test_unnamed_fields_are_read_by_position(spark):
    """Column i of the DataFrame is the row's column i (index 2, the objective, is not read)."""
    case = load_cases("regression.json.gz")[0]
    model = create_model(case["model"])
    by_index = {field.index: field for field in model.fields}
    width = max(by_index) + 1
    rows = [
        [
            _typed(by_index[k], value) if k in by_index else "unused"
            for k, value in enumerate(row["input"][:width])
        ]
        for row in case["validation"]
    ]
    types = [_spark_type(by_index[k]) if k in by_index else StringType() for k in range(width)]
    columns = [f"c{k}" for k in range(width)]
    scored = sensenet_spark.predict(_frame(spark, columns, types, rows).select(*columns, "id"), case["model"])
    predicted = np.array(_collect(scored, "prediction"))
    assert np.allclose(predicted, [row["output"][0] for row in case["validation"]], atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def image_case():
    case = load_cases("image_regression.json.gz")[0]
    model = create_model(case["model"])
    rows = []
    for row in _case_rows(case, model):
        rows.append(
            [
                str(FIXTURES / v.removeprefix("tests/data/")) if f.optype == "image" else v
                for f, v in zip(model.fields, row)
            ]
        )
    return case, model, rows


def test_image_model_from_path_and_binary_columns(spark, image_case):
    case, model, rows = image_case
    local = model(_as_rows(model, rows))
    assert np.allclose(local, [row["output"] for row in case["validation"]], atol=TOLERANCE, rtol=0)
    columns = [field.name for field in model.fields]
    from_paths = _frame(spark, columns, [_spark_type(f) for f in model.fields], rows)
    binary = [[_read(v) if f.optype == "image" else v for f, v in zip(model.fields, row)] for row in rows]
    types = [BinaryType() if f.optype == "image" else _spark_type(f) for f in model.fields]
    from_bytes = _frame(spark, columns, types, binary)
    for df in (from_paths, from_bytes):
        scored = sensenet_spark.predict(df, case["model"], batch_size=3)
        predicted = np.array(_collect(scored, "probabilities"))
        assert np.allclose(predicted, local, atol=TOLERANCE, rtol=0)


def _read(path):
    with open(path, "rb") as stream:
        return bytearray(stream.read())


@pytest.fixture(scope="module")
def detector_resource():
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".json")]
        return json.loads(archive.read(name))


def test_eye_detector_boxes_equal_the_local_api(spark, detector_resource):
    settings = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}
    detector = create_model(detector_resource, settings)
    photo = str(fixture_path("detection/pexels-pixabay-33358.jpg"))
    expected = detector(photo)
    assert len(expected) == 2
    files = spark.read.format("binaryFile").load(photo)
    by_bytes = sensenet_spark.predict(files, detector, keep_columns=["path"]).collect()
    paths = spark.createDataFrame([(photo,)], [detector.fields[0].name])
    by_path = sensenet_spark.predict(paths, detector_resource, settings).collect()
    for scored in (by_bytes, by_path):
        objects = [obj.asDict(recursive=True) for obj in scored[0]["objects"]]
        assert [o["box"] for o in objects] == [o["box"] for o in expected]
        assert [o["label"] for o in objects] == ["eye", "eye"]
        assert np.allclose([o["score"] for o in objects], [o["score"] for o in expected], atol=TOLERANCE)


def _bad_row_frame(spark, model):
    """Three good rows of case 0 and, in the middle, one whose numeric field holds a word."""
    case = load_cases("regression.json.gz")[0]
    rows = [[None if v is None else str(v) for v in row] for row in _case_rows(case, model)[:4]]
    rows[2][0] = "not a number"
    columns = [field.name for field in model.fields]
    return _frame(spark, columns, [StringType()] * len(columns), rows), rows


def test_a_bad_row_fails_the_job_naming_its_columns(spark):
    network = load_cases("regression.json.gz")[0]["model"]
    model = create_model(network)
    df, _ = _bad_row_frame(spark, model)
    with pytest.raises(PythonException) as caught:
        sensenet_spark.predict(df, network).collect()
    message = str(caught.value)
    assert "InputDataError" in message and "id=2" in message and "'not a number'" in message


def test_a_bad_row_gets_nulls_and_an_error_with_on_error_null(spark):
    network = load_cases("regression.json.gz")[0]["model"]
    model = create_model(network)
    df, rows = _bad_row_frame(spark, model)
    scored = _sorted(sensenet_spark.predict(df, network, on_error="null", error_column="why"))
    assert scored[2]["prediction"] is None and "not a number" in scored[2]["why"]
    good = [0, 1, 3]
    local = model(
        _as_rows(
            model,
            [
                [
                    None if v is None else float(v) if f.optype == "numeric" else v
                    for f, v in zip(model.fields, rows[i])
                ]
                for i in good
            ],
        )
    )
    assert np.allclose([scored[i]["prediction"] for i in good], local[:, 0], atol=TOLERANCE, rtol=0)
    assert [scored[i]["why"] for i in good] == [None, None, None]


def test_driver_side_mistakes_are_our_errors(spark):
    network = load_cases("regression.json.gz")[0]["model"]
    model = create_model(network)
    df, _ = _bad_row_frame(spark, model)
    with pytest.raises(SettingsError, match="on_error"):
        sensenet_spark.predict(df, network, on_error="skip")
    with pytest.raises(SettingsError, match="output_columns"):
        sensenet_spark.predict(df, network, output_columns={"score": "s"})
    with pytest.raises(SettingsError, match="repeat a column"):
        sensenet_spark.predict(df, network, output_columns={"prediction": "id"})
    with pytest.raises(SettingsError, match="settings apply"):
        sensenet_spark.predict(df, model, {"engine": "onnx"})
    with pytest.raises(InputDataError, match="up to index 6"):
        sensenet_spark.predict(df.select("id", "field_0"), network)
    arrays = spark.createDataFrame([([1.0],)], ["field_0"])
    with pytest.raises(InputDataError, match="array<double>"):
        sensenet_spark.predict(
            arrays.select(*[arrays["field_0"].alias(f.name) for f in model.fields]), network
        )


def test_a_missing_pyspark_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(MissingExtraError, match=r'pip install "sensenet-local\[spark\]"'):
        sensenet_spark.predict(None, {})


def test_a_model_read_from_a_bundle_is_refused(spark):
    """A bundle's model runs a loaded SavedModel, which cannot travel: the user is told to ship the JSON."""
    from sensenet.models.bundled import BundledDeepnet

    network = load_cases("regression.json.gz")[0]["model"]
    model = create_model(network)
    bundled = BundledDeepnet(model.spec, model.settings, model.preprocessors, saved_model=object())
    df, _ = _bad_row_frame(spark, model)
    with pytest.raises(UnsupportedError, match="BigML JSON"):
        sensenet_spark.predict(df, bundled)
