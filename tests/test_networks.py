"""Multi-network models, tree-embedding flags, outputs and the wrapper's attributes."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet import ModelFormatError
from sensenet.models.wrappers import create_model
from tests.conftest import load_cases


@pytest.fixture(scope="module")
def cases():
    return load_cases("regression.json.gz")


def _rows(case):
    return [v["input"] for v in case["validation"]]


def _ensemble(base, members):
    network = {key: base[key] for key in ("preprocess", "output_exposition")}
    return {**network, "networks": members, "trees": base.get("trees")}


def test_regression_ensemble_is_the_mean_of_denormalised_outputs(cases):
    first, second = cases[8]["model"], cases[9]["model"]
    model = create_model(
        _ensemble(first, [{"layers": first["layers"]}, {"layers": second["layers"], "trees": False}])
    )
    rows = _rows(cases[8])
    expected = (create_model(first)(rows) + create_model(second)(rows)) / 2
    np.testing.assert_allclose(model(rows), expected, rtol=1e-6, atol=1e-6)
    assert model(rows).shape == (len(rows), 1)


def test_classification_ensemble_uses_trees_only_where_flagged(cases):
    with_trees, plain = cases[5]["model"], cases[2]["model"]
    members = [{"layers": with_trees["layers"], "trees": True}, {"layers": plain["layers"], "trees": False}]
    model = create_model(_ensemble(with_trees, members))
    rows = _rows(cases[5])
    expected = (create_model(with_trees)(rows) + create_model(plain)(rows)) / 2
    np.testing.assert_allclose(model(rows), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model(rows).sum(axis=1), 1.0, rtol=1e-6)


def test_five_network_ensemble_matches_bigml_mean(cases):
    """Members from five fixture models, each checked by BigML: the mean of BigML's outputs."""
    chosen = [2, 3, 5, 6, 2]
    base = cases[5]["model"]
    members = [{"layers": cases[i]["model"]["layers"], "trees": cases[i]["model"]["trees"]} for i in chosen]
    model = create_model(_ensemble(base, members))
    expected = np.mean([[v["output"] for v in cases[i]["validation"]] for i in chosen], axis=0)
    assert np.abs(model(_rows(cases[5])) - expected).max() <= 1e-6


def test_network_asking_for_missing_trees(cases):
    base = dict(cases[2]["model"], trees=None)
    with pytest.raises(ModelFormatError, match="asks for tree embeddings but the model has none"):
        create_model(_ensemble(base, [{"layers": base["layers"], "trees": True}]))


def test_empty_networks_list(cases):
    with pytest.raises(ModelFormatError, match="at least one network"):
        create_model(_ensemble(cases[2]["model"], []))


def test_regression_normalize_skips_denormalising(cases):
    network = cases[8]["model"]
    rows = _rows(cases[8])
    normalised = create_model(network, {"regression_normalize": True})(rows)
    exposition = network["output_exposition"]
    denormalised = normalised * exposition["stdev"] + exposition["mean"]
    np.testing.assert_allclose(denormalised, create_model(network)(rows), rtol=1e-6, atol=1e-6)


def test_wrapper_attributes_like_the_seed(cases):
    network = cases[2]["model"]
    model = create_model(network)
    assert model._classes == network["output_exposition"]["values"]
    assert model._preprocessors == network["preprocess"]
    keras_model = model._model
    assert keras_model.output_shape == (None, len(model._classes))
    assert create_model(cases[8]["model"])._classes is None


def test_keras_model_predicts_like_the_wrapper(cases):
    model = create_model(cases[1]["model"])
    rows = _rows(cases[1])
    matrix = model.encode(rows)
    np.testing.assert_allclose(model._model(matrix).numpy(), model(rows), rtol=1e-6, atol=1e-6)
