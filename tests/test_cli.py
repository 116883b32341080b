"""The `sensenet` command, run for real in a subprocess (`python -m sensenet`) on real models.

Each run costs an interpreter start, so each test checks several things of one run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sensenet.examples import example_path
from sensenet.models.wrappers import create_model
from tests.conftest import REPO_ROOT, load_cases
from tools.readme_commands import readme_example

TOLERANCE = 1e-6
IRIS_NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def sensenet(*args: str, stdin: str | None = None, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """Run the command from this checkout, stdin and stderr not terminals (as in CI or a pipe)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sensenet", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, status: int, *fragments: str) -> None:
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture(scope="module")
def regression_cases():
    return load_cases("regression.json.gz")


def write_network(tmp_path: Path, case: dict) -> Path:
    path = tmp_path / "network.json"
    path.write_text(json.dumps(case["model"]))
    return path


def test_readme_main_command_prints_what_the_readme_shows_and_no_noise_off_a_terminal():
    words, shown = readme_example()
    assert words[0] == "sensenet"
    result = sensenet(*words[1:])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar nor any other noise
    got, expected = (list(csv.reader(io.StringIO(text))) for text in (result.stdout, shown))
    assert got[0] == expected[0] == ["prediction", "probability", "setosa", "versicolor", "virginica"]
    assert [row[0] for row in got[1:]] == [row[0] for row in expected[1:]] == ["setosa"]
    numbers = [np.array([[float(x) for x in row[1:]] for row in rows[1:]]) for rows in (got, expected)]
    assert np.abs(numbers[0] - numbers[1]).max() <= TOLERANCE


def test_predict_jsonl_file_to_jsonl_output_matches_bigml(regression_cases, tmp_path):
    case = regression_cases[3]  # classifier: categorical inputs, batch norm, residual blocks
    model = write_network(tmp_path, case)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(v["input"]) + "\n" for v in case["validation"]))
    out = tmp_path / "predictions.jsonl"

    result = sensenet("predict", str(model), str(rows), "--format", "jsonl", "-o", str(out))
    assert result.returncode == 0, result.stderr
    # BigML's rows hold a value the network does not read: said once, on stderr.
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert "rows.jsonl, line 1: 7 values, but the model reads 6: extra values are ignored" in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    classes = case["model"]["output_exposition"]["values"]
    got = np.array([[record["probabilities"][name] for name in classes] for record in records])
    expected = np.array([v["output"] for v in case["validation"]])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE
    assert [record["prediction"] for record in records] == [classes[i] for i in expected.argmax(axis=1)]


def test_predict_headerless_csv_from_stdin_matches_bigml(regression_cases, tmp_path):
    case = regression_cases[1]  # regression: tree embeddings, residual blocks, missing values
    model = write_network(tmp_path, case)
    text = io.StringIO()
    csv.writer(text).writerows(["" if x is None else x for x in v["input"]] for v in case["validation"])

    result = sensenet("predict", str(model), "--no-header", "--input-format", "csv", stdin=text.getvalue())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction"
    got = np.array([float(line) for line in lines[1:]])
    expected = np.array([v["output"][0] for v in case["validation"]])
    assert np.abs(got - expected).max() <= TOLERANCE


