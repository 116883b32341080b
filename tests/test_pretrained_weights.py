"""Weights files: written from arrays, read back into a topology, every shape checked."""

from __future__ import annotations

import tracemalloc
import zipfile

import h5py
import numpy as np
import orjson
import pytest

import sensenet.pretrained as pretrained
from sensenet.exceptions import ModelFormatError, ModelNotFoundError, OutputPathError
from sensenet.pretrained import blocks
from sensenet.pretrained.layout import image_classifier, image_metadata
from sensenet.pretrained.weights import WEIGHT_KEYS
from tests.conftest import fixture_path, identity_network, numeric_field
from tests.pretrained_helpers import with_generated_weights


def weighted_layers(network: dict):
    for section, layers in (
        ("image_network", network["image_network"]["layers"]),
        ("layers", network["layers"]),
    ):
        for position, layer in enumerate(layers):
            for key in WEIGHT_KEYS.get(layer["type"], ()):
                if layer.get(key) is not None:
                    yield section, position, key, layer[key]


def assert_same_weights(loaded: dict, expected: dict) -> None:
    pairs = list(zip(weighted_layers(loaded), weighted_layers(expected)))
    assert len(pairs) == len(list(weighted_layers(expected)))
    for (section, position, key, got), (_, _, _, want) in pairs:
        assert isinstance(got, np.ndarray), (section, position, key)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want, err_msg=f"{section}[{position}].{key}")


@pytest.mark.parametrize("name", ["mobilenetv2", "tinyyolov4"])
def test_written_weights_load_back_into_the_topology(name, tmp_path):
    topology = pretrained.get_network(name)
    network = with_generated_weights(topology, seed=3)
    pretrained.write_weights(network, tmp_path / "weights.h5")
    loaded = pretrained.load_weights(topology, tmp_path / "weights.h5")
    assert_same_weights(loaded, network)
    # only the weight keys changed, and the topology given is untouched
    shapes = pretrained.weight_shapes(topology)["image_network"]
    for position, (layer, original) in enumerate(
        zip(loaded["image_network"]["layers"], topology["image_network"]["layers"])
    ):
        assert set(layer) == set(original)
        assert {k: v for k, v in layer.items() if k not in shapes[position]} == {
            k: v for k, v in original.items() if k not in shapes[position]
        }
    assert topology == pretrained.get_network(name)


def test_the_topology_matches_a_real_trained_bigml_tinyyolov4(tmp_path):
    """BigML's own cats-eye detector (weights inline): same weight shapes in the same layer order."""
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (member,) = archive.namelist()
        trained = orjson.loads(archive.read(member))["object"]["deepnet"]["network"]
    topology = pretrained.get_network("tinyyolov4", labels=["eye"])
    trained_shapes = pretrained.weight_shapes(trained)
    assert trained_shapes == pretrained.weight_shapes(topology)
    pretrained.write_weights(trained, tmp_path / "eye.h5")
    loaded = pretrained.load_weights(topology, tmp_path / "eye.h5")
    trained_layers = trained["image_network"]["layers"]
    for position, layer in enumerate(loaded["image_network"]["layers"]):
        for key in trained_shapes["image_network"][position]:
            np.testing.assert_array_equal(layer[key], np.asarray(trained_layers[position][key], np.float32))


def _rewrite(path, section: str, position: int, key: str, data) -> None:
    with h5py.File(path, "r+") as stream:
        group = stream[section][str(position)]
        del group[key]
        group.create_dataset(key, data=data)


@pytest.fixture
def resnet18_file(tmp_path):
    path = tmp_path / "resnet18.h5"
    pretrained.write_weights(with_generated_weights(pretrained.get_network("resnet18")), path)
    return path


def test_a_wrong_shape_is_named_by_layer_and_key(resnet18_file):
    _rewrite(resnet18_file, "image_network", 7, "kernel", np.zeros((3, 3, 64, 32), np.float32))
    with pytest.raises(
        ModelFormatError,
        match=r"image_network.layers\[7\] \(convolution_2d\).kernel: "
        r"expected shape \(3, 3, 64, 64\), got \(3, 3, 64, 32\)",
    ):
        pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)


