"""Every BigML fixture case, through the public API and every engine, against BigML's own outputs."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet.models.wrappers import create_model
from tests.conftest import dense, identity_network, load_cases

TOLERANCE = 1e-6
ENGINES = ("keras", "onnx")

CASES = [
    (name, i)
    for name, count in (("regression.json.gz", 10), ("legacy_regression.json.gz", 7))
    for i in range(count)
]


@pytest.fixture(scope="module")
def fixture_files():
    return {name: load_cases(name) for name in ("regression.json.gz", "legacy_regression.json.gz")}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name,index", CASES)
def test_case_matches_bigml(fixture_files, name, index, engine):
    case = fixture_files[name][index]
    model = create_model(case["model"], {"engine": engine})
    rows = [v["input"] for v in case["validation"]]
    expected = np.array([v["output"] for v in case["validation"]], dtype=np.float64)

    batch = model(rows)
    assert batch.dtype == np.float32
    assert batch.shape == expected.shape
    assert np.abs(batch - expected).max() <= TOLERANCE

    one_at_a_time = np.concatenate([model(row) for row in rows])
    assert np.abs(one_at_a_time - expected).max() <= TOLERANCE


@pytest.mark.parametrize("name,index", CASES)
def test_engines_agree(fixture_files, name, index):
    case = fixture_files[name][index]
    rows = [v["input"] for v in case["validation"]]
    keras_out, onnx_out = (create_model(case["model"], {"engine": engine})(rows) for engine in ENGINES)
    assert np.abs(keras_out - onnx_out).max() <= TOLERANCE


def test_fixture_files_have_the_cases_we_parametrize(fixture_files):
    assert [len(fixture_files[name]) for name in ("regression.json.gz", "legacy_regression.json.gz")] == [
        10,
        7,
    ]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", range(6))
def test_tree_embedding_matches_bigml(index, engine):
    """A network whose layer is the identity exposes [tree features, preprocessed input]."""
    case = load_cases("embedding.json.gz")[index]
    width = len(case["with_trees"][0])
    model = create_model(
        identity_network(case["preprocess"], width, layers=[dense(np.eye(width))], trees=case["trees"]),
        {"engine": engine},
    )
    got = model(case["input_data"])
    assert np.abs(got - np.array(case["with_trees"])).max() <= TOLERANCE

    features = create_model(
        identity_network(case["preprocess"], len(case["without_trees"][0])), {"engine": engine}
    )
    assert np.abs(features(case["input_data"]) - np.array(case["without_trees"])).max() <= TOLERANCE


def test_embedding_file_has_six_cases():
    assert len(load_cases("embedding.json.gz")) == 6
