"""Data frames, dicts and records: the same numbers as the row API, or our error naming what is wrong."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensenet import InputDataError
from sensenet.examples import example_path
from sensenet.models.wrappers import create_model
from tests.conftest import fixture_path, load_cases


@functools.cache
def _cases() -> list:
    """BigML's row cases, read when a test first needs them (a clone without fixtures still collects)."""
    return load_cases("regression.json.gz")


def _resource(network: dict, names: list[str]) -> dict:
    """A full BigML resource around a fixture network, naming its row columns (plus an objective)."""
    ids = [f"{i:06x}" for i in range(len(names))]
    fields = {fid: {"name": name, "optype": "numeric"} for fid, name in zip(ids, names)}
    fields["ffffff"] = {"name": "target", "optype": "numeric"}
    return {
        "resource": "deepnet/0123456789abcdef01234567",
        "object": {
            "input_fields": ids,
            "objective_field": "ffffff",
            "deepnet": {"network": network, "fields": fields},
        },
    }


def _row_length(case: dict) -> int:
    return max(p["index"] for p in case["model"]["preprocess"]) + 1


def _names(case: dict) -> list[str]:
    return [f"col {i}" for i in range(_row_length(case))]


def _frame(case: dict) -> pd.DataFrame:
    rows = [item["input"][: _row_length(case)] for item in case["validation"]]
    return pd.DataFrame(rows, columns=_names(case))


def _expected(case: dict) -> np.ndarray:
    return np.array([item["output"] for item in case["validation"]], dtype=np.float64)


@pytest.mark.parametrize("number", [0, 2, 4])
def test_frame_by_name_in_any_order_with_extra_columns(number):
    case = _cases()[number]
    model = create_model(_resource(case["model"], _names(case)))
    frame = _frame(case)
    shuffled = frame[list(reversed(frame.columns))].assign(extra=range(len(frame)), notes="x")
    outputs = model(shuffled)
    assert np.abs(outputs - _expected(case)).max() < 1e-6
    assert np.array_equal(outputs, model([item["input"] for item in case["validation"]]))


def test_frame_matched_by_field_id():
    case = _cases()[0]
    model = create_model(_resource(case["model"], _names(case)))
    frame = _frame(case)
    frame = frame.rename(columns={field.name: field.id for field in model.fields})
    assert np.abs(model(frame) - _expected(case)).max() < 1e-6


def test_frame_of_a_model_that_names_nothing_is_read_in_field_order():
    case = _cases()[2]
    model = create_model(case["model"])
    assert not model.names_fields
    frame = _frame(case)
    frame.columns = [f"whatever {i}" for i in range(frame.shape[1])]
    assert np.abs(model(frame) - _expected(case)).max() < 1e-6


def test_categoricals_nan_and_pandas_na_are_the_row_apis_missing_values():
    case = _cases()[0]
    model = create_model(_resource(case["model"], _names(case)))
    frame = _frame(case)
    categorical = [f.name for f in model.fields if f.optype == "categorical"]
    numeric = [f.name for f in model.fields if f.optype == "numeric"]
    frame[categorical[0]] = frame[categorical[0]].astype("category")
    frame[numeric[0]] = frame[numeric[0]].astype("Float64")
    frame.loc[0, numeric[0]] = pd.NA
    frame.loc[1, categorical[0]] = None
    frame.loc[2, numeric[1]] = math.nan
    frame.loc[3, categorical[1]] = "a category BigML never saw"
    rows = frame.astype(object).where(frame.notna(), None).values.tolist()
    assert np.array_equal(model(frame), model(rows))


def test_every_pandas_missing_marker_is_missing_in_any_column_kind():
    """pd.NA, NaT, None and NaN, in string, object and numeric columns and in plain rows."""
    case = _cases()[0]
    model = create_model(_resource(case["model"], _names(case)))
    frame = _frame(case).head(6).reset_index(drop=True)
    categorical = [f.name for f in model.fields if f.optype == "categorical"]
    numeric = [f.name for f in model.fields if f.optype == "numeric"]
    frame[categorical[0]] = frame[categorical[0]].astype("string")
    frame.loc[0, categorical[0]] = pd.NA
    frame[categorical[1]] = frame[categorical[1]].astype(object)
    frame.loc[1, categorical[1]] = pd.NaT
    frame.loc[2, categorical[1]] = math.nan
    frame[numeric[0]] = frame[numeric[0]].astype(object)
    frame.loc[3, numeric[0]] = pd.NA
    frame.loc[4, numeric[0]] = None
    frame.loc[5, numeric[0]] = np.float32("nan")
    missing = [(0, categorical[0]), (1, categorical[1]), (2, categorical[1])]
    missing += [(r, numeric[0]) for r in (3, 4, 5)]
    rows = frame.astype(object).values.tolist()
    plain = [list(row) for row in rows]
    for r, name in missing:
        plain[r][list(frame.columns).index(name)] = None
    expected = model(plain)
    assert np.array_equal(model(frame), expected)
    assert np.array_equal(model(rows), expected)  # the markers in plain rows too
    assert np.array_equal(model(frame.to_dict("records")), expected)


