"""Issue 31, item 3: one rule for where a bad value is, for every field type (images as numbers) and
every input form: the Python API's rows, dicts and frames, the command line's CSV and JSON Lines,
and serve's /v1 rows and records, whether the request's parsing or the model finds the value bad.

The model is the fixtures' mixed digits network (a category and two images) named as a BigML
resource names its fields.
"""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

from sensenet.cli import main
from sensenet.exceptions import FieldValueError, ImageError, ImageFieldError
from sensenet.models.wrappers import create_model
from tests.conftest import fixture_path, load_cases
from tests.serving import Server
from tests.test_spark import _named_resource

NAMES = ["label", "image_id", "unused", "second image"]  # by row index; index 2 is no input field
NOT_FOUND = "image file not found"
NOT_AN_IMAGE = "cannot be decoded as an image"
NOT_BASE64 = "not a base64 string"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The named model's JSON file, the model, and a good row (image paths that exist)."""
    case = load_cases("image_regression.json.gz")[0]
    folder = tmp_path_factory.mktemp("mixed")
    path = folder / "mixed.json"
    path.write_text(json.dumps(_named_resource(case["model"], NAMES)))
    model = create_model(str(path))
    assert [(f.index, f.name, f.optype) for f in model.fields] == [
        (0, "label", "categorical"),
        (1, "image_id", "image"),
        (3, "second image", "image"),
    ]
    digit = str(fixture_path("images/digits/3/12.png"))
    return path, model, ["b", digit, None, digit]


def test_the_python_api_places_an_image_as_it_places_any_value(mixed, tmp_path):
    _, model, good = mixed
    missing = str(tmp_path / "missing.png")
    row = [good[0], missing, None, good[3]]
    record = {"label": good[0], "image_id": missing, "second image": good[3]}
    for data, where in (
        ([good, row], "row 1, column 1 'image_id'"),
        ([record], "row 0, field 'image_id'"),
        (pd.DataFrame([record]), "row 0, column 'image_id'"),
    ):
        with pytest.raises(ImageFieldError) as caught:
            model(data)
        error = caught.value
        assert isinstance(error, FieldValueError) and isinstance(error, ImageError)
        assert str(error).startswith(f"{where}: {NOT_FOUND}"), str(error)
        assert error.index == 1 and error.problem.startswith(NOT_FOUND)
    with pytest.raises(FieldValueError, match=r"^row 0, column 0 'label': expected a category name"):
        model([[["a list"], *good[1:]]])


def _predict(capsys, *arguments: str) -> tuple[int, str]:
    status = main(["predict", "-q", *arguments])
    return status, capsys.readouterr().err


def test_the_command_line_names_an_image_by_the_files_column_or_key(mixed, tmp_path, capsys):
    path, _, good = mixed
    missing = "missing.png"  # relative to the rows file's directory, which lacks it
    rows = tmp_path / "swapped.csv"
    rows.write_text(
        f"second image,label,unused,image_id\n{good[3]},{good[0]},,{good[1]}\n{good[3]},b,,{missing}\n"
    )
    status, err = _predict(capsys, str(path), str(rows))
    assert status == 1
    assert f"{rows}, line 3, column 4 'image_id': {NOT_FOUND}" in err, err

    objects = tmp_path / "rows.jsonl"
    objects.write_text(json.dumps({"image_id": missing, "label": "b", "second image": good[3]}) + "\n")
    status, err = _predict(capsys, str(path), str(objects))
    assert status == 1
    assert f"{objects}, line 1, key 'image_id': {NOT_FOUND}" in err, err

    arrays = tmp_path / "arrays.jsonl"
    arrays.write_text(json.dumps([good[0], missing, None, good[3]]) + "\n")
    status, err = _predict(capsys, str(path), str(arrays))
    assert status == 1
    assert f"{arrays}, line 1, column 2 'image_id': {NOT_FOUND}" in err, err


@pytest.fixture(scope="module")
def server(mixed, tmp_path_factory):
    path, _, _ = mixed
    with Server([path], tmp_path_factory.mktemp("log") / "server.log") as running:
        running.wait_ready()
        yield running


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_serve_places_a_value_alike_whoever_finds_it_bad(mixed, server):
    _, model, good = mixed
    digit = _b64(open(good[1], "rb").read())
    for value, problem in (("#", NOT_BASE64), (_b64(b"not an image"), NOT_AN_IMAGE)):
        row = [good[0], digit, None, digit]
        row[3] = value
        record = {"label": good[0], "image_id": digit, "second image": value}
        for body, where in (
            ({"rows": [[good[0], digit, None, digit], row]}, "row 1, column 3 'second image'"),
            ({"records": [record]}, "row 0, field 'second image'"),
        ):
            status, answer = server.request("POST", "/v1/models/mixed/predict", body)
            assert status == 400 and answer["error"].startswith(f"{where}: "), answer
            assert problem in answer["error"], answer
    good_rows = [[good[0], digit, None, digit]]
    status, answer = server.request("POST", "/v1/models/mixed/predict", {"rows": good_rows})
    assert status == 200 and answer["predictions"] == model.predict([good]), answer