def test_a_dataset_of_the_wrong_shape_is_refused_before_it_is_read(resnet18_file):
    """A compressed dataset declaring 3.6 GB in a few KB of file is never inflated."""
    with h5py.File(resnet18_file, "r+") as stream:
        group = stream["image_network"]["7"]
        del group["kernel"]
        group.create_dataset(
            "kernel", shape=(30_000, 30_000), dtype="f4", chunks=(1000, 1000), compression="gzip"
        )
    tracemalloc.start()
    try:
        with pytest.raises(
            ModelFormatError, match=r"kernel: expected shape \(3, 3, 64, 64\), got \(30000, 30000\)"
        ):
            pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)
        assert tracemalloc.get_traced_memory()[1] < 200_000_000
    finally:
        tracemalloc.stop()


def test_a_dataset_of_text_is_our_error(resnet18_file):
    _rewrite(resnet18_file, "image_network", 2, "variance", np.array([b"x"] * 64))
    with pytest.raises(
        ModelFormatError, match=r"layers\[2\] \(batch_normalization\).variance: not an array of numbers"
    ):
        pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)


def test_non_finite_weights_are_refused(resnet18_file):
    _rewrite(resnet18_file, "image_network", 2, "variance", np.full(64, np.nan, np.float32))
    with pytest.raises(ModelFormatError, match=r"layers\[2\] \(batch_normalization\).variance: contains NaN"):
        pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)


def test_a_missing_key_is_named(resnet18_file):
    with h5py.File(resnet18_file, "r+") as stream:
        del stream["image_network"]["8"]["beta"]
    with pytest.raises(
        ModelFormatError,
        match=r"image_network.layers\[8\]: file has weights "
        r"\['gamma', 'mean', 'variance'\], the layer needs",
    ):
        pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)


def test_a_missing_layer_is_named(resnet18_file):
    with h5py.File(resnet18_file, "r+") as stream:
        del stream["image_network"]["12"]
    with pytest.raises(
        ModelFormatError, match=r"image_network.layers\[12\] \(batch_normalization\): weights missing"
    ):
        pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)


def test_weights_of_another_network_are_refused(resnet18_file):
    with pytest.raises(ModelFormatError, match="weights are for base_image_network 'resnet18'.*'resnet50'"):
        pretrained.load_weights(pretrained.get_network("resnet50"), resnet18_file)


def test_weights_for_layers_without_weights_are_refused(resnet18_file):
    with h5py.File(resnet18_file, "r+") as stream:
        stream["image_network"].create_group("0")["kernel"] = np.zeros((3, 3, 3, 3), np.float32)
    with pytest.raises(
        ModelFormatError, match=r"image_network layers \['0'\] have weights in the file but none"
    ):
        pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file)


