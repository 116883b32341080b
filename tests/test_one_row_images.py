"""One row of an image model, called without the list of rows around it, in every image form.

BigML's digits model (image_regression.json.gz) with its fields renumbered so that an image is
the row's first value: ``model([image, "b", ...])`` must be one row whatever form the image takes,
including a pixel array (which once made the row look like a list of rows).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from sensenet.exceptions import InputDataError
from sensenet.inputs import load_image
from sensenet.models.wrappers import create_model
from tests.conftest import FIXTURES, load_cases

TOLERANCE = 1e-6
FIXTURE_PREFIX = "tests/data/"
ORDER = [1, 0, 2, 3, 4]  # the fixture's row positions in the renumbered model's order


@pytest.fixture(scope="module")
def case():
    return load_cases("image_regression.json.gz")[0]


@pytest.fixture(scope="module")
def model(case):
    """The fixture's model with its first image at index 0 and its categorical field at index 1."""
    network = copy.deepcopy(case["model"])
    for field in network["preprocess"]:
        field["index"] = ORDER.index(field["index"])
    return create_model(network, {"image_path_prefix": str(FIXTURES)})


@pytest.fixture(scope="module")
def validation(case):
    """(row in the renumbered order, BigML's output) for the first validation cases."""
    cases = []
    for item in case["validation"][:3]:
        values = [_relative(value) for value in item["input"]]
        cases.append(([values[i] for i in ORDER], np.array(item["output"])))
    return cases


def _relative(value):
    """A fixture path as the fixture directory's own (without the leading tests/data/)."""
    if isinstance(value, str) and value.startswith(FIXTURE_PREFIX):
        return value[len(FIXTURE_PREFIX) :]
    return value


def _image_forms(path: Path) -> dict:
    pixels = load_image(path)
    grey = np.ascontiguousarray(pixels[:, :, 0])
    is_grey = np.array_equal(pixels, np.repeat(grey[:, :, None], 3, axis=2))
    alpha = np.full(pixels.shape[:2] + (1,), 200, np.uint8)
    return {
        "path": str(path.relative_to(FIXTURES)),
        "path object": path,
        "bytes": path.read_bytes(),
        "bytearray": bytearray(path.read_bytes()),
        "uint8 array": pixels,
        "float array in [0, 1]": pixels / np.float32(255),
        "float array in [0, 255]": pixels.astype(np.float64),
        "int64 array": pixels.astype(np.int64),
        "grey array": grey if is_grey else None,
        "grey H x W x 1 array": grey[:, :, None] if is_grey else None,
        "colour and alpha array": np.concatenate([pixels, alpha], axis=2),
    }


def test_every_image_form_in_a_one_row_call_predicts_as_bigml(model, validation):
    for row, bigml in validation:
        forms = {name: form for name, form in _image_forms(FIXTURES / row[0]).items() if form is not None}
        assert {"grey array", "uint8 array"} <= set(forms)  # the digits are grey PNGs
        for name, image in forms.items():
            one_row = [image, *row[1:]]
            got = model(one_row)
            assert got.shape == (1, 2), name
            assert np.abs(got[0] - bigml).max() <= TOLERANCE, name
            assert np.array_equal(got, model([one_row])), name


def test_a_missing_image_in_a_one_row_call(model, validation):
    row, _ = validation[0]
    assert np.array_equal(model([None, *row[1:]]), model([[None, *row[1:]]]))


def test_pixel_rows_of_a_list_of_rows_stay_rows(model, validation):
    rows = [[load_image(FIXTURES / row[0]), *row[1:]] for row, _ in validation]
    got = model(rows)
    assert got.shape == (len(rows), 2)
    for predicted, (_, bigml) in zip(got, validation):
        assert np.abs(predicted - bigml).max() <= TOLERANCE


def test_a_bad_pixel_array_in_a_one_row_call_is_our_error(model, validation):
    row, _ = validation[0]
    with pytest.raises(InputDataError, match="pixel array must have"):
        model([np.zeros((4, 4, 2), np.uint8), *row[1:]])
