"""`keras_to_network` and the shipped example it made."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet import UnsupportedError
from sensenet.examples import example_path
from sensenet.extract import keras_to_network
from sensenet.models.wrappers import create_model

TOLERANCE = 1e-6
MEAN = np.array([5.0, -2.0, 100.0])
STDEV = np.array([2.0, 0.5, 30.0])
PREPROCESS = [{"type": "numeric", "index": i, "mean": MEAN[i], "stdev": STDEV[i]} for i in range(3)]


def _randomize(model, rng: np.random.Generator) -> None:
    """Non-trivial weights everywhere, including batch-norm statistics (variances positive)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.uniform(0.2, 1.5, w.shape).astype(np.float32) for w in weights])


def _rows(rng: np.random.Generator, count: int = 64) -> np.ndarray:
    return rng.normal(MEAN, STDEV, (count, 3))


def test_classifier_round_trips_through_bigml_json():
    import keras

    rng = np.random.default_rng(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("tanh"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(5, activation="sigmoid", use_bias=False),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    _randomize(model, rng)
    classes = ["a", "b", "c", "d"]
    network = keras_to_network(model, PREPROCESS, {"type": "categorical", "values": classes})

    assert [layer["type"] for layer in network["layers"]] == [
        "dense",
        "batch_normalization",
        "activation",
        "dropout",
        "dense",
        "dense",
    ]
    rows = _rows(rng)
    expected = model(((rows - MEAN) / STDEV).astype(np.float32), training=False).numpy()
    got = create_model(network)(rows.tolist())
    assert np.abs(got - expected).max() <= TOLERANCE


def test_regression_round_trips():
    import keras

    rng = np.random.default_rng(8)
    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Dense(5, activation="elu"), keras.layers.Dense(1)]
    )
    _randomize(model, rng)
    network = keras_to_network(model, PREPROCESS, {"type": "numeric", "mean": 10.0, "stdev": 4.0})
    assert network["layers"][-1]["activation_function"] == "identity"

    rows = _rows(rng)
    expected = model(((rows - MEAN) / STDEV).astype(np.float32), training=False).numpy()
    normalised = create_model(network, {"regression_normalize": True})(rows.tolist())
    assert np.abs(normalised - expected).max() <= TOLERANCE


def test_layers_and_activations_bigml_lacks_are_refused_by_name():
    import keras

    convolution = keras.Sequential([keras.Input(shape=(4, 1)), keras.layers.Conv1D(2, 2)])
    with pytest.raises(UnsupportedError, match="Conv1D"):
        keras_to_network(convolution, PREPROCESS, {"type": "numeric"})
    for name in ("hard_sigmoid", "leaky_relu", "hard_silu"):  # two of them BigML has, defined otherwise
        other = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2, activation=name)])
        with pytest.raises(UnsupportedError, match=f"'{name}'"):
            keras_to_network(other, PREPROCESS, {"type": "numeric"})


# The first flower of each species in Fisher's table (sepal length, sepal width, petal length, petal width).
FIRST_OF_EACH_SPECIES = {
    "setosa": [5.1, 3.5, 1.4, 0.2],
    "versicolor": [7.0, 3.2, 4.7, 1.4],
    "virginica": [6.3, 3.3, 6.0, 2.5],
}


def test_shipped_iris_example_names_the_right_species():
    model = create_model(str(example_path("iris")))
    probabilities = model(list(FIRST_OF_EACH_SPECIES.values()))
    assert [model._classes[i] for i in probabilities.argmax(axis=1)] == list(FIRST_OF_EACH_SPECIES)


def test_shipped_iris_example_is_accurate_on_the_iris_data():
    datasets = pytest.importorskip(
        "sklearn.datasets", reason="scikit-learn (the dev extra) holds the iris data"
    )
    iris = datasets.load_iris()
    model = create_model(str(example_path("iris")))
    assert model._classes == [str(name) for name in iris.target_names]
    accuracy = (model(iris.data.tolist()).argmax(axis=1) == iris.target).mean()
    assert accuracy >= 0.95