def test_predict_csv_matches_header_names_and_ignores_other_columns(tmp_path):
    measurements = [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, None, 6.0, 2.5]]
    order = [2, 0, 3, 1]  # columns shuffled, plus the objective and an unrelated column
    with open(tmp_path / "flowers.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", *(IRIS_NAMES[i] for i in order), "species"])
        for number, row in enumerate(measurements):
            writer.writerow([number, *("" if row[i] is None else row[i] for i in order), "?"])

    result = sensenet("predict", "--example", "iris", "flowers.csv", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["prediction", "probability", "setosa", "versicolor", "virginica"]
    got = np.array([[float(x) for x in row[2:]] for row in rows[1:]])
    expected = create_model(str(example_path("iris")))(measurements)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert [row[0] for row in rows[1:]] == ["setosa", "versicolor", "virginica"]


def test_predict_jsonl_objects_on_stdin_by_field_name():
    records = [
        {IRIS_NAMES[0]: 5.1, IRIS_NAMES[1]: 3.5, IRIS_NAMES[2]: 1.4, IRIS_NAMES[3]: 0.2, "species": "?"}
    ]
    records.append({IRIS_NAMES[2]: 6.0, IRIS_NAMES[3]: 2.5})  # absent keys are missing values
    stdin = "".join(json.dumps(record) + "\n" for record in records)

    result = sensenet("predict", "--example", "iris", "--format", "jsonl", stdin=stdin)
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in result.stdout.splitlines()]
    expected = create_model(str(example_path("iris")))([[5.1, 3.5, 1.4, 0.2], [None, None, 6.0, 2.5]])
    assert [record["prediction"] for record in got] == ["setosa", "virginica"]
    assert np.abs(np.array([list(r["probabilities"].values()) for r in got]) - expected).max() <= TOLERANCE


def test_csv_missing_a_field_column_is_a_one_line_error(tmp_path):
    (tmp_path / "rows.csv").write_text(f"{IRIS_NAMES[0]},{IRIS_NAMES[1]},{IRIS_NAMES[2]}\n5.1,3.5,1.4\n")
    result = sensenet("predict", "--example", "iris", "rows.csv", cwd=tmp_path)
    assert_one_line_error(result, 1, "rows.csv", "lacks", repr(IRIS_NAMES[3]))


def test_missing_files_are_one_line_errors_and_debug_shows_the_traceback(tmp_path):
    assert_one_line_error(
        sensenet("predict", "--example", "iris", "absent.csv", cwd=tmp_path), 1, "absent.csv"
    )
    missing_model = sensenet("info", "no_such_model.json", cwd=tmp_path)
    assert_one_line_error(missing_model, 1, "no_such_model.json", "not found")

    debug = sensenet("info", "no_such_model.json", "--debug", cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ModelNotFoundError" in debug.stderr


def test_bad_rows_and_arguments_are_one_line_errors():
    bad_value = sensenet("predict", "--example", "iris", "5.1,3.5,1.4,0.2", "5.1,wide,1.4,0.2")
    assert_one_line_error(bad_value, 1, "command-line rows, row 2", "'wide' is not a number")
    assert_one_line_error(sensenet("predict", "--example", "iris", "5.1,3.5"), 1, "has 2 values")
    assert_one_line_error(sensenet("predict", "--example", "iris", "--format", "xml", "1,2,3,4"), 2, "xml")
    assert_one_line_error(sensenet("frobnicate"), 2, "frobnicate")


def test_output_file_is_never_overwritten_without_force(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    refused = sensenet("predict", "--example", "iris", "5.1,3.5,1.4,0.2", "-o", str(out))
    assert_one_line_error(refused, 1, "already exists", "--force")
    assert out.read_text() == "precious\n"

    forced = sensenet("predict", "--example", "iris", "5.1,3.5,1.4,0.2", "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_text().splitlines()[1].startswith("setosa,")


def _parameter_count(value) -> int:
    """Numbers stored in weight lists anywhere in a layer's JSON."""
    if isinstance(value, list):
        return (
            sum(_parameter_count(item) for item in value)
            if value and not _is_number(value[0])
            else len(value)
        )
    if isinstance(value, dict):
        return sum(_parameter_count(item) for item in value.values())
    return 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_info_summarises_fields_layers_and_parameters(regression_cases, tmp_path):
    case = regression_cases[1]
    result = sensenet("info", str(write_network(tmp_path, case)))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    model = case["model"]
    assert f"inputs: {len(model['preprocess'])} fields" in text
    assert text.count(" categorical, one-hot over ") == 2
    assert "tree embedding:" in text
    assert text.count("dense residual block") == 3
    assert f"parameters: {_parameter_count(model['layers']):,}" in text
    assert "output: regression" in text

    example = sensenet("info", "--example", "iris")
    assert example.returncode == 0, example.stderr
    assert all(repr(name) in example.stdout for name in IRIS_NAMES)
    assert "classes: setosa, versicolor, virginica" in example.stdout
