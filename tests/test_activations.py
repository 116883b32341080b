"""Every activation name the seed library accepts, in both engines and every export.

The seed hands a layer's ``activation_function`` to tf-keras 2.16's ``activations.get``, which
takes the functions of its activations module and the classes of its activation layers, by exact
(case-sensitive) name. `SEED_KERAS_NAMES` is that list, read from tf-keras 2.16 (callables that
are not activations, such as ``serialize``, left out: they fail or compute garbage there). Each
name is checked against the float64 formulas of `tests/activation_reference.py`; one network
using every name is exported to every format and run in that format's runtime.
"""

from __future__ import annotations

import numpy as np
import pytest

from sensenet.exceptions import ModelFormatError
from sensenet.models.wrappers import convert, create_model
from sensenet.spec.layers import ACTIVATION_ALIASES, ACTIVATION_NAMES
from tests import reference
from tests.activation_reference import ALIASES, activation
from tests.conftest import dense, identity_network, invoked_litert, numeric_field, run_tfjs

SEED_KERAS_NAMES = {
    # tf-keras 2.16 activations module
    "elu",
    "exponential",
    "gelu",
    "hard_sigmoid",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
    # tf-keras 2.16 activation layers
    "ELU",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Softmax",
    "ThresholdedReLU",
    # the seed's own spelling of "linear"
    "identity",
}
WIDTH = 5
# Through the 25 layers of the chain, each scaling its input, float32 rounding (1e-7 to 1e-6 per
# function, more in LiteRT's XNNPACK kernels) adds up to about 1e-5; a wrong formula gives 1e-3 or more.
TOLERANCE = 5e-5


def _scaled_difference(got: np.ndarray, want: np.ndarray) -> float:
    """Absolute difference, relative to the value where it exceeds 1."""
    return float((np.abs(got - want) / np.maximum(1.0, np.abs(want))).max())


def test_the_names_are_the_seeds():
    assert set(ACTIVATION_NAMES) == SEED_KERAS_NAMES
    assert ACTIVATION_ALIASES == ALIASES  # the reference's own table says the same


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_alias_computes_the_function_it_names(alias):
    rows = np.linspace(-6, 6, 4 * WIDTH).reshape(4, WIDTH)
    network = identity_network([numeric_field(i) for i in range(WIDTH)], WIDTH, layers=[dense(np.eye(WIDTH))])
    network["layers"].append({"type": "activation", "activation_function": alias})
    expected = activation(ALIASES[alias])(rows)
    for engine in ("onnx", "keras"):
        got = create_model(network, {"engine": engine})(rows)
        assert _scaled_difference(got, expected) <= 1e-6, engine


@pytest.mark.parametrize("name", ["Relu", "RELU", "Gelu", "SiLU", "Swish", "prelu", "serialize", "get", ""])
def test_other_spellings_and_keras_helpers_are_refused(name):
    for layer in (dense(np.eye(WIDTH), activation=name), {"type": "activation", "activation_function": name}):
        network = identity_network([numeric_field(i) for i in range(WIDTH)], WIDTH, layers=[layer])
        with pytest.raises(ModelFormatError, match=r"activation_function.*unknown value"):
            create_model(network)


def every_activation_network() -> tuple[dict, np.ndarray]:
    """A chain of dense layers, one per activation name (aliases too), and rows for it.

    Each layer's weights are a random rotation scaled so that its inputs (the previous layer's
    outputs in the reference) spread around 1 with a standard deviation of 2: no function
    saturates the chain, so each one's formula shows in the output.
    """
    rng = np.random.default_rng(19)
    rows = rng.normal(0.0, 2.0, (64, WIDTH))
    preprocess = [numeric_field(i) for i in range(WIDTH)]
    layers: list[dict] = []
    x = rows
    for name in sorted(SEED_KERAS_NAMES):
        rotation, _ = np.linalg.qr(rng.normal(size=(WIDTH, WIDTH)))
        pre = x @ rotation
        weights = (rotation * (2.0 / pre.std())).astype(np.float32)
        bias = (1.0 - pre.mean(0) * (2.0 / pre.std())).astype(np.float32)
        layers.append(dense(weights, bias, name))
        x = activation(name)(x @ weights.astype(np.float64) + bias)
        assert len(np.unique(x.round(6), axis=0)) >= 0.9 * len(rows), name  # rows stay apart
    return identity_network(preprocess, WIDTH, layers=layers), rows


@pytest.fixture(scope="module")
def chain():
    network, rows = every_activation_network()
    model = create_model(network)
    matrix = model.encode(rows.tolist())
    expected = reference.predict(network, rows.tolist())
    got = model(matrix)
    assert _scaled_difference(got, expected) <= TOLERANCE  # the onnx engine against the reference
    return network, model, matrix, got


def test_the_keras_engine_computes_the_chain(chain):
    network, _, matrix, expected = chain
    assert _scaled_difference(create_model(network, {"engine": "keras"})(matrix), expected) <= TOLERANCE


@pytest.fixture(scope="module")
def exported(chain, tmp_path_factory):
    _, model, _, _ = chain
    root = tmp_path_factory.mktemp("activation_exports")
    paths = {}
    for to_format, options in (
        ("tflite", {"self_contained": False}),
        ("onnx", {"self_contained": False}),
        ("tfjs", {}),
        ("smbundle", {}),
    ):
        paths[to_format] = root / f"chain.{to_format}"
        convert(model, None, paths[to_format], to_format, **options)
    return paths


def test_tflite_in_litert(chain, exported):
    _, _, matrix, expected = chain
    interpreter = invoked_litert(exported["tflite"], matrix)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops  # builtin ops only
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert _scaled_difference(got, expected) <= TOLERANCE


def test_onnx_export_in_onnxruntime(chain, exported):
    import onnxruntime

    _, _, matrix, expected = chain
    session = onnxruntime.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: matrix})
    assert _scaled_difference(got, expected) <= TOLERANCE


def test_tfjs_in_node(chain, exported, tmp_path):
    _, _, matrix, expected = chain
    ((got, *_),) = run_tfjs([(exported["tfjs"], {"input_matrix": matrix})], tmp_path)
    assert _scaled_difference(got.astype(np.float32), expected) <= TOLERANCE


def test_smbundle_read_back(chain, exported):
    _, _, matrix, expected = chain
    assert _scaled_difference(create_model(exported["smbundle"])(matrix), expected) <= TOLERANCE
