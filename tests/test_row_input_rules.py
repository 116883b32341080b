"""Issue 22, items 2 and 3: one rule for keys and columns that name no field in every input form
(ignored), `--keep-columns` for JSON Lines, and errors that name the input's line, column and field,
consistent with what the Python API says for the same value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sensenet.cli import main
from sensenet.examples import example_path
from sensenet.exceptions import FieldValueError, InputDataError
from sensenet.models.wrappers import create_model

NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def iris():
    return create_model(str(example_path("iris")))


def predict(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["predict", "--example", "iris", "-q", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def jsonl_objects(rows: list[list], **extra) -> str:
    return "".join(
        json.dumps({**{key: value[n] for key, value in extra.items()}, **dict(zip(NAMES, row))}) + "\n"
        for n, row in enumerate(rows)
    )


def test_keys_and_columns_naming_no_field_are_ignored_in_every_form(iris, tmp_path, capsys):
    expected = iris(ROWS)
    ids = ["a", "b"]
    api_dicts = iris([{"id": i, "species": "x", **dict(zip(NAMES, row))} for i, row in zip(ids, ROWS)])
    api_frame = iris(pd.DataFrame([[i, *row] for i, row in zip(ids, ROWS)], columns=["id", *NAMES]))
    np.testing.assert_array_equal(api_dicts, expected)
    np.testing.assert_array_equal(api_frame, expected)

    objects = tmp_path / "rows.jsonl"
    objects.write_text(jsonl_objects(ROWS, id=ids, species=["x", "y"]))
    table = tmp_path / "rows.csv"
    table.write_text(
        "id,species,"
        + ",".join(f'"{name}"' for name in NAMES)
        + "\n"
        + "".join(f"{i},x,{','.join(map(str, row))}\n" for i, row in zip(ids, ROWS))
    )
    outputs = {}
    for path in (objects, table):
        for output_format in ("csv", "jsonl"):
            status, out, err = predict(capsys, str(path), "--keep-columns", "id", "--format", output_format)
            assert (status, err) == (0, "")
            outputs[path.suffix, output_format] = out
    assert outputs[".jsonl", "csv"] == outputs[".csv", "csv"]
    assert outputs[".jsonl", "jsonl"] == outputs[".csv", "jsonl"]
    assert [line.split(",")[0] for line in outputs[".csv", "csv"].splitlines()] == ["id", *ids]
    records = [json.loads(line) for line in outputs[".jsonl", "jsonl"].splitlines()]
    assert [record["id"] for record in records] == ids
    got = np.array([list(record["probabilities"].values()) for record in records], np.float32)
    np.testing.assert_array_equal(got, expected)


def test_data_where_no_key_names_a_field_is_refused_alike(iris, tmp_path, capsys):
    with pytest.raises(InputDataError, match="no key of the given dicts names an input field"):
        iris([{"sepal_length": 5.1}])
    typo = tmp_path / "typo.jsonl"
    typo.write_text('{"sepal_length": 5.1}\n{"id": 3}\n')
    status, _, err = predict(capsys, str(typo))
    assert status == 1
    assert err.strip() == (
        f"sensenet predict: error: {typo}: no key of its JSON objects names an input field; "
        f"the model reads {NAMES}"
    )


BAD = [5.1, "x", 1.4, 0.2]  # the value of 'sepal width (cm)', field index 1


@pytest.mark.parametrize(
    "name, text, options, where",
    [
        # the header is line 1; the field's column is where the header puts it (here the 4th)
        (
            "moved.csv",
            "id,petal width (cm),sepal length (cm),sepal width (cm),petal length (cm)\n"
            "a,0.2,5.1,3.5,1.4\n\nb,0.2,5.1,x,1.4\n",
            (),
            "line 4, column 4 'sepal width (cm)'",
        ),
        # a quoted cell spanning lines: the row is named by the line it starts on
        (
            "quoted.csv",
            "note,sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
            '"two\nlines",5.1,3.5,1.4,0.2\nc,5.1,x,1.4,0.2\n',
            (),
            "line 4, column 3 'sepal width (cm)'",
        ),
        (
            "plain.csv",
            "5.1,3.5,1.4,0.2\n5.1,x,1.4,0.2\n",
            ("--no-header",),
            "line 2, column 2 'sepal width (cm)'",
        ),
        (
            "arrays.jsonl",
            '[5.1, 3.5, 1.4, 0.2]\n[5.1, "x", 1.4, 0.2]\n',
            (),
            "line 2, column 2 'sepal width (cm)'",
        ),
        ("objects.jsonl", jsonl_objects([ROWS[0], BAD]), (), "line 2, key 'sepal width (cm)'"),
    ],
)
def test_a_bad_value_names_the_line_column_and_field(name, text, options, where, tmp_path, capsys):
    path = tmp_path / name
    path.write_text(text)
    status, out, err = predict(capsys, str(path), *options)
    assert (status, out) == (1, "")
    assert err.strip() == f"sensenet predict: error: {path}, {where}: 'x' is not a number"

    status, out, err = predict(capsys, str(path), *options, "--skip-errors")
    assert status == 3 and len(out.splitlines()) == 2  # the header and the good row
    assert err.splitlines()[0] == f"sensenet predict: skipped {path}, {where}: 'x' is not a number"


def test_command_line_rows_and_the_python_api_say_the_same(iris, capsys):
    status, _, err = predict(capsys, ",".join(map(str, ROWS[0])), ",".join(map(str, BAD)))
    assert status == 1
    assert err.strip() == (
        "sensenet predict: error: command-line rows, row 2, column 2 'sepal width (cm)': 'x' is not a number"
    )
    cases = [
        ([ROWS[0], BAD], "row 1, column 1 'sepal width (cm)'"),  # the list's own (0-based) positions
        ([dict(zip(NAMES, ROWS[0])), dict(zip(NAMES, BAD))], "row 1, field 'sepal width (cm)'"),
        (pd.DataFrame([ROWS[0], BAD], columns=NAMES), "row 1, column 'sepal width (cm)'"),
    ]
    for data, where in cases:
        with pytest.raises(FieldValueError) as raised:
            iris(data)
        assert str(raised.value) == f"{where}: 'x' is not a number"
        assert (raised.value.row, raised.value.index, raised.value.problem) == (1, 1, "'x' is not a number")


def test_a_model_that_names_nothing_names_the_column_only(tmp_path, capsys):
    network = json.loads(example_path("iris").read_text())["object"]["deepnet"]["network"]
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(network))
    with pytest.raises(FieldValueError, match=r"^row 0, column 1: 'x' is not a number$"):
        create_model(str(path))([BAD])
    status = main(["predict", str(path), "-q", ",".join(map(str, BAD))])
    assert status == 1
    assert capsys.readouterr().err.strip() == (
        "sensenet predict: error: command-line rows, row 1, column 2: 'x' is not a number"
    )
