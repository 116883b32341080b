"""Preprocessing of numeric and categorical fields, and the row errors users can cause."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet import InputDataError, ModelFormatError
from sensenet.models.wrappers import create_model
from tests.conftest import identity_network

NUMERIC = {"type": "numeric", "index": 0, "mean": 10.0, "stdev": 4.0}
CONSTANT = {"type": "numeric", "index": 1, "mean": 42.0, "stdev": 0.0}
ZERO_ONE = {"type": "numeric", "index": 2, "zero_value": 1.0, "one_value": 3.0}
COLOURS = {"type": "categorical", "index": 3, "values": ["red", "green", "blue"]}


@pytest.fixture(scope="module")
def features():
    """A model whose outputs are its preprocessed inputs."""
    return create_model(identity_network([NUMERIC, CONSTANT, ZERO_ONE, COLOURS], 6))


def test_mean_stdev_standardises(features):
    assert features([14.0, 42, 1, "red"])[0, 0] == pytest.approx(1.0)
    assert features([4.0, 42, 1, "red"])[0, 0] == pytest.approx(-1.5)


def test_zero_stdev_counts_as_one(features):
    assert features([10, 45.5, 1, "red"])[0, 1] == pytest.approx(3.5)


def test_zero_one_form(features):
    np.testing.assert_allclose(
        features([[10, 42, 1, "red"], [10, 42, 3, "red"], [10, 42, 2, "red"]])[:, 2], [0, 1, 0.5]
    )


def test_missing_numerics_take_the_mean_or_zero_value(features):
    """None, NaN and '' are missing: 0 after standardising (the mean; zero_value for that form)."""
    for missing in (None, float("nan"), ""):
        np.testing.assert_array_equal(features([missing, missing, missing, "red"])[0, :3], [0, 0, 0])


def test_categorical_one_hot(features):
    np.testing.assert_array_equal(features([10, 42, 1, "green"])[0, 3:], [0, 1, 0])
    np.testing.assert_array_equal(features([10, 42, 1, "blue"])[0, 3:], [0, 0, 1])


@pytest.mark.parametrize("value", [None, "purple", "", 7])
def test_missing_or_unknown_category_is_all_zero(features, value):
    np.testing.assert_array_equal(features([10, 42, 1, value])[0, 3:], [0, 0, 0])


def test_numeric_strings_are_numbers(features):
    np.testing.assert_array_equal(features(["14", 42, 1, "red"]), features([14.0, 42, 1, "red"]))


def test_non_numeric_string_names_the_column(features):
    with pytest.raises(InputDataError, match=r"row 1, column 0: 'abc' is not a number"):
        features([[10, 42, 1, "red"], ["abc", 42, 1, "red"]])


def test_short_row_says_how_long_rows_must_be(features):
    with pytest.raises(InputDataError, match="has 3 values.*at least 4"):
        features([10, 42, 1])


def test_longer_rows_are_fine(features):
    """BigML rows also hold the objective and unused fields."""
    np.testing.assert_array_equal(features([10, 42, 1, "red", "objective"]), features([10, 42, 1, "red"]))


def test_infinite_value_is_refused(features):
    with pytest.raises(InputDataError, match="infinite"):
        features([float("inf"), 42, 1, "red"])


def test_array_input_is_raw_columns_in_preprocess_order(features):
    array = np.array([[14.0, 42, 3, 2], [np.nan, 42, 1, -1]])
    np.testing.assert_array_equal(features(array), features([[14.0, 42, 3, "blue"], [None, 42, 1, None]]))


def test_array_of_wrong_width(features):
    with pytest.raises(InputDataError, match=r"shape \(rows, 4\)"):
        features(np.zeros((2, 5)))


@pytest.mark.parametrize("bad", [[], "a string", 3.5, {"a": 1}])
def test_unusable_input_types(features, bad):
    with pytest.raises(InputDataError):
        features(bad)


@pytest.mark.parametrize(
    "field,message",
    [
        ({"type": "numeric", "index": 0}, "mean and stdev or zero_value and one_value"),
        ({"type": "numeric", "index": 0, "mean": 1.0, "stdev": -2.0}, "must not be negative"),
        (
            {"type": "numeric", "index": 0, "mean": "one", "stdev": 1.0},
            r"preprocess\[0\]\.mean: expected a finite",
        ),
        ({"type": "categorical", "index": 0, "values": []}, "non-empty list of category names"),
        ({"type": "text", "index": 0}, "unknown value 'text'"),
        ({"type": "numeric", "mean": 1.0, "stdev": 1.0}, r"preprocess\[0\]\.index: missing"),
    ],
)
def test_bad_preprocessors_name_the_field(field, message):
    with pytest.raises(ModelFormatError, match=message):
        create_model(identity_network([field], 1))