def test_a_missing_image_in_a_frame_is_the_row_apis_missing_image():
    case = load_cases("image_regression.json.gz")[0]
    model = create_model(case["model"])
    images = fixture_path("images")
    row = [
        images.parent / value.removeprefix("tests/data/")
        if isinstance(value, str) and "/" in value
        else value
        for value in case["validation"][0]["input"]
    ]
    row = [str(value) if isinstance(value, Path) else value for value in row]
    first, second = (f.index for f in model.fields if f.optype == "image")
    rows = [list(row) for _ in range(3)]
    rows[0][first] = rows[1][second] = rows[2][first] = rows[2][second] = None
    frame = pd.DataFrame(rows, dtype=object)
    frame.loc[0, first], frame.loc[1, second] = pd.NA, math.nan
    frame.loc[2, first], frame.loc[2, second] = None, np.float32("nan")
    expected = model(rows)
    assert np.array_equal(model(frame), expected) and len({tuple(r) for r in expected.tolist()}) == 3


def test_dicts_by_name_and_lists_of_dicts():
    case = _cases()[3]
    model = create_model(_resource(case["model"], _names(case)))
    records = _frame(case).to_dict("records")
    assert np.abs(model(records) - _expected(case)).max() < 1e-6
    assert np.array_equal(model(records[5]), model(records)[5:6])
    del records[0][model.fields[0].name]  # an absent key is a missing value
    row = [item for item in case["validation"][0]["input"]]
    row[model.fields[0].index] = None
    assert np.array_equal(model(records[0]), model(row))


def test_image_columns_hold_paths_and_bytes():
    case = load_cases("image_regression.json.gz")[0]
    images = fixture_path("images")

    def path(value):
        is_path = isinstance(value, str) and value.startswith("tests/data/")
        return str(images.parent / value.removeprefix("tests/data/")) if is_path else value

    rows = [[path(v) for v in item["input"]] for item in case["validation"]]
    model = create_model(case["model"])
    frame = pd.DataFrame(rows)
    image_index = next(f.index for f in model.fields if f.optype == "image")
    frame[image_index] = [open(p, "rb").read() for p in frame[image_index]]
    expected = np.array([item["output"] for item in case["validation"]])
    assert np.abs(model(frame) - expected).max() < 1e-6


def test_a_missing_column_is_named():
    case = _cases()[0]
    model = create_model(_resource(case["model"], _names(case)))
    read = model.fields[2].name
    with pytest.raises(InputDataError, match=rf"no column for field\(s\) \['{read}'\]"):
        model(_frame(case).drop(columns=[read]))


def test_a_wrong_dtype_is_named_with_its_row():
    case = _cases()[0]
    model = create_model(_resource(case["model"], _names(case)))
    frame = _frame(case)
    numeric = next(f.name for f in model.fields if f.optype == "numeric")
    frame[numeric] = frame[numeric].astype(object)
    frame.loc[4, numeric] = "not a number"
    with pytest.raises(InputDataError, match=rf"row 4, column '{numeric}': 'not a number' is not a number"):
        model(frame)
    frame[numeric] = pd.Timestamp("2026-01-01")
    with pytest.raises(InputDataError, match="is not a number"):
        model(frame)


def test_dicts_that_name_no_field_are_refused():
    model = create_model(_cases()[0]["model"])
    with pytest.raises(InputDataError, match="no key of the given dicts names an input field"):
        model({"sepal": 1.0})


def test_public_fields_classes_and_kind():
    classifier = create_model(_cases()[2]["model"])
    assert classifier.kind == "classification"
    assert classifier.classes == _cases()[2]["model"]["output_exposition"]["values"]
    assert [f.index for f in classifier.fields] == [p["index"] for p in _cases()[2]["model"]["preprocess"]]
    preprocess = _cases()[2]["model"]["preprocess"]
    assert [f.name for f in classifier.fields] == [f"field_{p['index']}" for p in preprocess]
    categorical = next(f for f in classifier.fields if f.optype == "categorical")
    values = next(p["values"] for p in preprocess if p["index"] == categorical.index)
    assert categorical.values == tuple(values)
    regression = create_model(_cases()[0]["model"])
    assert regression.kind == "regression" and regression.classes is None


