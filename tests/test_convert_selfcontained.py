"""Self-contained exports: one input per field, raw values in, run by a bare runtime.

ONNX: every row fixture (typed, legacy and tree-embedding networks) and the
image fixture model is exported once; the session is fed the rows' raw values
(numbers as float32 with NaN for missing, categories as strings with "" for
missing) under the graph's field-named inputs, and must give the Python
API's numbers to 1e-6, also for unknown and missing categories. TFLite: the
same for a few fixtures (each conversion takes seconds), in LiteRT, with
builtin ops only. TF.js (self-contained on request): one fixture in Node.js.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime
import pytest

from sensenet.examples import example_path
from sensenet.exceptions import SettingsError, UnsupportedError
from sensenet.export.onnx_fields import METADATA_KEY
from sensenet.models.wrappers import convert, create_model
from sensenet.spec.source import read_model_file
from tests.conftest import FIXTURES, load_cases, run_tfjs

TOLERANCE = 1e-6
UNKNOWN = "no such category"
# case counts of the row fixtures (checked when they are read), so a clone without fixtures collects
ROW_FIXTURES = {"regression.json.gz": 10, "legacy_regression.json.gz": 7}
CASES = [(name, k) for name, count in ROW_FIXTURES.items() for k in range(count)]


def _id(case: tuple[str, int]) -> str:
    return f"{case[0].split('.')[0]}-{case[1]}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(case, model, path of its self-contained ONNX) per row fixture case, each converted once."""
    root = tmp_path_factory.mktemp("selfcontained")
    result = {}
    for name, count in ROW_FIXTURES.items():
        cases = load_cases(name)
        assert len(cases) == count, f"{name} holds {len(cases)} cases, ROW_FIXTURES says {count}"
        for k, case in enumerate(cases):
            model = create_model(case["model"])
            path = root / f"{_id((name, k))}.onnx"
            convert(model, None, path, "onnx")
            result[(name, k)] = case, model, path
    return result


def _session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _feeds(model, rows: list[list]) -> dict[str, np.ndarray]:
    """Raw row values under the field-named inputs: what a user of the bare file writes."""
    feeds = {}
    for field in model.fields:
        values = [row[field.index] for row in rows]
        if field.optype == "categorical":
            feeds[field.name] = np.array([["" if v is None else str(v)] for v in values], dtype=object)
        elif field.optype == "numeric":
            feeds[field.name] = np.array([[np.nan if v is None else v] for v in values], dtype=np.float32)
    return feeds


def _with_missing_and_unknown(model, rows: list[list]) -> list[list]:
    """The rows again with every categorical unknown, then every field missing in turn."""
    changed = []
    for row in rows[:4]:
        unknown = list(row)
        for field in model.fields:
            if field.optype == "categorical":
                unknown[field.index] = UNKNOWN
        changed.append(unknown)
        for field in model.fields:
            missing = list(row)
            missing[field.index] = None
            changed.append(missing)
    return changed


@pytest.mark.parametrize("key", CASES, ids=_id)
def test_raw_values_give_the_python_numbers(exported, key):
    case, model, path = exported[key]
    session = _session(path)
    names = [field.name for field in model.fields]
    assert [i.name for i in session.get_inputs()] == names
    rows = [v["input"] for v in case["validation"]]
    got = session.run(None, _feeds(model, rows))[0]
    assert np.abs(got - model(rows)).max() <= TOLERANCE
    assert np.abs(got - np.array([v["output"] for v in case["validation"]])).max() <= TOLERANCE


@pytest.mark.parametrize("key", CASES, ids=_id)
def test_unknown_and_missing_values_give_the_python_numbers(exported, key):
    case, model, path = exported[key]
    rows = _with_missing_and_unknown(model, [v["input"] for v in case["validation"]])
    got = _session(path).run(None, _feeds(model, rows))[0]
    assert np.abs(got - model(rows)).max() <= TOLERANCE


def test_unknown_categories_change_the_prediction(exported):
    """The unknown-category rows above are a real test: they predict differently from the known ones."""
    case, model, path = exported[("regression.json.gz", 0)]
    rows = [v["input"] for v in case["validation"][:4]]
    unknown = [row for row in _with_missing_and_unknown(model, rows) if UNKNOWN in row]
    session = _session(path)
    known_out, unknown_out = (session.run(None, _feeds(model, r))[0] for r in (rows, unknown))
    assert np.abs(known_out - unknown_out).max() > 1e-3


def test_metadata_describes_fields_and_classes(exported):
    case, model, path = exported[("regression.json.gz", 2)]
    (entry,) = [p for p in onnx.load(str(path)).metadata_props if p.key == METADATA_KEY]
    description = json.loads(entry.value)
    assert description["classes"] == case["model"]["output_exposition"]["values"]
    assert [f["name"] for f in description["fields"]] == [f.name for f in model.fields]
    assert description["inputs"] == {"fields": [f.name for f in model.fields], "images": []}


def test_inputs_are_named_by_bigml_field_names(tmp_path):
    resource = read_model_file(str(example_path("iris")))
    path = tmp_path / "iris.onnx"
    convert(resource, None, path, "onnx")
    session = _session(path)
    names = [i.name for i in session.get_inputs()]
    assert names == ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    row = [5.1, 3.5, 1.4, 0.2]
    feeds = {name: np.array([[value]], np.float32) for name, value in zip(names, row)}
    assert np.abs(session.run(None, feeds)[0] - create_model(resource)([row])).max() <= TOLERANCE


