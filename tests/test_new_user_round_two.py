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

import pytest

from tests.conftest import fixture_path
from tests.test_cli import assert_one_line_error, sensenet
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
