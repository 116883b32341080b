"""Each layer type against a numpy reference, and the errors malformed layers raise."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet import ModelFormatError
from sensenet.models.wrappers import create_model
from sensenet.spec.initializers import initialize
from tests.activation_reference import ACTIVATION_REFERENCE as REFERENCE
from tests.conftest import dense, identity_network, numeric_field

WIDTH = 4
FIELDS = [numeric_field(i) for i in range(WIDTH)]
ROWS = np.array([[-3.0, -0.5, 0.0, 0.7], [1.5, 2.5, -8.0, 9.0], [0.1, -0.2, 0.3, -20.0]])


def _run(layers, width=WIDTH, rows=ROWS):
    return create_model(identity_network(FIELDS, width, layers=layers))(rows)


def test_every_activation_has_a_reference():
    from sensenet.spec.layers import ACTIVATION_FUNCTIONS

    assert set(REFERENCE) == set(ACTIVATION_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_layer(name):
    got = _run([{"type": "activation", "activation_function": name}])
    np.testing.assert_allclose(got, REFERENCE[name](ROWS), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "softmax", "mish"])
def test_dense_activation(name):
    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=(WIDTH, WIDTH)), rng.normal(size=WIDTH)
    got = _run([dense(weights, bias, name)])
    np.testing.assert_allclose(got, REFERENCE[name](ROWS @ weights + bias), rtol=2e-6, atol=2e-6)


def test_batch_normalization_with_epsilon():
    gamma, beta = [1.0, 2.0, 0.5, -1.0], [0.0, 1.0, -1.0, 0.5]
    mean, variance = [0.5, -1.0, 2.0, 0.0], [1.0, 4.0, 0.25, 9.0]
    layer = {"type": "batch_normalization", "gamma": gamma, "beta": beta, "mean": mean, "variance": variance}
    for epsilon, extra in ((1e-3, {}), (0.5, {"epsilon": 0.5})):
        expected = (ROWS - mean) / np.sqrt(np.array(variance) + epsilon) * gamma + beta
        np.testing.assert_allclose(_run([{**layer, **extra}]), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["zero", "alpha", "block"])
def test_dropout_is_identity_at_inference(kind):
    got = _run([{"type": "dropout", "dropout_type": kind, "rate": 0.5}])
    np.testing.assert_allclose(got, ROWS, rtol=1e-6)


def test_flatten_of_flat_input_is_identity():
    np.testing.assert_allclose(_run([{"type": "flatten"}]), ROWS, rtol=1e-6)


def test_dense_residual_block():
    rng = np.random.default_rng(2)
    w1, w2 = rng.normal(size=(WIDTH, 3)), rng.normal(size=(3, WIDTH))
    block = {
        "type": "dense_residual_block",
        "activation_function": "tanh",
        "dense_path": [dense(w1, activation="relu"), dense(w2)],
        "identity_path": [],
    }
    expected = np.tanh(np.maximum(ROWS @ w1, 0) @ w2 + ROWS)
    np.testing.assert_allclose(_run([block]), expected, rtol=2e-6, atol=2e-6)


def test_residual_paths_must_agree_in_shape():
    block = {"type": "dense_residual_block", "dense_path": [dense(np.ones((WIDTH, 3)))], "identity_path": []}
    with pytest.raises(ModelFormatError, match=r"layers\[0\]\.dense_path: gives shape \(3,\)"):
        _run([block, dense(np.ones((3, WIDTH)))])


def _legacy(weights_out_in, offset, activation="identity", residuals=False, **norm):
    layer = {
        "weights": weights_out_in,
        "offset": offset,
        "activation_function": activation,
        "residuals": residuals,
    }
    return {"mean": None, "stdev": None, "scale": None, **layer, **norm}


def test_legacy_layers_transpose_normalise_and_tile_residuals():
    rng = np.random.default_rng(3)
    w1, w2 = rng.normal(size=(6, WIDTH)), rng.normal(size=(3, 6))
    b1, b2 = rng.normal(size=6), rng.normal(size=3)
    mean, stdev, scale = rng.normal(size=3), rng.uniform(0.5, 2, size=3), rng.normal(size=3)
    layers = [
        _legacy(w1.tolist(), b1.tolist(), "relu"),
        _legacy(
            w2.tolist(),
            b2.tolist(),
            "tanh",
            True,
            mean=mean.tolist(),
            stdev=stdev.tolist(),
            scale=scale.tolist(),
        ),
    ]
    hidden = np.maximum(ROWS @ w1.T + b1, 0)
    normed = scale * (hidden @ w2.T - mean) / stdev + b2
    # The network input (4 wide) is the identity, cut to the 3-wide output.
    expected = np.tanh(normed + ROWS[:, :3])
    np.testing.assert_allclose(_run(layers, width=3), expected, rtol=5e-6, atol=5e-6)


def test_legacy_residual_input_narrower_than_output_is_tiled():
    weights = np.eye(6, WIDTH)
    got = _run([_legacy(weights.tolist(), [0.0] * 6, residuals=True)], width=6)
    tiled = np.tile(ROWS, 2)[:, :6]
    np.testing.assert_allclose(got, ROWS @ weights.T + tiled, rtol=1e-6)


def test_initializer_weights_are_reproducible_and_shaped():
    layer = {"type": "dense", "weights": "glorot_uniform", "offset": "zeros", "number_of_nodes": 5, "seed": 7}
    first = _run([layer, dense(np.ones((5, 2)))], width=2)
    second = _run([layer, dense(np.ones((5, 2)))], width=2)
    np.testing.assert_array_equal(first, second)
    values = initialize("glorot_uniform", (WIDTH, 5), 7, "x")
    limit = np.sqrt(6.0 / (WIDTH + 5))
    assert values.shape == (WIDTH, 5) and np.abs(values).max() <= limit and values.std() > 0
    assert np.array_equal(initialize("ones", (3,), 0, "x"), np.ones(3, np.float32))


@pytest.mark.parametrize(
    "layers,message",
    [
        ([dense(np.ones((3, WIDTH)))], r"layers\[0\]\.weights: expected shape 4 x 4, got 3 x 4"),
        (
            [{"type": "dense", "weights": np.ones((WIDTH, 4)).tolist(), "offset": [0.0]}],
            r"offset: expected shape 4",
        ),
        ([{"type": "convolution_3d"}], r"layers\[0\]\.type: unknown value 'convolution_3d'"),
        ([{"type": "activation", "activation_function": "gelu2"}], "unknown value 'gelu2'"),
        ([{"type": "dense", "weights": "magic", "number_of_nodes": 4}], "unknown initializer 'magic'"),
        ([{"type": "dense", "weights": [[1.0, "x"]] * WIDTH}], "rectangular array of numbers"),
        ([dense(np.ones((WIDTH, 3)))], r"last layer gives shape \(3,\), but the output needs \(4,\)"),
        ([], "at least one layer"),
    ],
)
def test_malformed_layers_name_the_place(layers, message):
    with pytest.raises(ModelFormatError, match=message):
        _run(layers)
