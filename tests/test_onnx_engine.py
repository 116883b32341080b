"""The ONNX engine: every layer type and activation, ensembles, threads, and no TensorFlow import."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import onnx
import onnxruntime
import pytest

from sensenet.engines.onnx.deepnet import deepnet_graph
from sensenet.engines.onnx.graph import GraphBuilder, Tensor
from sensenet.engines.onnx.layers import width_tiling
from sensenet.exceptions import SettingsError
from sensenet.models.wrappers import create_model
from sensenet.settings import Settings
from sensenet.spec import parse_network
from sensenet.spec.layers import ACTIVATION_FUNCTIONS, WidthTiling
from tests.activation_reference import ACTIVATION_REFERENCE as REFERENCE
from tests.conftest import REPO_ROOT, dense, identity_network, load_cases, numeric_field, regression_network

TOLERANCE = 1e-6


NO_TENSORFLOW = """
import json, sys
import sensenet
assert not any(m.split('.')[0] in ('onnx', 'onnxruntime') for m in sys.modules), 'import sensenet is heavy'
from sensenet.models.wrappers import create_model
model = create_model(sys.argv[1])
print(json.dumps({
    "prediction": model([1.5, 2.0]).tolist(),
    "heavy": sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tf_keras'}),
    "engine": model._engine.get().name,
}))
"""


def _grid_rows(width: int) -> np.ndarray:
    values = np.concatenate([np.linspace(-8, 8, 161), [-40.0, -20.0, 20.0, 40.0, 0.0]])
    rows = len(values) // width * width
    return values[:rows].reshape(-1, width).astype(np.float32)


def _both_engines(network: dict, **settings) -> tuple:
    return tuple(create_model(network, {"engine": name, **settings}) for name in ("onnx", "keras"))


@pytest.mark.parametrize("function", sorted(ACTIVATION_FUNCTIONS))
def test_activation_matches_its_formula_and_keras(function):
    width = 3
    network = identity_network(
        [numeric_field(i) for i in range(width)], width, layers=[dense(np.eye(width), activation=function)]
    )
    rows = _grid_rows(width)
    if function == "exponential":
        rows = rows[np.abs(rows).max(1) <= 20]
    onnx_model, keras_model = _both_engines(network)
    expected = REFERENCE[function](rows.astype(np.float64))
    got = onnx_model(rows)
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(got, keras_model(rows), rtol=TOLERANCE, atol=TOLERANCE)


def test_activation_tables_cover_every_spec_activation():
    from sensenet.engines.keras.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE
    from sensenet.engines.onnx.activations import ACTIVATIONS, LEAKY_RELU_SLOPE

    assert set(ACTIVATIONS) == set(ACTIVATION_FUNCTIONS) == set(REFERENCE)
    assert LEAKY_RELU_SLOPE == KERAS_SLOPE


def test_every_layer_type_against_numpy_and_keras():
    """dense, batch norm, dropout, flatten, residual block; missing and categorical inputs."""
    rng = np.random.default_rng(7)
    preprocess = [
        numeric_field(0, mean=1.0, stdev=2.0),
        {"type": "categorical", "index": 2, "values": ["a", "b", "c"]},
        {"type": "numeric", "index": 1, "zero_value": -1.0, "one_value": 3.0},
    ]
    w1, b1 = rng.normal(size=(5, 4)), rng.normal(size=4)
    gamma, beta, mean, variance = (
        rng.normal(size=4),
        rng.normal(size=4),
        rng.normal(size=4),
        rng.random(4) + 0.5,
    )
    w2 = rng.normal(size=(4, 4))
    w3 = rng.normal(size=(4, 2))
    layers = [
        dense(w1, b1, "relu"),
        {
            "type": "batch_normalization",
            "gamma": gamma.tolist(),
            "beta": beta.tolist(),
            "mean": mean.tolist(),
            "variance": variance.tolist(),
            "epsilon": 1e-3,
        },
        {"type": "dropout", "dropout_type": "alpha"},
        {"type": "flatten"},
        {
            "type": "dense_residual_block",
            "dense_path": [dense(w2, activation="tanh")],
            "activation_function": "elu",
        },
        dense(w3, activation="softmax"),
    ]
    network = identity_network(preprocess, 2, layers=layers)
    rows = [[2.5, 0.5, "b"], [None, 4.0, "c"], [-3.0, None, None], [0.0, -1.0, "zzz"]]

    features = np.array(
        [[0.75, 0, 1, 0, 0.375], [0, 0, 0, 1, 1.25], [-2.0, 0, 0, 0, 0], [-0.5, 0, 0, 0, 0]], np.float64
    )
    x = np.maximum(features @ w1 + b1, 0)
    x = gamma * (x - mean) / np.sqrt(variance + 1e-3) + beta
    x = REFERENCE["elu"](np.tanh(x @ w2) + x)
    expected = REFERENCE["softmax"](x @ w3)

    onnx_model, keras_model = _both_engines(network)
    got = onnx_model(rows)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(got - keras_model(rows)).max() <= TOLERANCE


def test_width_tiling_repeats_then_cuts_columns():
    g = GraphBuilder()
    out = width_tiling(g, WidthTiling(7), Tensor("x", (3,)))
    model = g.model([Tensor("x", (3,))], out, "y")
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    assert session.run(None, {"x": x})[0].tolist() == np.tile(x, (1, 3))[:, :7].tolist()


def _ensemble(cases: list[dict], output: dict | None = None) -> dict:
    """One network per fixture case; the cases must share their `preprocess`."""
    first = cases[0]["model"]
    return {
        "preprocess": first["preprocess"],
        "output_exposition": output or first["output_exposition"],
        "networks": [{"layers": c["model"]["layers"], "trees": c["model"]["trees"] or False} for c in cases],
    }


@pytest.fixture(scope="module")
def regression_cases():
    return load_cases("regression.json.gz")


def test_ensemble_is_the_mean_of_its_networks(regression_cases):
    cases = [regression_cases[i] for i in (2, 3, 5, 6, 2)]
    ensemble = _ensemble(cases)
    rows = [v["input"] for v in cases[0]["validation"]]
    members = [
        create_model({**c["model"], "output_exposition": ensemble["output_exposition"]}) for c in cases
    ]
    expected = np.mean([m(rows).astype(np.float64) for m in members], axis=0)

    onnx_model, keras_model = _both_engines(ensemble)
    got = onnx_model(rows)
    assert got.shape == (len(rows), 4)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(got - keras_model(rows)).max() <= TOLERANCE


def test_regression_ensemble_denormalises_each_network(regression_cases):
    cases = [regression_cases[i] for i in (8, 9)]
    output = {"type": "numeric", "mean": 3.0, "stdev": 2.5}
    ensemble = _ensemble(cases, output)
    rows = [v["input"] for v in cases[0]["validation"]]
    normalised = [
        create_model({**c["model"], "output_exposition": output}, {"regression_normalize": True})(rows)
        for c in cases
    ]
    expected = np.mean([n.astype(np.float64) * 2.5 + 3.0 for n in normalised], axis=0)

    onnx_model, keras_model = _both_engines(ensemble)
    assert np.abs(onnx_model(rows) - expected).max() <= TOLERANCE
    assert np.abs(onnx_model(rows) - keras_model(rows)).max() <= TOLERANCE
    onnx_raw, keras_raw = _both_engines(ensemble, regression_normalize=True)
    assert np.abs(onnx_raw(rows) - np.mean(normalised, axis=0)).max() <= TOLERANCE
    assert np.abs(onnx_raw(rows) - keras_raw(rows)).max() <= TOLERANCE


def test_graph_is_valid_onnx(regression_cases):
    for case in regression_cases:
        onnx.checker.check_model(deepnet_graph(parse_network(case["model"]), Settings()), full_check=True)


def test_onnx_is_the_default_engine_and_keras_is_built_on_demand():
    network = regression_network([dense([[1.0], [2.0]])], [numeric_field(0), numeric_field(1)])
    model = create_model(network)
    assert model([1.0, 1.0]).tolist() == [[3.0]]
    assert model._engine.get().name == "onnx"
    assert model._model.count_params() == 3
    assert create_model(network, {"engine": "keras"})([1.0, 1.0]).tolist() == [[3.0]]
    with pytest.raises(SettingsError, match="onnx"):
        create_model(network, {"engine": "tflite-please"})


def test_one_model_from_many_threads_gives_the_serial_answers(regression_cases):
    case = regression_cases[5]
    model = create_model(case["model"])
    rows = [v["input"] for v in case["validation"]] * 20
    serial = [model(row) for row in rows]
    results: dict[int, list] = {}

    def work(worker: int) -> None:
        order = rows if worker % 2 else rows[::-1]
        answers = [model(row) for row in order]
        results[worker] = answers if worker % 2 else answers[::-1]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    for answers in results.values():
        assert all(np.array_equal(a, s) for a, s in zip(answers, serial))


def test_predicting_never_imports_tensorflow(tmp_path):
    network = regression_network([dense([[1.0], [2.0]], [0.5])], [numeric_field(0), numeric_field(1)])
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"deepnet": {"network": network}}))
    done = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    report = json.loads(done.stdout)
    assert report == {"prediction": [[6.0]], "heavy": [], "engine": "onnx"}


def test_batch_norm_after_a_plain_dense_layer_becomes_part_of_it():
    rng = np.random.default_rng(3)
    mean, variance, gamma = np.array([0.5, -1.0]), np.array([4.0, 0.25]), np.array([2.0, 1.0])
    norm = {"type": "batch_normalization", "mean": mean.tolist(), "variance": variance.tolist()}
    norm["gamma"] = gamma.tolist()
    weights, bias = rng.normal(size=(2, 2)), rng.normal(size=2)
    layers = [dense(weights, bias), norm, dense(np.eye(2), activation="relu"), norm]
    network = identity_network([numeric_field(0), numeric_field(1)], 2, layers=layers)
    onnx_model, keras_model = _both_engines(network)
    nodes = [node.op_type for node in deepnet_graph(onnx_model.spec, onnx_model.settings).graph.node]
    assert nodes.count("Gemm") == 2 and nodes.count("Mul") == 1  # only the norm after relu stays apart

    rows = rng.normal(size=(50, 2)).astype(np.float32)
    normalize = lambda x: gamma * (x - mean) / np.sqrt(variance + 1e-3)  # noqa: E731
    expected = normalize(np.maximum(normalize(rows.astype(np.float64) @ weights + bias), 0))
    got = onnx_model(rows)
    # Outputs reach ~30, where float32 steps are 2e-6: compare relative to the size.
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(got, keras_model(rows), rtol=TOLERANCE, atol=TOLERANCE)
