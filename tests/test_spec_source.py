"""Every form a user may hold a deepnet in, and the errors for forms we cannot read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from sensenet import ModelFormatError, ModelNotFoundError
from sensenet.models.wrappers import create_model
from tests.conftest import load_cases

ROW = [0.0, "something", 0.5692038748222122, 42, 0.5692038748222122, 2, "class0"]


@pytest.fixture(scope="module")
def network():
    return load_cases("regression.json.gz")[0]["model"]


@pytest.fixture(scope="module")
def expected(network):
    return create_model(network)(ROW)


def _forms(network, tmp_path: Path):
    deepnet = {"network": network, "input_fields": ["000000"]}
    resource = {"resource": "deepnet/0123", "code": 200, "object": {"deepnet": deepnet}}
    plain = tmp_path / "model.json"
    plain.write_text(json.dumps(resource))
    zipped = tmp_path / "model.json.gz"
    zipped.write_bytes(gzip.compress(json.dumps(network).encode()))
    return {
        "resource": resource,
        "deepnet key": {"deepnet": deepnet},
        "deepnet dict": deepnet,
        "network": network,
        "json path": str(plain),
        "gz path": str(zipped),
        "pathlib": plain,
    }


def test_every_accepted_form_predicts_the_same(network, expected, tmp_path):
    for name, form in _forms(network, tmp_path).items():
        got = create_model(form)(ROW)
        assert np.array_equal(got, expected), name


@pytest.mark.parametrize("bad", [42, None, ["layers"], {"foo": 1}, {"object": {"name": "x"}}])
def test_unrecognised_forms_name_the_accepted_ones(bad):
    with pytest.raises(ModelFormatError, match="deepnet resource"):
        create_model(bad)


def test_deepnet_without_network_says_it_is_unfinished():
    with pytest.raises(ModelFormatError, match="no 'network'"):
        create_model({"deepnet": {"name": "still training"}})


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        create_model(str(tmp_path / "absent.json"))


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"layers": [')
    with pytest.raises(ModelFormatError, match="broken.json: not valid JSON"):
        create_model(str(path))


def test_truncated_gzip(network, tmp_path):
    data = gzip.compress(json.dumps(network).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="corrupt or truncated gzip"):
        create_model(str(path))
