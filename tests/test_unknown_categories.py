"""Issue 22, item 4: a value not among a categorical field's categories predicts as missing (BigML's
rule, kept) and is counted: `model.unknown_categories(data)` in Python (no warning), one line per
field on stderr after a `sensenet predict` run (`serve` counts them in /metrics: test_serve)."""

from __future__ import annotations

import json
import math
import random
import warnings

import numpy as np
import pandas as pd
import pytest

from sensenet.cli import main
from sensenet.models.wrappers import create_model
from tests.conftest import identity_network

COLOURS = ["red", "green", "7"]  # "7" makes the number 7 a known category, as str(7) names it
SIZES = ["s", "m", "l"]
PREPROCESS = [
    {"type": "categorical", "index": 0, "values": COLOURS},
    {"type": "numeric", "index": 1, "mean": 0.0, "stdev": 1.0},
    {"type": "categorical", "index": 2, "values": SIZES},
]
CHOICES = [*COLOURS, *SIZES, "purple", "RED", " red", "", None, math.nan, 7, 8, 2.5, True]


@pytest.fixture(scope="module")
def model():
    """Its outputs are the one-hot vectors (and the numeric), to see what each value became."""
    return create_model(identity_network(PREPROCESS, 7))


def random_rows(seed: int, count: int) -> list[list]:
    rng = random.Random(seed)
    return [[rng.choice(CHOICES), rng.uniform(-2, 2), rng.choice(CHOICES)] for _ in range(count)]


def reference_counts(model, rows: list[list]) -> dict[str, int]:
    """Unknown: encoded as all-zero (what the model sees for a missing value) yet not missing."""
    outputs = model(rows)
    spans = {"field_0": (0, slice(0, 3)), "field_2": (2, slice(4, 7))}
    counts = {}
    for name, (index, span) in spans.items():
        missing = [
            value is None or value == "" or (isinstance(value, float) and math.isnan(value))
            for value in (row[index] for row in rows)
        ]
        counts[name] = int(sum((outputs[:, span].sum(axis=1) == 0) & ~np.array(missing)))
    return counts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_input_form_counts_what_encodes_as_missing_without_being_missing(model, seed):
    rows = random_rows(seed, 200)
    expected = reference_counts(model, rows)
    assert expected["field_0"] > 0 and expected["field_2"] > 0
    assert model.unknown_categories(rows) == expected
    assert model.unknown_categories([tuple(row) for row in rows]) == expected
    records = [
        {"id": n, "field_0": row[0], "field_1": row[1], "field_2": row[2]} for n, row in enumerate(rows)
    ]
    assert model.unknown_categories(records) == expected
    frame = pd.DataFrame(records).astype({"field_0": object})
    frame.loc[frame["field_0"].isna(), "field_0"] = pd.NA
    assert model.unknown_categories(frame) == expected
    strings = [row for row in rows if all(isinstance(row[i], str) for i in (0, 2))]
    categorical = pd.DataFrame(strings, columns=["field_0", "field_1", "field_2"]).astype(
        {"field_0": "category", "field_2": "category"}
    )
    assert model.unknown_categories(categorical) == reference_counts(model, strings)
    assert model.unknown_categories(rows[0]) == reference_counts(model, rows[:1])


def test_a_matrix_counts_codes_that_are_no_position(model):
    matrix = np.array([[0, 1.5, 2], [3, 0, -1], [np.nan, 0, 9], [1.5, 0, 1]], np.float32)
    assert model.unknown_categories(matrix) == {"field_0": 2, "field_2": 1}


def test_no_warning_by_default_and_the_prediction_is_the_missing_one(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unknown = model([["purple", 0.5, "xl"]])
    np.testing.assert_array_equal(unknown, model([[None, 0.5, None]]))
    assert model.unknown_categories([["purple", 0.5, "xl"]]) == {"field_0": 1, "field_2": 1}
    numeric_only = create_model(identity_network([PREPROCESS[1]], 1))
    assert numeric_only.unknown_categories([[1.0]]) == {}


def test_predict_says_per_field_how_many_values_were_not_among_its_categories(model, tmp_path, capsys):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(identity_network(PREPROCESS, 7)))
    rows = tmp_path / "rows.csv"
    rows.write_text("field_0,field_1,field_2\npurple,1,s\nred,2,xl\nblue,x,xxl\nred,3,\npink,4,m\n")
    status = main(["predict", str(path), str(rows), "-q", "--skip-errors"])
    captured = capsys.readouterr()
    assert status == 3 and len(captured.out.splitlines()) == 5  # header and 4 rows: "x" skipped
    name = "sensenet predict"
    assert captured.err.splitlines() == [
        f"{name}: skipped {rows}, line 4, column 2 'field_1': 'x' is not a number",
        f"{name}: warning: 2 values of 'field_0' were not among its categories (treated as missing)",
        f"{name}: warning: 1 value of 'field_2' was not among its categories (treated as missing)",
        f"{name}: 1 of 5 rows skipped (see above)",
    ]
    assert main(["predict", str(path), "red,1,s", ",2,", "-q"]) == 0
    assert capsys.readouterr().err == ""
