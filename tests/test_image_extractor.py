"""Pretrained topologies (initializer weights) build, predict and extract features of the right size."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from sensenet import pretrained
from sensenet.exceptions import InputDataError, ModelFormatError, UnsupportedError
from sensenet.models.wrappers import create_image_feature_extractor, create_model
from tests.conftest import FIXTURES, dense, fixture_path, numeric_field, regression_network
from tests.pretrained_helpers import Reply, weights_server, with_generated_weights


@pytest.fixture(scope="module")
def topologies():
    with gzip.open(fixture_path("pretrained_topologies.json.gz")) as stream:
        return json.load(stream)


@pytest.fixture(scope="module")
def mobilenetv2(topologies):
    return create_image_feature_extractor(topologies["mobilenetv2"], {"image_path_prefix": str(FIXTURES)})


def test_mobilenetv2_extracts_1280_features(mobilenetv2):
    features = mobilenetv2("images/dog.jpg")
    assert features.shape == (1, 1280)
    assert features.dtype == np.float32
    assert np.all(np.isfinite(features))
    assert mobilenetv2.feature_width == 1280


def test_a_batch_extracts_like_single_images(mobilenetv2):
    images = np.random.default_rng(3).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    batch = mobilenetv2(images)
    assert batch.shape == (2, 1280)
    singles = np.concatenate([mobilenetv2(image) for image in images])
    assert np.abs(batch - singles).max() <= 1e-5


def test_resnet18_extracts_512_features(topologies):
    extractor = create_image_feature_extractor(topologies["resnet18"], None)
    assert extractor(np.zeros((224, 224, 3), np.uint8)).shape == (1, 512)


def test_single_image_model_predicts_from_an_image_alone(topologies):
    model = create_model(topologies["mobilenetv2"], {"image_path_prefix": str(FIXTURES / "images")})
    probabilities = model("dog.jpg")
    assert probabilities.shape == (1, 1000)
    assert abs(float(probabilities.sum()) - 1.0) < 1e-5
    assert np.abs(model(["dog.jpg"]) - probabilities).max() == 0
    images = np.random.default_rng(5).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    batch = model(images)
    assert batch.shape == (2, 1000)
    assert np.abs(batch[1:] - model(images[1])).max() <= 1e-5


def test_detectors_and_numeric_models_have_no_feature_vector(topologies):
    with pytest.raises(UnsupportedError, match="feature vector"):
        create_image_feature_extractor(topologies["tinyyolov4"], None)
    numeric = regression_network([dense([[1.0]])], [numeric_field(0)])
    with pytest.raises(ModelFormatError, match="no image fields"):
        create_image_feature_extractor(numeric, None)


def test_extractor_refuses_what_is_not_an_image(mobilenetv2):
    with pytest.raises(InputDataError, match="expected an image"):
        mobilenetv2(3.5)
    with pytest.raises(InputDataError, match="expected an image"):
        mobilenetv2([])


def test_a_pretrained_name_extracts_with_weights_from_the_cache(tmp_path, monkeypatch):
    network = with_generated_weights(pretrained.get_network("resnet18"), seed=5)
    served = tmp_path / "served.h5"
    pretrained.write_weights(network, served)
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "cache"))
    image = np.random.default_rng(4).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    with weights_server() as server:
        filename = pretrained.weights_path("resnet18").name
        server.replies[f"/weights/{filename}"] = Reply(served.read_bytes())
        monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, server.url)
        extractor = create_image_feature_extractor("resnet18", None)
        assert server.requests == [f"/weights/{filename}"]
    features = extractor(image)
    assert features.shape == (1, 512)
    inline = create_image_feature_extractor(network, None)(image)
    assert np.abs(features - inline).max() <= 1e-5


def test_a_pretrained_name_without_weights_downloads_nothing(monkeypatch):
    with weights_server() as server:
        monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, server.url)
        extractor = create_image_feature_extractor("mobilenetv2", {"load_pretrained_weights": False})
        assert server.requests == []
    assert extractor.feature_width == 1280
