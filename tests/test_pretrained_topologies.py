"""The pretrained topologies defined in code equal BigML's, layer for layer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import sensenet.pretrained as pretrained
from sensenet.examples import EXAMPLES, example_path
from sensenet.exceptions import ModelFormatError
from tests.conftest import fixture_path
from tests.pretrained_helpers import Reply, weights_server, with_generated_weights

PACKAGE = Path(pretrained.__file__).resolve().parent.parent
CLASSIFIERS = ["mobilenet", "mobilenetv2", "resnet18", "resnet50", "xception"]

# Parameter counts published for these architectures (Keras Applications, torchvision plus its
# 9,600 batch-norm statistics, Darknet's YOLOv4 configs), counted here from `weight_shapes`.
PUBLISHED_PARAMETERS = {
    "mobilenet": 4_253_864,
    "mobilenetv2": 3_538_984,
    "resnet18": 11_689_512 + 9_600,
    "resnet50": 25_636_712,
    "xception": 22_910_480,
    "tinyyolov4": 6_062_814,
    "yolov4": 64_429_405,
}


@pytest.fixture(scope="module")
def reference() -> dict:
    with gzip.open(fixture_path("pretrained_topologies.json.gz")) as stream:
        return json.load(stream)


def first_difference(ours: list, theirs: list) -> str:
    for position, (mine, bigml) in enumerate(zip(ours, theirs)):
        if mine != bigml:
            return f"layer {position}: ours {mine} != BigML's {bigml}"
    return f"{len(ours)} layers, BigML has {len(theirs)}"


def test_the_registry_holds_the_seven_networks(reference):
    assert sorted(pretrained.NETWORKS) == sorted(reference)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_topology_equals_bigml_layer_for_layer(name, reference):
    ours, theirs = pretrained.get_network(name), reference[name]
    assert set(ours) == set(theirs)
    ours_layers, their_layers = ours["image_network"]["layers"], theirs["image_network"]["layers"]
    assert ours_layers == their_layers, first_difference(ours_layers, their_layers)
    assert ours["image_network"]["metadata"] == theirs["image_network"]["metadata"]
    assert set(ours["image_network"]) == set(theirs["image_network"])
    assert ours["layers"] == theirs["layers"], first_difference(ours["layers"], theirs["layers"])
    assert ours["preprocess"] == theirs["preprocess"]
    assert ours["trees"] == theirs["trees"]
    ours_exposition, their_exposition = ours["output_exposition"], theirs["output_exposition"]
    assert set(ours_exposition) == set(their_exposition)
    assert ours_exposition["type"] == their_exposition["type"]
    assert len(ours_exposition["values"]) == len(their_exposition["values"])
    assert len(set(ours_exposition["values"])) == len(ours_exposition["values"])


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_weight_shapes_count_the_published_parameters(name):
    shapes = pretrained.weight_shapes(pretrained.get_network(name))
    counted = sum(
        int(np.prod(shape)) for section in shapes.values() for layer in section for shape in layer.values()
    )
    assert counted == PUBLISHED_PARAMETERS[name]


def test_labels_set_the_class_count_of_classifiers_and_detectors():
    classifier = pretrained.get_network("mobilenetv2", labels=["cat", "dog", "eye"])
    assert classifier["layers"][0]["number_of_nodes"] == 3
    assert classifier["output_exposition"]["values"] == ["cat", "dog", "eye"]
    detector = pretrained.get_network("yolov4", labels=["eye"])
    heads = [output["input"] for output in detector["image_network"]["metadata"]["outputs"]]
    # per anchor (3 per head): box (4) + objectness (1) + one class
    assert [detector["image_network"]["layers"][h]["number_of_filters"] for h in heads] == [18, 18, 18]
    assert detector["output_exposition"] == {"type": "bounding_box", "values": ["eye"]}


def test_placeholder_labels_are_numbered_by_default():
    values = pretrained.get_network("resnet50")["output_exposition"]["values"]
    assert values[0] == "imagenet_000" and values[-1] == "imagenet_999"
    assert pretrained.get_network("tinyyolov4")["output_exposition"]["values"][79] == "coco_79"


def test_each_call_builds_a_fresh_dict():
    first = pretrained.get_network("resnet18")
    first["image_network"]["layers"][1]["number_of_filters"] = 1
    first["image_network"]["metadata"]["version"] = "changed"
    second = pretrained.get_network("resnet18")
    assert second["image_network"]["layers"][1]["number_of_filters"] == 64
    assert second["image_network"]["metadata"]["version"] == "cb5ddcb5"


def test_an_unknown_network_is_refused_naming_the_known_ones():
    with pytest.raises(ModelFormatError, match="unknown pretrained network 'resnet101'.*mobilenetv2"):
        pretrained.get_network("resnet101")


def test_the_package_ships_no_topology_data():
    files = [path for path in PACKAGE.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    assert files, PACKAGE
    examples = {example_path(name).resolve() for name in EXAMPLES}  # small models made by tools/
    assert [path for path in files if path.suffix not in (".py", ".typed") and path not in examples] == []


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_predicts_with_generated_weights_loaded_through_the_cache(name, tmp_path, monkeypatch):
    pytest.importorskip("sensenet.spec.image_layers", reason="the spec has no image layers in this branch")
    from sensenet.models.wrappers import create_model

    network = with_generated_weights(pretrained.get_network(name), seed=11)
    served = tmp_path / "served.h5"
    pretrained.write_weights(network, served)
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "cache"))
    image = str(fixture_path("images/dog.jpg"))
    with weights_server() as server:
        filename = pretrained.weights_path(name).name
        server.replies[f"/weights/{filename}"] = Reply(served.read_bytes())
        monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, server.url)
        model = create_model(pretrained.get_network(name), {"load_pretrained_weights": True})
        assert server.requests == [f"/weights/{filename}"]
    probabilities = np.asarray(model(image))
    assert probabilities.shape == (1, 1000)
    assert np.all(probabilities >= 0) and abs(float(probabilities.sum()) - 1.0) < 1e-5
    assert np.ptp(probabilities) > 1e-6  # the generated weights tell classes apart
    if name == "mobilenetv2":  # the weights went through file and cache unchanged
        np.testing.assert_array_equal(probabilities, np.asarray(create_model(network)(image)))
