"""Every structural variant of a BigML row deepnet, generated, against the numpy reference.

Variants: typed and legacy layers; one network, or ``networks`` with ``output_exposition`` at the
top, in each network (older deepnets, beside an empty top-level ``layers``), or in both; ``trees``
true in one network and false in the other; classification and regression; numeric (both
standardisation forms), categorical and missing values. Each runs through the onnx and keras
engines, and a few through every export's own runtime (`test_exports_match_the_reference`).
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from sensenet import ModelFormatError
from sensenet.models.wrappers import convert, create_model
from tests import reference
from tests.conftest import run_litert, run_tfjs

TOLERANCE = 2e-6
PREPROCESS = [
    {"type": "numeric", "index": 0, "mean": 1.5, "stdev": 2.0},
    {"type": "categorical", "index": 1, "values": ["a", "b", "c"]},
    {"type": "numeric", "index": 2, "zero_value": -1.0, "one_value": 3.0},
]
FEATURES = 5  # 1 + 3 + 1
ROWS = [
    [0.5, "a", 2.0],
    [3.0, "c", -4.0],
    [None, "b", 0.0],
    [-2.0, None, None],
    [1.0, "unknown", 7.5],
    [None, None, None],
]
STRUCTURES = ("single", "networks-top", "networks-inside", "networks-both")
KINDS = ("classification", "regression")
FORMS = ("typed", "legacy")
VARIANTS = [f"{k}-{f}-{s}" for k, f, s in itertools.product(KINDS, FORMS, STRUCTURES)]


def _trees(rng) -> list:
    def leaf():
        return [[float(v) for v in rng.normal(size=2)], None]

    forest = [[0, 0.1, leaf(), [2, -0.2, leaf(), leaf()]], [1, 0.5, leaf(), leaf()]]
    return [[[0, 3], forest]]


def _typed(rng, width: int, outputs: int, last: str) -> list:
    def matrix(rows, columns):
        return rng.normal(0, 0.7, (rows, columns)).tolist()

    return [
        {
            "type": "dense",
            "weights": matrix(width, 4),
            "offset": rng.normal(size=4).tolist(),
            "activation_function": "relu",
        },
        {
            "type": "batch_normalization",
            "gamma": rng.uniform(0.5, 1.5, 4).tolist(),
            "beta": rng.normal(size=4).tolist(),
            "mean": rng.normal(size=4).tolist(),
            "variance": rng.uniform(0.5, 2, 4).tolist(),
        },
        {
            "type": "dense_residual_block",
            "dense_path": [
                {"type": "dense", "weights": matrix(4, 4), "offset": [0.1] * 4, "activation_function": "tanh"}
            ],
            "activation_function": "swish",
        },
        {
            "type": "dense",
            "weights": matrix(4, outputs),
            "offset": rng.normal(size=outputs).tolist(),
            "activation_function": last,
        },
    ]


def _legacy(rng, width: int, outputs: int, last: str) -> list:
    def matrix(rows, columns):  # legacy weights are [out][in]
        return rng.normal(0, 0.7, (rows, columns)).tolist()

    return [
        {
            "weights": matrix(4, width),
            "offset": rng.normal(size=4).tolist(),
            "mean": rng.normal(size=4).tolist(),
            "stdev": rng.uniform(0.5, 2, 4).tolist(),
            "scale": rng.uniform(0.5, 1.5, 4).tolist(),
            "activation_function": "relu",
        },
        {"weights": matrix(6, 4), "offset": rng.normal(size=6).tolist(), "activation_function": "tanh"},
        {
            "weights": matrix(6, 6),
            "offset": rng.normal(size=6).tolist(),
            "residuals": True,
            "activation_function": "relu",
        },
        {
            "weights": matrix(outputs, 6),
            "offset": rng.normal(size=outputs).tolist(),
            "activation_function": last,
        },
    ]


def variant_network(name: str) -> dict:
    kind, form, structure = name.split("-", 2)
    rng = np.random.default_rng(VARIANTS.index(name))
    classify = kind == "classification"
    outputs, last = (3, "softmax") if classify else (1, "identity")
    exposition = (
        {"type": "categorical", "values": ["x", "y", "z"]}
        if classify
        else {"type": "numeric", "mean": 10.0, "stdev": 4.0}
    )
    build = _typed if form == "typed" else _legacy
    trees = _trees(rng)
    network = {"preprocess": PREPROCESS, "trees": trees}
    if structure == "single":
        return {**network, "layers": build(rng, FEATURES + 2, outputs, last), "output_exposition": exposition}
    members = [
        {"layers": build(rng, FEATURES + 2, outputs, last), "trees": True},
        {"layers": build(rng, FEATURES, outputs, last), "trees": False},
    ]
    if structure in ("networks-inside", "networks-both"):
        members = [{**member, "output_exposition": exposition} for member in members]
    if structure == "networks-inside":
        return {**network, "layers": [], "networks": members}
    return {**network, "networks": members, "output_exposition": exposition}


@pytest.fixture(scope="module")
def models() -> dict:
    built = {}
    for name in VARIANTS:
        network = variant_network(name)
        built[name] = (network, reference.predict(network, ROWS))
    return built


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("engine", ["onnx", "keras"])
def test_engines_match_the_reference(models, name, engine):
    network, expected = models[name]
    got = create_model(network, {"engine": engine})(ROWS)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_the_bigml_bindings_shape_of_an_older_multi_network_deepnet_loads(models):
    """A full resource whose networks each carry the output (BigML's Node bindings' test model)."""
    network, expected = models["classification-legacy-networks-inside"]
    resource = {"resource": "deepnet/1", "object": {"deepnet": {"network": network}}}
    assert np.abs(create_model(resource)(ROWS) - expected).max() <= TOLERANCE


def test_networks_that_disagree_on_the_output_are_refused():
    network = copy.deepcopy(variant_network("classification-typed-networks-inside"))
    network["networks"][1]["output_exposition"] = {"type": "categorical", "values": ["x", "y", "w"]}
    with pytest.raises(ModelFormatError, match=r"networks\[0\].output_exposition and .*networks\[1\]"):
        create_model(network)


def test_a_network_without_any_output_is_refused():
    network = copy.deepcopy(variant_network("regression-typed-networks-inside"))
    for member in network["networks"]:
        del member["output_exposition"]
    with pytest.raises(ModelFormatError, match="output_exposition: missing here and in every entry"):
        create_model(network)


EXPORTED = [
    "classification-legacy-networks-inside",
    "regression-typed-networks-both",
    "regression-legacy-single",
]


def _onnx(path, matrix):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: matrix})[0]


def test_exports_match_the_reference(models, tmp_path):
    """ONNX (onnxruntime), TFLite (LiteRT), TF.js (Node) and .smbundle (TensorFlow), converted once each."""
    differences = {}
    tfjs_jobs = []
    for name in EXPORTED:
        network, expected = models[name]
        model = create_model(network)
        matrix = model.encode(ROWS)
        paths = {fmt: tmp_path / f"{name}.{fmt}" for fmt in ("onnx", "tflite", "tfjs", "smbundle")}
        for fmt, path in paths.items():  # the graphs that read the encoded matrix, as the reference does
            convert(model, None, path, fmt, self_contained=False if fmt in ("onnx", "tflite") else None)
        differences[(name, "onnx")] = np.abs(_onnx(paths["onnx"], matrix) - expected).max()
        differences[(name, "tflite")] = np.abs(run_litert(paths["tflite"], matrix) - expected).max()
        differences[(name, "smbundle")] = np.abs(create_model(paths["smbundle"])(ROWS) - expected).max()
        tfjs_jobs.append((paths["tfjs"], {"input_matrix": matrix}))
    for name, (got,) in zip(EXPORTED, run_tfjs(tfjs_jobs, tmp_path)):
        differences[(name, "tfjs")] = np.abs(got - models[name][1]).max()
    scale = max(max(1.0, np.abs(models[name][1]).max()) for name in EXPORTED)
    assert max(differences.values()) <= 1e-5 * scale, differences
