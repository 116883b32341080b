"""The image fixture (two image fields plus a categorical one) through the public API."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sensenet.exceptions import ImageFieldError, InputDataError
from sensenet.models.wrappers import create_image_feature_extractor, create_model
from tests.conftest import FIXTURES, load_cases

TOLERANCE = 1e-5
FIXTURE_PREFIX = "tests/data/"  # the fixture's image paths start here; FIXTURES holds images/


@pytest.fixture(scope="module")
def case():
    return load_cases("image_regression.json.gz")[0]


@pytest.fixture(scope="module")
def model(case):
    return create_model(case["model"], {"image_path_prefix": str(FIXTURES)})


def relative(value):
    if isinstance(value, str) and value.startswith(FIXTURE_PREFIX):
        return value[len(FIXTURE_PREFIX) :]
    return value


@pytest.fixture(scope="module")
def rows(case):
    return [[relative(value) for value in v["input"]] for v in case["validation"]]


@pytest.fixture(scope="module")
def expected(case):
    return np.array([v["output"] for v in case["validation"]])


def test_rows_with_image_paths_match_bigml(model, rows, expected):
    batch = model(rows)
    assert batch.dtype == np.float32
    assert batch.shape == expected.shape == (32, 2)
    assert np.abs(batch - expected).max() <= TOLERANCE
    one_at_a_time = np.concatenate([model(row) for row in rows[:8]])
    assert np.abs(one_at_a_time - expected[:8]).max() <= TOLERANCE


def test_images_as_arrays_or_bytes_predict_like_paths(model, rows, expected):
    def as_array(path):
        return np.asarray(Image.open(FIXTURES / path))

    def as_bytes(path):
        return (FIXTURES / path).read_bytes()

    arrays = [[as_array(v) if i in (1, 3) else v for i, v in enumerate(row)] for row in rows[:6]]
    assert np.abs(model(arrays) - expected[:6]).max() <= TOLERANCE
    raw = [[as_bytes(v) if i in (1, 3) else v for i, v in enumerate(row)] for row in rows[:6]]
    assert np.abs(model(raw) - expected[:6]).max() <= TOLERANCE


def test_a_missing_image_is_a_black_image(model, rows):
    missing = list(rows[0])
    missing[3] = None
    black = list(rows[0])
    black[3] = np.zeros((28, 28, 3), np.uint8)
    got = model(missing)
    assert np.abs(got - model(black)).max() == 0
    assert np.abs(got - model(rows[0])).max() > 1e-3


def test_extracted_features_feed_the_readout(case, rows, expected):
    """The extractor's features, placed in preprocess order, give BigML's outputs via the readout."""
    extractor = create_image_feature_extractor(case["model"], {"image_path_prefix": str(FIXTURES)})
    rows = rows[:5]
    first = extractor([row[1] for row in rows])
    second = extractor([row[3] for row in rows])
    assert first.shape == second.shape == (5, 64)
    one_hot = np.array([[row[0] == c for c in "abc"] for row in rows], np.float32)
    x = np.concatenate([one_hot, first, second], axis=1)
    for layer in case["model"]["layers"]:
        x = x @ np.array(layer["weights"]) + np.array(layer["offset"])
        x = np.maximum(x, 0) if layer["activation_function"] == "relu" else x
    probabilities = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert np.abs(probabilities - expected[:5]).max() <= TOLERANCE


def test_extract_image_features_setting(case, rows):
    extractor = create_model(
        case["model"], {"extract_image_features": True, "image_path_prefix": str(FIXTURES)}
    )
    assert extractor(rows[0][1]).shape == (1, 64)


def test_bad_inputs_raise_our_errors(model, rows):
    with pytest.raises(InputDataError, match="reads 3 fields"):
        model(rows[0][1])
    with pytest.raises(InputDataError, match="reads 3 fields"):
        model(np.zeros((4, 3), np.float32))
    missing_file = list(rows[0])
    missing_file[1] = "images/digits/3/no_such_image.png"
    with pytest.raises(ImageFieldError, match=r"row 0, column 1: image file .* does not exist"):
        model(missing_file)
    with pytest.raises(InputDataError, match="has 3 values"):
        model(rows[0][:3])