def test_predict_records_and_frame():
    case = _cases()[2]
    model = create_model(case["model"])
    rows = [item["input"] for item in case["validation"]]
    probabilities = model(rows)
    records = model.predict(rows)
    classes = model.classes
    for record, row in zip(records, probabilities):
        best = int(np.argmax(row))
        assert record["prediction"] == classes[best]
        assert record["probability"] == pytest.approx(float(row[best]), abs=0)
        assert [record[name] for name in classes] == pytest.approx(row.tolist(), abs=0)
    frame = model.predict(rows, as_frame=True)
    assert list(frame.columns) == ["prediction", "probability", *classes]
    assert frame["prediction"].tolist() == [r["prediction"] for r in records]
    regression = create_model(_cases()[0]["model"])
    values = regression([item["input"] for item in _cases()[0]["validation"]])
    assert [r["prediction"] for r in regression.predict([i["input"] for i in _cases()[0]["validation"]])] == (
        pytest.approx(values[:, 0].tolist(), abs=0)
    )


@pytest.mark.parametrize("value", [[1, 2], [1.0], np.array([1.0])])
def test_a_sequence_in_place_of_a_number_is_named_never_read_as_a_number(value):
    model = create_model(_cases()[0]["model"])
    row = list(_cases()[0]["validation"][0]["input"])
    numeric = next(f.index for f in model.fields if f.optype == "numeric")
    row[numeric] = value
    for rows in ([row], [row, _cases()[0]["validation"][1]["input"]]):
        with pytest.raises(InputDataError, match=rf"row 0, column {numeric}: .* is not a number"):
            model(rows)
    every = [[value] * 4]
    with pytest.raises(InputDataError, match="is not a number"):
        create_model(example_path("iris"))(every)


def _wide_model(numeric: int = 40, categorical: int = 5):
    """A model wider than one numpy call's reach: numeric runs broken by categorical fields."""
    rng = np.random.default_rng(7)
    preprocess = []
    for index in range(numeric + categorical):
        if index % 9 == 4 and len([p for p in preprocess if p["type"] == "categorical"]) < categorical:
            preprocess.append({"type": "categorical", "index": index, "values": ["a", "b", "3"]})
        else:
            preprocess.append({"type": "numeric", "index": index, "mean": 1.0, "stdev": 2.0})
    width = sum(3 if p["type"] == "categorical" else 1 for p in preprocess)
    layers = [
        {
            "type": "dense",
            "weights": rng.normal(size=(width, 2)).tolist(),
            "offset": [0.0, 0.0],
            "activation_function": "softmax",
        }
    ]
    network = {
        "preprocess": preprocess,
        "layers": layers,
        "output_exposition": {"type": "categorical", "values": ["x", "y"]},
        "trees": None,
    }
    return create_model(network), preprocess


def test_one_wide_row_encodes_as_many_rows_and_dicts_do():
    model, preprocess = _wide_model()
    rng = np.random.default_rng(3)
    odd = {0: None, 1: "2.5", 2: math.nan, 3: 7, 5: True, 6: np.float32(1.5)}
    categories = ["a", "b", "3", None, "unseen", 3, math.nan]
    row = []
    for p in preprocess:
        if p["type"] == "categorical":
            row.append(categories[len(row) % len(categories)])
        else:
            row.append(odd.get(p["index"], float(rng.normal())))
    row.append("the objective, ignored")
    one = model.encode(row)
    many = model.encode([row, row])
    by_name = model.encode({f.name: row[f.index] for f in model.fields})
    assert np.array_equal(one[0], many[0], equal_nan=True) and np.array_equal(one, by_name, equal_nan=True)
    assert np.isnan(one[0, 0]) and one[0, 1] == 2.5 and one[0, 5] == 1.0
    assert np.array_equal(model(row), model([row, row])[:1])


@pytest.mark.parametrize(
    "value, message",
    [
        ("", None),  # an empty string is a missing number
        ("abc", "'abc' is not a number"),
        (1e39, "beyond float32 range"),
        (10**400, "beyond the range of a float"),
        (-math.inf, "infinite values"),
        ([1.0], r"\[1.0\] is not a number"),
    ],
)
def test_a_bad_value_in_a_wide_row_is_named(value, message):
    model, preprocess = _wide_model()
    row = [("a" if p["type"] == "categorical" else 0.5) for p in preprocess]
    numeric = next(p["index"] for p in preprocess[10:] if p["type"] == "numeric")
    row[numeric] = value
    if message is None:
        encoded = model.encode(row)  # one matrix column per field, in preprocess order
        assert np.isnan(encoded[0, numeric])
        by_name = model.encode({f.name: row[f.index] for f in model.fields})
        assert np.array_equal(encoded, by_name, equal_nan=True)
        return
    with pytest.raises(InputDataError, match=rf"row 0, column {numeric}.*{message}"):
        model(row)


def test_a_short_wide_row_is_named_not_truncated():
    """The wide road reads runs of fields as slices, which a short row would silently cut."""
    model, preprocess = _wide_model()
    row = [("a" if p["type"] == "categorical" else 0.5) for p in preprocess]
    for short in (row[:-1], row[:10], row[:1]):
        with pytest.raises(InputDataError, match=f"row 0: has {len(short)} values.*at least {len(row)}"):
            model(short)
