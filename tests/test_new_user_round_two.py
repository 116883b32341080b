"""Issue 31, items 4 and 6: what a new user met on the way in, run as they ran it.

Item 4: an image given as the rows of a model that reads an image and other fields. Item 6: the
small things (tflite_predict's advice, the missing-extra message, the CLI's overwrite refusal,
rows longer than the model's fields).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import warnings

import numpy as np
import pytest

from sensenet.exceptions import ExtraValuesWarning, InputDataError, OutputPathError
from sensenet.models.wrappers import convert, create_model, tflite_predict
from tests.conftest import dense, fixture_path, numeric_field, regression_network
from tests.test_cli import assert_one_line_error, sensenet
from tests.test_cli_new_user import _python
from tests.test_spark import _named_resource

NAMES = ["label", "image_id", "unused", "second image"]  # by row index; index 2 is no input field


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The fixtures' mixed digits network (a category, two images) bare and named, in a folder
    with an image beside them."""
    folder = tmp_path_factory.mktemp("models")
    with gzip.open(fixture_path("image_regression.json.gz")) as stream:
        network = json.load(stream)[0]["model"]
    (folder / "bare.json").write_text(json.dumps(network))
    (folder / "named.json").write_text(json.dumps(_named_resource(network, NAMES)))
    shutil.copyfile(fixture_path("images/digits/3/12.png"), folder / "digit.png")
    return folder


@pytest.mark.parametrize(
    "model, fields, formats",
    [
        (
            "named.json",
            "'label' (categorical), 'image_id' (image), 'second image' (image)",
            {"csv": "a header such as `label,image_id,unused,second image`", "jsonl": '{"label": '},
        ),
        ("bare.json", "'field_0' (categorical), 'field_1' (image), 'field_3' (image)", {"jsonl": '["'}),
    ],
)
def test_an_image_given_as_rows_says_what_the_model_reads_and_shows_a_row(models, model, fields, formats):
    failed = sensenet("predict", model, "digit.png", cwd=models)
    assert_one_line_error(
        failed,
        1,
        f"digit.png is an image, but this model reads 3 fields, {fields}: give its rows in a CSV file",
        "an image alone is enough only for a model whose only input is one image",
        *formats.values(),
    )
    assert "not UTF-8" not in failed.stderr
    # the rows it shows are rows the command predicts
    shown = re.findall(r"`([^`]+)`", failed.stderr)
    csv_lines = shown[:2] if "csv" in formats else ["any header", shown[0]]
    (models / "shown.csv").write_text("\n".join(csv_lines) + "\n")
    (models / "shown.jsonl").write_text(shown[-1] + "\n")
    for rows in ("shown.csv", "shown.jsonl"):
        predicted = sensenet("predict", "-q", model, rows, cwd=models)
        assert predicted.returncode == 0, predicted.stderr
        assert len(predicted.stdout.splitlines()) == 2  # the header, one prediction


# --- item 6: the small things ------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_numbers():
    """A regression of two numeric fields (y = 2 a - b), small enough to convert in seconds."""
    return regression_network([dense([[2.0], [-1.0]])], [numeric_field(0), numeric_field(1)])


def test_tflite_predict_advises_how_to_feed_the_exports_own_inputs(two_numbers, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    fields, matrix = tmp_path / "fields.tflite", tmp_path / "matrix.tflite"
    convert(two_numbers, None, fields, "tflite")
    convert(two_numbers, None, matrix, "tflite", self_contained=False)
    advice = {}
    for path in (fields, matrix):
        with pytest.raises(
            InputDataError, match="tflite_predict runs models whose only input is one image"
        ) as caught:
            tflite_predict(path, fixture_path("images/dog.jpg"))
        advice[path] = str(caught.value)
        assert "encode_inputs" not in advice[path] and "\n" not in advice[path]
    assert "one (rows, 1) array per non-image field: float32 numbers, or category strings" in advice[fields]
    assert "'input_matrix': model.encode(rows)" in advice[matrix]
    # the advice, followed, predicts as the model does
    model, rows = create_model(two_numbers), [[1.0, 3.0], [2.0, 0.5]]
    runner = Interpreter(model_path=str(matrix)).get_signature_runner("serving_default")
    np.testing.assert_allclose(runner(input_matrix=model.encode(rows))["prediction"], model(rows), rtol=1e-6)
    runner = Interpreter(model_path=str(fields)).get_signature_runner("serving_default")
    columns = {f.name: np.array([[row[f.index]] for row in rows], np.float32) for f in model.fields}
    np.testing.assert_allclose(runner(**columns)["prediction"], model(rows), rtol=1e-6)


def test_a_missing_extra_is_said_in_a_sentence(tmp_path):
    blocked = (
        "import sys\n"
        "for name in {names}: sys.modules[name] = None\n"
        "from sensenet.examples import example_path\n"
        "from sensenet.models.wrappers import create_model\n"
        "create_model(str(example_path('iris')), {{'engine': 'keras'}})([5.1, 3.5, 1.4, 0.2])\n"
    )
    feature = "the Keras engine, TensorFlow-based exports and .smbundle models"
    for names, said in (
        (
            ["tensorflow", "keras"],
            f"tensorflow and keras are needed for {feature}, and the base install leaves them out",
        ),
        (["keras"], f"keras is needed for {feature}, and the base install leaves it out"),
    ):
        failed = _python(blocked.format(names=names), tmp_path)
        assert failed.returncode == 1
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("sensenet.exceptions.MissingExtraError: ") and said in last, failed.stderr
        assert last.endswith(': pip install "sensenet-local[tensorflow]"'), last


def test_the_command_line_refuses_to_overwrite_naming_its_option_only(two_numbers, tmp_path):
    output = tmp_path / "out.csv"
    output.write_text("mine\n")
    refused = sensenet("predict", "--example", "iris", "5.1,3.5,1.4,0.2", "-o", str(output))
    assert_one_line_error(
        refused, 1, f"{output} already exists; choose another name or pass --force to replace it"
    )
    model = tmp_path / "two.json"
    model.write_text(json.dumps(two_numbers))
    refused = sensenet("convert", str(model), "--to", "onnx", "-o", str(output))
    assert_one_line_error(refused, 1, "pass --force to replace it")
    assert "overwrite=True" not in refused.stderr and output.read_text() == "mine\n"
    with pytest.raises(OutputPathError, match="pass overwrite=True to replace it"):
        convert(two_numbers, None, output, "onnx")


def test_a_row_longer_than_the_fields_is_predicted_with_a_warning_in_the_api_and_the_cli(two_numbers):
    model = create_model(two_numbers)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = model([[1.0, 3.0]])
    for data in ([1.0, 3.0, "the objective"], [[1.0, 3.0], [1.0, 3.0, 9.0]]):
        with pytest.warns(ExtraValuesWarning, match=r"more values than the model reads \(2: .*ignored"):
            np.testing.assert_array_equal(model(data)[:1], exact)
    said = sensenet("predict", "--example", "iris", "5.1,3.5,1.4,0.2,setosa")
    assert said.returncode == 0 and said.stdout.startswith("prediction,")
    assert said.stderr.splitlines() == [
        "sensenet predict: warning: command-line rows, row 1: 5 values, but the model reads 4: extra values "
        "are ignored (said once, for the first such row)"
    ]