def test_files_that_are_not_weights_are_refused(tmp_path):
    topology = pretrained.get_network("mobilenet")
    with pytest.raises(ModelNotFoundError, match="weights file not found"):
        pretrained.load_weights(topology, tmp_path / "absent.h5")
    (tmp_path / "text.h5").write_text("<html>not found</html>")
    with pytest.raises(ModelFormatError, match="neither a sensenet-weights file nor a Keras"):
        pretrained.load_weights(topology, tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as stream:
        stream["data"] = np.zeros(3)
    with pytest.raises(ModelFormatError, match="neither a sensenet-weights file nor a Keras"):
        pretrained.load_weights(topology, tmp_path / "other.h5")


def test_write_weights_never_overwrites_unasked_and_needs_arrays(tmp_path, resnet18_file):
    before = resnet18_file.read_bytes()
    network = with_generated_weights(pretrained.get_network("resnet18"), seed=9)
    with pytest.raises(OutputPathError, match=r"already exists.*overwrite=True"):
        pretrained.write_weights(network, resnet18_file)
    assert resnet18_file.read_bytes() == before
    broken = with_generated_weights(pretrained.get_network("resnet18"), seed=9)
    broken["layers"][0]["weights"] = np.full_like(broken["layers"][0]["weights"], np.nan)
    with pytest.raises(ModelFormatError, match="contains NaN"):
        pretrained.write_weights(broken, resnet18_file, overwrite=True)
    assert resnet18_file.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["resnet18.h5"]
    pretrained.write_weights(network, resnet18_file, overwrite=True)
    assert_same_weights(pretrained.load_weights(pretrained.get_network("resnet18"), resnet18_file), network)
    with pytest.raises(
        ModelFormatError,
        match=r"image_network.layers\[1\] \(convolution_2d\).kernel: "
        "is the initializer 'glorot_uniform'",
    ):
        pretrained.write_weights(pretrained.get_network("resnet18"), tmp_path / "names.h5")
    assert not (tmp_path / "names.h5").exists()


def small_classifier() -> dict:
    """conv (with bias), BN, relu, depthwise, separable, pool, dense: each weighted layer type."""
    graph = blocks.LayerGraph()
    blocks.conv_bn_act(graph, 4, 3, "relu", bias=True)
    blocks.depthwise_convolution(graph, 3)
    blocks.separable_convolution(graph, 5)
    blocks.global_average_pool(graph)
    metadata = image_metadata("tiny", "0", 8, "centering", "crop", 5)
    return image_classifier(graph, metadata, ["a", "b"])


def test_a_keras_h5_of_the_built_model_is_read_in_layer_order(tmp_path):
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.BatchNormalization(epsilon=0.001),
            keras.layers.ReLU(),
            keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False),
            keras.layers.SeparableConv2D(5, 3, padding="same", use_bias=False),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(1)
    for layer in model.layers:
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    model.save(tmp_path / "model.h5")
    loaded = pretrained.load_weights(small_classifier(), tmp_path / "model.h5")
    layers, readout = loaded["image_network"]["layers"], loaded["layers"]
    expected = {
        (0, "kernel"): model.layers[0].get_weights()[0],
        (0, "bias"): model.layers[0].get_weights()[1],
        **{
            (1, key): value
            for key, value in zip(("gamma", "beta", "mean", "variance"), model.layers[1].get_weights())
        },
        (3, "kernel"): model.layers[3].get_weights()[0],
        (4, "depth_kernel"): model.layers[4].get_weights()[0],
        (4, "point_kernel"): model.layers[4].get_weights()[1],
    }
    for (position, key), value in expected.items():
        np.testing.assert_array_equal(layers[position][key], value, err_msg=f"{position}.{key}")
    np.testing.assert_array_equal(readout[0]["weights"], model.layers[6].get_weights()[0])
    np.testing.assert_array_equal(readout[0]["offset"], model.layers[6].get_weights()[1])


def test_the_spec_reads_dense_weights_as_load_weights_gives_them():
    from sensenet.models.wrappers import create_model

    readout = {
        "type": "dense",
        "weights": np.array([[1.0, 2.0]], np.float32),
        "offset": np.array([0.5, 0.0], np.float32),
        "activation_function": "identity",
    }
    model = create_model(identity_network([numeric_field(0)], 2, layers=[readout]))
    np.testing.assert_allclose(model([3.0]), [[3.5, 6.0]])


def test_topologies_that_do_not_say_the_weight_shapes_are_refused():
    with pytest.raises(ModelFormatError, match="'image_network' holding 'layers' and 'metadata'"):
        pretrained.weight_shapes({"layers": []})
    topology = pretrained.get_network("mobilenet")
    del topology["image_network"]["layers"][1]["number_of_filters"]
    with pytest.raises(
        ModelFormatError,
        match=r"image_network.layers\[1\] \(convolution_2d\): gives 'kernel' "
        "as an initializer name but has no 'number_of_filters'",
    ):
        pretrained.weight_shapes(topology)
    topology = pretrained.get_network("mobilenet")
    topology["image_network"]["layers"][4]["inputs"] = [9]
    with pytest.raises(ModelFormatError, match=r"image_network.layers\[4\].inputs: \[9\] must name earlier"):
        pretrained.weight_shapes(topology)
