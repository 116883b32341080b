"""Every row model converted to every format, run in that format's own runtime.

Models: each case of regression.json.gz and legacy_regression.json.gz, each
tree-embedding case of embedding.json.gz, and a generated two-network
ensemble (the ``networks`` form, one member with trees). Runtimes: LiteRT for
TFLite, Node.js with @tensorflow/tfjs (pure JavaScript) for TF.js, TensorFlow
for the .smbundle, Keras for h5 weights, onnxruntime for ONNX. Each must give
the Python wrapper's predictions within 1e-5. Conversions are shared per
module (they are slow).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sensenet.exceptions import UnsupportedError
from sensenet.export import FORMATS, tfjs
from sensenet.models.wrappers import convert, create_model
from tests.conftest import dense, identity_network, invoked_litert, load_cases, numeric_field, run_tfjs

TOLERANCE = 1e-5


def ensemble_network() -> dict:
    """Two networks averaged; the first reads [tree features, inputs], the second the inputs alone."""
    rng = np.random.default_rng(7)
    leaf = lambda: [[float(v) for v in rng.normal(size=2)], None]  # noqa: E731
    trees = [[[0, 2], [[0, 0.1, leaf(), leaf()], [1, -0.3, [0, 0.5, leaf(), leaf()], leaf()]]]]
    softmax = lambda w: dense(w, rng.normal(size=w.shape[1]), "softmax")  # noqa: E731
    return {
        "preprocess": [
            numeric_field(0, mean=1.0, stdev=2.0),
            numeric_field(1),
            {"type": "categorical", "index": 2, "values": ["a", "b", "c"]},
        ],
        "trees": trees,
        "networks": [
            {
                "layers": [
                    dense(rng.normal(size=(7, 4)), rng.normal(size=4), "relu"),
                    softmax(rng.normal(size=(4, 3))),
                ],
                "trees": True,
            },
            {"layers": [softmax(rng.normal(size=(5, 3)))], "trees": False},
        ],
        "output_exposition": {"type": "categorical", "values": ["x", "y", "z"]},
    }


def ensemble_rows() -> list:
    return [[0.5, -1.0, "a"], [3.0, 0.2, "c"], [None, 1.5, "b"], [-2.0, None, None], [1.0, 0.0, "unknown"]]


def _with_missing_row(rows: list) -> list:
    """The fixture rows plus one with every value missing (NaN and unknown-category paths)."""
    return rows + [[None] * len(rows[0])]


def _model_cases() -> dict[str, tuple[dict, list]]:
    cases = {}
    for prefix, name in (("regression", "regression.json.gz"), ("legacy", "legacy_regression.json.gz")):
        for i, case in enumerate(load_cases(name)):
            rows = [v["input"] for v in case["validation"]]
            cases[f"{prefix}-{i}"] = (case["model"], _with_missing_row(rows))
    for i, case in enumerate(load_cases("embedding.json.gz")):
        width = len(case["with_trees"][0])
        network = identity_network(case["preprocess"], width, trees=case["trees"])
        cases[f"embedding-{i}"] = (network, _with_missing_row(case["input_data"]))
    cases["ensemble"] = (ensemble_network(), ensemble_rows())
    return cases


FIXTURE_MODELS = [
    *(f"regression-{i}" for i in range(10)),
    *(f"legacy-{i}" for i in range(7)),
    *(f"embedding-{i}" for i in range(6)),
    "ensemble",
]
# Models read back from their own .smbundle, then converted again (h5 is refused for them).
BUNDLED = "bundled-"
BUNDLED_MODELS = [f"{BUNDLED}embedding-1", f"{BUNDLED}ensemble"]
MODEL_NAMES = FIXTURE_MODELS + BUNDLED_MODELS
# A TF.js export written with tiny shards, so weights straddle shard files.
SHARDED, SHARDED_SOURCE = "sharded", "regression-6"


# These tests feed every export the input matrix; tests/test_convert_selfcontained.py feeds raw values.
MATRIX_OPTIONS = {"onnx": {"self_contained": False}, "tflite": {"self_contained": False}}


class Converted:
    """Built models, their input matrices and Python predictions, and each model's files per format."""

    def __init__(self, root: Path):
        self.root = root
        self.models = {}
        for name, (network, rows) in _model_cases().items():
            model = create_model(network)
            matrix = model.encode(rows)
            self.models[name] = (network, model, matrix, model(matrix))
        self._paths: dict[tuple[str, str], Path] = {}

    def path(self, name: str, to_format: str) -> Path:
        key = (name, to_format)
        if name.startswith(BUNDLED) and name not in self.models:
            network, _, matrix, expected = self.models[name.removeprefix(BUNDLED)]
            bundled = create_model(self.path(name.removeprefix(BUNDLED), "smbundle"))
            self.models[name] = (network, bundled, matrix, expected)
        if key not in self._paths:
            target = self.root / f"{name}.{to_format}"
            convert(self.models[name][1], None, target, to_format, **MATRIX_OPTIONS.get(to_format, {}))
            self._paths[key] = target
        return self._paths[key]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Converted:
    return Converted(tmp_path_factory.mktemp("converted"))