def test_a_field_name_the_graph_uses_gets_its_index(tmp_path):
    resource = copy.deepcopy(read_model_file(str(example_path("iris"))))
    fields = resource["object"]["deepnet"]["fields"]
    fields["000000"]["name"] = "probabilities"  # the graph's output
    fields["000001"]["name"] = "probabilities"  # and a repeated name
    path = tmp_path / "iris.onnx"
    convert(resource, None, path, "onnx")
    names = [i.name for i in _session(path).get_inputs()]
    assert names == ["probabilities_0", "probabilities_1", "petal length (cm)", "petal width (cm)"]


def test_the_image_fixture_model_takes_fields_and_pixels(tmp_path):
    case = load_cases("image_regression.json.gz")[0]
    model = create_model(case["model"], {"image_path_prefix": str(FIXTURES)})
    rows = [[_relative(value) for value in v["input"]] for v in case["validation"][:4]]
    rows[1][0] = UNKNOWN
    rows[2][0] = None
    path = tmp_path / "images.onnx"
    convert(model, None, path, "onnx")
    _, images = model.encode_inputs(rows)
    session = _session(path)
    feeds = {**_feeds(model, rows), **{f"image_{i}": pixels for i, pixels in enumerate(images)}}
    assert sorted(i.name for i in session.get_inputs()) == sorted(feeds)
    assert np.abs(session.run(None, feeds)[0] - model(rows)).max() <= 1e-5


def _relative(value):
    prefix = "tests/data/"  # the fixture's image paths start here; FIXTURES holds images/
    return value[len(prefix) :] if isinstance(value, str) and value.startswith(prefix) else value


def test_the_matrix_graph_on_request(exported, tmp_path):
    case, model, _ = exported[("regression.json.gz", 0)]
    path = tmp_path / "matrix.onnx"
    convert(model, None, path, "onnx", self_contained=False)
    session = _session(path)
    rows = [v["input"] for v in case["validation"]]
    assert [i.name for i in session.get_inputs()] == ["input_matrix"]
    got = session.run(None, {"input_matrix": model.encode(rows)})[0]
    assert np.abs(got - model(rows)).max() <= TOLERANCE


def _litert_run(path, model, rows: list[list]) -> tuple[np.ndarray, set[str]]:
    """LiteRT fed the raw values under the field inputs; also the graph's op names."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    feeds = _feeds(model, rows)
    # Inputs and outputs by the names of the model's signature.
    assert sorted(interpreter.get_signature_list()["serving_default"]["inputs"]) == sorted(feeds)
    (got,) = interpreter.get_signature_runner("serving_default")(**feeds).values()
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    return got, ops


TFLITE_CASES = [("regression.json.gz", 0), ("regression.json.gz", 1), ("legacy_regression.json.gz", 0)]


@pytest.mark.parametrize("key", TFLITE_CASES, ids=_id)
def test_tflite_takes_raw_values_with_builtin_ops(exported, key, tmp_path):
    case, model, _ = exported[key]
    path = tmp_path / "model.tflite"
    convert(model, None, path, "tflite")
    rows = [v["input"] for v in case["validation"]]
    rows += _with_missing_and_unknown(model, rows)
    got, ops = _litert_run(path, model, rows)
    assert np.abs(got - model(rows)).max() <= TOLERANCE
    assert "EQUAL" in ops and not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops


def test_tflite_input_names_keep_what_tensorflow_allows(tmp_path):
    resource = read_model_file(str(example_path("iris")))
    path = tmp_path / "iris.tflite"
    convert(resource, None, path, "tflite")
    from ai_edge_litert.interpreter import Interpreter

    names = sorted(Interpreter(model_path=str(path)).get_signature_list()["serving_default"]["inputs"])
    assert names == ["petal_length__cm_", "petal_width__cm_", "sepal_length__cm_", "sepal_width__cm_"]


def test_tfjs_takes_raw_values_on_request(exported, tmp_path):
    case, model, _ = exported[("regression.json.gz", 0)]
    convert(model, None, tmp_path / "web", "tfjs", self_contained=True)
    description = json.loads((tmp_path / "web" / "sensenet.json").read_text())
    assert description["inputs"] == {"fields": [f.name for f in model.fields], "images": []}
    rows = [v["input"] for v in case["validation"]]
    rows += _with_missing_and_unknown(model, rows)
    ((got,),) = run_tfjs([(tmp_path / "web", _feeds(model, rows))], tmp_path)
    assert np.abs(got - model(rows)).max() <= TOLERANCE


def test_formats_that_cannot_hold_the_encoding_refuse_it(exported, tmp_path):
    _, model, _ = exported[("regression.json.gz", 0)]
    for to_format in ("smbundle", "h5"):
        with pytest.raises(UnsupportedError, match=f"the {to_format} export cannot hold the input encoding"):
            convert(model, None, tmp_path / f"model.{to_format}", to_format, self_contained=True)
    with pytest.raises(SettingsError, match="self_contained must be True, False or None"):
        convert(model, None, tmp_path / "model.onnx", "onnx", self_contained="yes")
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_writes_both_forms(tmp_path):
    from tests.test_cli import sensenet

    for flags, names in (
        ((), ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]),
        (("--matrix-input",), ["input_matrix"]),
    ):
        out = tmp_path / f"iris{len(flags)}.onnx"
        result = sensenet("convert", "--example", "iris", "--to", "onnx", "-o", str(out), *flags)
        assert result.returncode == 0, result.stderr
        assert [i.name for i in _session(out).get_inputs()] == names