def test_the_formats_tested_here_are_the_registry():
    assert sorted(FORMATS) == ["h5", "onnx", "smbundle", "tfjs", "tflite"]


def test_models_cover_every_fixture_case():
    assert sorted(_model_cases()) == sorted(FIXTURE_MODELS)


def _litert_predict(path: Path, matrix: np.ndarray) -> tuple[np.ndarray, set[str]]:
    interpreter = invoked_litert(path, matrix)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), ops


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tflite_in_litert(converted, name):
    path = converted.path(name, "tflite")
    _, _, matrix, expected = converted.models[name]
    got, ops = _litert_predict(path, matrix)
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE


def test_tflite_runs_one_row_at_a_time(converted):
    _, _, matrix, expected = converted.models["embedding-0"]
    rows = [_litert_predict(converted.path("embedding-0", "tflite"), matrix[i : i + 1])[0] for i in range(3)]
    assert np.abs(np.concatenate(rows) - expected[:3]).max() <= TOLERANCE


@pytest.fixture(scope="module")
def tfjs_predictions(converted, tmp_path_factory) -> dict[str, np.ndarray]:
    """Every model's TF.js export run by Node.js in one process."""
    workdir = tmp_path_factory.mktemp("tfjs_inputs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfjs, "SHARD_BYTES", 1000)
        sharded = converted.root / "sharded.tfjs"
        convert(converted.models[SHARDED_SOURCE][1], None, sharded, "tfjs")
    jobs = []
    for name in MODEL_NAMES + [SHARDED]:
        path = sharded if name == SHARDED else converted.path(name, "tfjs")
        matrix = converted.models[SHARDED_SOURCE if name == SHARDED else name][2]
        jobs.append((path, {"input_matrix": matrix}))
    outputs = run_tfjs(jobs, workdir)
    return {name: output[0].astype(np.float32) for name, output in zip(MODEL_NAMES + [SHARDED], outputs)}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tfjs_in_node(converted, tfjs_predictions, name):
    expected = converted.models[name][3]
    got = tfjs_predictions[name]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE


def test_tfjs_weights_split_over_many_shards(converted, tfjs_predictions):
    shards = json.loads((converted.root / "sharded.tfjs" / "model.json").read_text())["weightsManifest"][0]
    assert len(shards["paths"]) > 10
    expected = converted.models[SHARDED_SOURCE][3]
    assert np.abs(tfjs_predictions[SHARDED] - expected).max() <= TOLERANCE


def test_tfjs_directory_is_a_graph_model(converted):
    directory = converted.path("ensemble", "tfjs")
    document = json.loads((directory / "model.json").read_text())
    assert document["format"] == "graph-model"
    assert {node["op"] for node in document["modelTopology"]["node"]} >= {"Placeholder", "Const", "MatMul"}
    weights = document["weightsManifest"][0]["weights"]
    sizes = {"float32": 4, "int32": 4, "bool": 1}
    expected_bytes = sum(sizes[w["dtype"]] * int(np.prod(w["shape"])) for w in weights)
    shards = document["weightsManifest"][0]["paths"]
    assert sum((directory / shard).stat().st_size for shard in shards) == expected_bytes


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_smbundle_in_tensorflow(converted, name):
    path = converted.path(name, "smbundle")
    network, _, matrix, expected = converted.models[name]
    reloaded = create_model(path)
    got = reloaded(matrix)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert reloaded._classes == create_model(network)._classes


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_h5_weights_in_keras(converted, name):
    import tensorflow as tf

    from sensenet.export.h5 import load_h5_weights

    network, _, matrix, expected = converted.models[name]
    fresh = create_model(network)._model
    for variable in fresh.weights:
        variable.assign(tf.zeros_like(variable))
    load_h5_weights(fresh, converted.path(name, "h5"))
    got = fresh(matrix, training=False).numpy()
    assert np.abs(got - expected).max() <= TOLERANCE


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_onnx_in_onnxruntime(converted, name):
    """Checked against the Keras graph too: the default engine runs the same ONNX graph."""
    import onnxruntime

    path = converted.path(name, "onnx")
    _, model, matrix, expected = converted.models[name]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: matrix})[0]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(got - model._model(matrix, training=False).numpy()).max() <= TOLERANCE


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_onnx_and_h5_are_refused_for_a_bundled_model(converted, tmp_path, name):
    converted.path(name, "smbundle")
    for to_format in ("onnx", "h5"):
        with pytest.raises(UnsupportedError, match=f"convert to {to_format} from the model JSON"):
            convert(converted.models[name][1], None, tmp_path / f"model.{to_format}", to_format)
    assert list(tmp_path.iterdir()) == []
