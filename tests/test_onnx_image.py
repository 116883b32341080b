"""The ONNX engine on image networks: every layer type and block, wiring and models, against Keras."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import pytest
from PIL import Image

from sensenet.detection.yolo import decode, non_max_suppression
from sensenet.engines.keras.backend import keras
from sensenet.engines.keras.deepnet import KerasEngine
from sensenet.engines.keras.image import ImageStandardization, graph_outputs, image_feature_model
from sensenet.engines.onnx.deepnet import deepnet_graph
from sensenet.engines.onnx.engine import OnnxEngine, OnnxImageNetwork
from sensenet.exceptions import InputDataError, UnsupportedError
from sensenet.inputs import load_image, rescale
from sensenet.models.wrappers import create_model
from sensenet.settings import Settings
from sensenet.spec import parse_network
from sensenet.spec.detection import parse_yolo_heads
from sensenet.spec.fields import Fields
from sensenet.spec.image_layers import STANDARDIZERS, parse_image_network
from sensenet.spec.layers import ACTIVATION_FUNCTIONS
from tests.conftest import FIXTURES, REPO_ROOT, dense, fixture_path, load_cases
from tests.pretrained_helpers import with_generated_weights

TOLERANCE = 1e-5
RNG = np.random.default_rng(11)
PHOTO = "images/dog.jpg"


def assert_close(got: np.ndarray, want, tolerance: float = TOLERANCE) -> None:
    """Absolute difference within `tolerance`, relative to the value where it exceeds 1."""
    want = np.asarray(want)
    assert got.shape == want.shape
    excess = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert excess.max() <= tolerance, f"max scaled difference {excess.max():.3g}"


def array(*shape, scale: float = 0.5) -> list:
    return RNG.normal(0, scale, shape).tolist()


def pixels(rows: int = 2, height: int = 7, width: int = 9) -> np.ndarray:
    return RNG.uniform(0, 255, (rows, height, width, 3)).astype(np.float32)


def image_network(
    layers: list, height: int = 7, width: int = 9, loading_method="normalizing", **meta
) -> dict:
    return {
        "metadata": {"input_image_shape": [width, height, 3], "loading_method": loading_method, **meta},
        "layers": layers,
    }


def network_of(layers: list, height: int = 7, width: int = 9, **meta):
    return parse_image_network(Fields(image_network(layers, height, width, **meta), "image_network"))


def conv(filters: int, in_channels: int = 3, size=(3, 3), **extra) -> dict:
    return {
        "type": "convolution_2d",
        "kernel": array(*size, in_channels, filters),
        "bias": array(filters),
        "strides": [1, 1],
        "padding": "same",
        "activation_function": "identity",
        **extra,
    }


def depthwise(channels: int = 3, multiplier: int = 1, size=(3, 3), **extra) -> dict:
    return {
        "type": "depthwise_convolution_2d",
        "kernel": array(*size, channels, multiplier),
        "bias": array(channels * multiplier),
        "depth_multiplier": multiplier,
        "padding": "same",
        **extra,
    }


def separable(filters: int, channels: int = 3, multiplier: int = 1, **extra) -> dict:
    return {
        "type": "separable_convolution_2d",
        "depth_kernel": array(3, 3, channels, multiplier),
        "point_kernel": array(1, 1, channels * multiplier, filters),
        "bias": array(filters),
        "depth_multiplier": multiplier,
        "padding": "same",
        **extra,
    }


def batch_norm(channels: int) -> dict:
    return {
        "type": "batch_normalization",
        "gamma": array(channels),
        "beta": array(channels),
        "mean": array(channels),
        "variance": (np.abs(RNG.normal(size=channels)) + 0.1).tolist(),
        "epsilon": 0.001,
    }


def block(kind: str, first: str, second: str, activation: str = "relu") -> dict:
    return {
        "type": kind,
        first: [conv(4, activation="relu"), batch_norm(4), conv(3, 4, size=(1, 1))],
        second: [{"type": "activation", "activation_function": "tanh"}],
        "activation_function": activation,
    }


def _pool(kind: str, **extra) -> dict:
    return {"type": kind, "pool_size": [3, 3], "strides": [2, 2], "padding": "same", **extra}


LAYER_CASES = {
    **{
        f"conv_{padding}_{s[0]}x{s[1]}": [
            conv(5, strides=list(s), padding=padding, activation_function="relu")
        ]
        for padding in ("same", "valid")
        for s in ((1, 1), (2, 2), (1, 2), (3, 3))
    },
    "conv_4x4_kernel_same_stride_2": [conv(4, size=(4, 4), strides=[2, 2])],
    "conv_2x5_kernel_same": [conv(4, size=(2, 5))],
    "conv_dilated_same": [conv(4, dilation_rate=[2, 2])],
    "conv_dilated_valid": [conv(4, dilation_rate=[2, 1], padding="valid")],
    "conv_without_bias": [{**conv(4), "bias": None}],
    **{
        f"depthwise_{padding}_{stride}_x{multiplier}": [
            depthwise(3, multiplier, strides=[stride, stride], padding=padding, activation_function="relu6")
        ]
        for padding in ("same", "valid")
        for stride in (1, 2)
        for multiplier in (1, 2)
    },
    "depthwise_dilated": [depthwise(3, 2, dilation_rate=[2, 2])],
    **{
        f"separable_{padding}_{stride}": [separable(5, 3, 2, strides=[stride, stride], padding=padding)]
        for padding in ("same", "valid")
        for stride in (1, 2)
    },
    **{
        f"{kind}_{padding}_{size}_{stride}": [
            conv(4),
            {"type": kind, "pool_size": [size, size], "strides": [stride, stride], "padding": padding},
        ]
        for kind in ("max_pool_2d", "average_pool_2d")
        for padding in ("same", "valid")
        for size, stride in ((2, 2), (3, 2), (3, 1), (2, 3))
    },
    "global_average_pool": [conv(4), {"type": "global_average_pool_2d"}],
    "global_max_pool": [conv(4), {"type": "global_max_pool_2d"}],
    "padding_2d": [{"type": "padding_2d", "padding": [[1, 2], [0, 3]]}, conv(4, padding="valid")],
    "upsampling_nearest": [conv(4), {"type": "upsampling_2d", "size": [2, 3], "method": "nearest"}],
    "upsampling_bilinear": [conv(4), {"type": "upsampling_2d", "size": [2, 2], "method": "bilinear"}],
    "upsampling_bilinear_3x2": [conv(4), {"type": "upsampling_2d", "size": [3, 2], "method": "bilinear"}],
    "concatenate_add_split": [
        conv(4),
        {"type": "split_channels", "number_of_splits": 2, "group_index": 1, "inputs": [0]},
        conv(2, 4, size=(1, 1), inputs=[0]),
        {"type": "add", "inputs": [1, 2, 1]},
        {"type": "concatenate", "inputs": [3, 0, 1]},
    ],
    "batch_norm_on_channels": [conv(4), batch_norm(4)],
    "flatten_is_channels_last": [conv(4, strides=[2, 2]), {"type": "flatten"}],
    "dense_readout_inside": [
        conv(4),
        {"type": "global_average_pool_2d"},
        batch_norm(4),
        dense(RNG.normal(size=(4, 3)), RNG.normal(size=3), "sigmoid"),
        {"type": "dropout", "dropout_type": "zero"},
    ],
    **{
        f"{kind}": [block(kind, first, second)]
        for kind, (first, second) in {
            "resnet_block": ("convolution_path", "identity_path"),
            "resnet18_block": ("convolution_path", "identity_path"),
            "darknet_residual_block": ("convolution_path", "identity_path"),
            "mobilenet_residual_block": ("convolution_path", "identity_path"),
            "xception_block": ("separable_convolution_path", "single_convolution_path"),
        }.items()
    },
    "block_with_empty_identity_path": [
        {"type": "resnet18_block", "convolution_path": [conv(3)], "identity_path": []},
    ],
    "block_then_wired_nodes": [
        conv(3),
        {"type": "resnet_block", "convolution_path": [conv(3)], "identity_path": [], "inputs": [0]},
        {"type": "concatenate", "inputs": [0, 1]},
        separable(4, 6),
    ],
}


def _onnx_and_keras(network, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (got,) = OnnxImageNetwork(network, [len(network.nodes) - 1])(x)
    return got, image_feature_model(network)(x).numpy()


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_matches_keras(name):
    network = network_of(LAYER_CASES[name])
    got, want = _onnx_and_keras(network, pixels())
    assert got.shape == (2, *network.output_shape)
    assert_close(got, want)


@pytest.mark.parametrize("function", sorted(ACTIVATION_FUNCTIONS))
def test_activation_on_an_image_matches_keras(function):
    """Softmax included: it runs over the channels, not over the last axis of an NCHW tensor.

    `exponential` runs once: exp(exp(x)) turns float32's last bit in either engine into 2e-5."""
    inner = "identity" if function == "exponential" else function
    network = network_of(
        [conv(4, activation_function=inner), {"type": "activation", "activation_function": function}]
    )
    got, want = _onnx_and_keras(network, pixels())
    assert_close(got, want)


@pytest.mark.parametrize("method", sorted(STANDARDIZERS))
def test_standardisation_matches_keras(method):
    network = network_of([{"type": "activation", "activation_function": "identity"}], loading_method=method)
    got, want = _onnx_and_keras(network, pixels())
    assert_close(got, want)


def test_mean_image_then_channel_reversal_match_keras():
    mean_image = RNG.uniform(0, 255, (7, 9, 3)).tolist()
    for method in ("normalizing", "channelwise_centering"):
        network = network_of([conv(2)], loading_method=method, mean_image=mean_image)
        got, want = _onnx_and_keras(network, pixels())
        assert_close(got, want)


def keras_outputs(network, nodes: list[int], x: np.ndarray) -> list[np.ndarray]:
    image = keras.Input((network.metadata.height, network.metadata.width, 3))
    outputs = graph_outputs(network.nodes, ImageStandardization(network.metadata)(image))
    results = keras.Model(image, [outputs[i] for i in nodes])(x)
    return [y.numpy() for y in (results if isinstance(results, (list, tuple)) else [results])]


def test_raw_outputs_of_several_nodes_are_channels_last():
    """What a detector needs: the raw outputs of chosen nodes (here two image nodes and a flat one)."""
    layers = LAYER_CASES["concatenate_add_split"] + [{"type": "global_max_pool_2d", "inputs": [0]}]
    network = network_of(layers)
    x = pixels(3)
    got = OnnxImageNetwork(network, [4, 1, 5])(x)
    assert [g.shape for g in got] == [(3, 7, 9, 8), (3, 7, 9, 2), (3, 4)]
    for g, w in zip(got, keras_outputs(network, [4, 1, 5], x)):
        assert_close(g, w)


def test_raw_outputs_refuse_nodes_the_network_lacks():
    network = network_of([conv(2)])
    for nodes in ([1], [], [-1]):
        with pytest.raises(InputDataError, match="node positions from 0 to 0"):
            OnnxImageNetwork(network, nodes)


def image_model(preprocess: list, image_layers: list, readout: list, classes: int, **meta) -> dict:
    return {
        "preprocess": preprocess,
        "image_network": image_network(image_layers, **meta),
        "layers": readout,
        "output_exposition": {"type": "categorical", "values": [f"c{i}" for i in range(classes)]},
    }


def _engines(network: dict, settings: dict | None = None) -> tuple[OnnxEngine, KerasEngine]:
    spec = parse_network(network)
    settings_object = Settings(**(settings or {}))
    return OnnxEngine(spec, settings_object), KerasEngine(spec, settings_object)


def test_image_features_sit_in_preprocess_order_between_numeric_and_categorical_fields():
    """numeric, image A, categorical, numeric, image B, categorical: an identity readout shows the order."""
    preprocess = [
        {"type": "numeric", "index": 0, "mean": 1.0, "stdev": 2.0},
        {"type": "image", "index": 1},
        {"type": "categorical", "index": 2, "values": ["x", "y", "z"]},
        {"type": "numeric", "index": 3, "mean": -1.0, "stdev": 0.5},
        {"type": "image", "index": 4},
        {"type": "categorical", "index": 5, "values": ["u", "v"]},
    ]
    image_layers = [conv(2, strides=[2, 2]), {"type": "flatten"}]  # 4 x 5 x 2 = 40 features an image
    width = 1 + 40 + 3 + 1 + 40 + 2
    onnx_engine, keras_engine = _engines(image_model(preprocess, image_layers, [dense(np.eye(width))], width))
    matrix = np.array(
        [[5.0, 1.0, 0.5, 0.0], [np.nan, 2.0, -3.0, 1.0], [0.0, np.nan, 1.0, np.nan]], np.float32
    )
    images = [pixels(3), pixels(3)]
    got = onnx_engine(matrix, images)
    assert got.shape == (3, width)
    assert_close(got, keras_engine(matrix, images))
    features = image_feature_model(network_of(image_layers))
    a, b = (features(x).numpy() for x in images)
    assert_close(got[:, 1:41], a)
    assert_close(got[:, 45:85], b)
    assert_close(got[:, 41:44], [[0, 1, 0], [0, 0, 1], [0, 0, 0]])


def test_an_image_network_ending_unflattened_feeds_its_pixels_in_nhwc_order():
    """No flatten or pooling at the end: both engines flatten the conv output as (height, width, channels)."""
    preprocess = [{"type": "numeric", "index": 0, "mean": 0.0, "stdev": 1.0}, {"type": "image", "index": 1}]
    image_layers = [conv(2, strides=[2, 2])]  # 4 x 5 x 2
    width = 1 + 40
    onnx_engine, keras_engine = _engines(image_model(preprocess, image_layers, [dense(np.eye(width))], width))
    matrix, images = np.array([[1.5], [-2.0]], np.float32), [pixels(2)]
    got = onnx_engine(matrix, images)
    assert_close(got, keras_engine(matrix, images))
    raw = image_feature_model(network_of(image_layers))(images[0]).numpy()
    assert_close(got[:, 1:], raw.reshape(2, -1))


def test_multi_image_model_with_numeric_and_categorical_fields_matches_keras():
    """Two images share a small CNN; the readout is a trained-looking dense net with softmax."""
    preprocess = [
        {"type": "categorical", "index": 0, "values": ["a", "b", "c"]},
        {"type": "image", "index": 1},
        {"type": "numeric", "index": 2, "mean": 10.0, "stdev": 3.0},
        {"type": "image", "index": 3},
    ]
    image_layers = [
        conv(8, strides=[2, 2], activation_function="relu"),
        batch_norm(8),
        depthwise(8, 1, activation_function="relu6"),
        {"type": "max_pool_2d", "pool_size": [2, 2], "padding": "same"},
        conv(6, 8, size=(1, 1), activation_function="swish"),
        {"type": "global_average_pool_2d"},
    ]
    width = 3 + 6 + 1 + 6
    readout = [
        dense(RNG.normal(size=(width, 10)), RNG.normal(size=10), "relu"),
        dense(RNG.normal(size=(10, 4)), RNG.normal(size=4), "softmax"),
    ]
    onnx_engine, keras_engine = _engines(image_model(preprocess, image_layers, readout, 4))
    matrix = np.array([[0, 11.0], [2, 7.5], [np.nan, np.nan], [1, 10.0]], np.float32)
    images = [pixels(4), pixels(4)]
    got = onnx_engine(matrix, images)
    assert_close(got, keras_engine(matrix, images))
    assert np.allclose(got.sum(axis=1), 1, atol=1e-6)
    one_row = np.concatenate(
        [onnx_engine(matrix[i : i + 1], [x[i : i + 1] for x in images]) for i in range(4)]
    )
    assert_close(one_row, got)


def test_image_only_regression_with_trees_and_ensemble_matches_keras():
    """Tree embeddings read image features; one network of the ensemble uses them."""
    image_layers = [conv(3, strides=[2, 2]), {"type": "global_max_pool_2d"}]
    images = [pixels(16)]
    features = image_feature_model(network_of(image_layers))(images[0]).numpy()
    first, second = (float(np.median(features[:, i])) for i in (0, 2))  # rows go down every branch
    leaf = lambda *values: [list(values), None]  # noqa: E731
    tree = [0, first, [2, second, leaf(1.0, -1.0), leaf(2.0, 0.5)], leaf(-3.0, 0.25)]
    model = {
        "preprocess": [{"type": "image", "index": 0}],
        "image_network": image_network(image_layers),
        "trees": [[[0, 3], [tree, leaf(0.5, 0.5)]]],
        "networks": [
            {"layers": [dense(RNG.normal(size=(5, 1)), [0.5])], "trees": True},
            {"layers": [dense(RNG.normal(size=(3, 2)), activation="tanh"), dense(RNG.normal(size=(2, 1)))]},
        ],
        "output_exposition": {"type": "numeric", "mean": 3.0, "stdev": 2.0},
    }
    onnx_engine, keras_engine = _engines(model)
    unused = np.zeros((16, 0), np.float32)
    assert_close(onnx_engine(unused, images), keras_engine(unused, images))
    graph = deepnet_graph(parse_network(model), Settings())
    assert [i.name for i in graph.graph.input] == ["image_0"]


def test_engine_checks_the_number_of_pixel_batches():
    preprocess = [{"type": "image", "index": 0}, {"type": "image", "index": 1}]
    onnx_engine, _ = _engines(
        image_model(preprocess, [{"type": "global_max_pool_2d"}], [dense(np.eye(6))], 6)
    )
    with pytest.raises(InputDataError, match="2 image fields, but 1 pixel batches"):
        onnx_engine(np.zeros((1, 0), np.float32), [pixels(1)])


def test_detector_has_no_readout_to_build():
    model = image_model(
        [{"type": "image", "index": 0}],
        [conv(12)],  # 2 anchors x (5 + 1 class)
        [],
        1,
        outputs=[{"input": 0, "anchors": [[10, 14], [23, 27]], "strides": 1}],
    )
    model["output_exposition"] = {"type": "bounding_box", "values": ["eye"]}
    spec = parse_network(model)
    with pytest.raises(UnsupportedError, match="object detector"):
        deepnet_graph(spec, Settings())
    (raw,) = OnnxImageNetwork(spec.image_network, spec.image_network.metadata.output_nodes)(pixels(1))
    assert raw.shape == (1, 7, 9, 12)


@pytest.fixture(scope="module")
def topologies() -> dict:
    with gzip.open(fixture_path("pretrained_topologies.json.gz")) as stream:
        return json.load(stream)


def photo(height: int, width: int, name: str = PHOTO) -> np.ndarray:
    """A fixture photo as a (1, height, width, 3) float32 batch (resized by PIL: any pixels will do)."""
    image = Image.open(fixture_path(name)).convert("RGB").resize((width, height))
    return np.asarray(image, np.float32)[np.newaxis]


def test_pretrained_mobilenetv2_matches_keras(topologies):
    """MobileNetV2 as BigML describes it (weights generated from the initializer names), on a photo."""
    spec = parse_network(topologies["mobilenetv2"])
    x = photo(224, 224)
    got, want = _onnx_and_keras(spec.image_network, x)
    assert got.shape == want.shape == (1, 1280)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    onnx_engine, keras_engine = _engines(topologies["mobilenetv2"])
    unused = np.zeros((1, 0), np.float32)
    probabilities, want = onnx_engine(unused, [x]), keras_engine(unused, [x])
    assert probabilities.shape == (1, 1000)
    assert np.abs(probabilities - want).max() <= 1e-4 * np.abs(want).max()


def test_mobilenetv2_with_moderate_weights_from_a_jpeg_path_matches_keras(topologies):
    """Random weights that keep activations near 1 (initializer weights shrink them to 1e-11)."""
    network = with_generated_weights(topologies["mobilenetv2"], seed=3)
    path = str(fixture_path(PHOTO))
    onnx_model, keras_model = (create_model(network, {"engine": name}) for name in ("onnx", "keras"))
    got, want = onnx_model(path), keras_model(path)
    assert got.shape == (1, 1000) and np.ptp(want) > 1e-4
    assert_close(got, want)
    spec = parse_network(network)
    features, want = _onnx_and_keras(spec.image_network, onnx_model.encode_inputs(path)[1][0])
    assert np.abs(want).max() > 0.5
    assert_close(features, want)


@pytest.mark.parametrize("name", ["mobilenet", "resnet18", "tinyyolov4"])
def test_pretrained_topology_matches_keras(topologies, name):
    """Padding, max pooling, split channels, concatenation, upsampling in real layouts; YOLO heads raw."""
    network = parse_network(topologies[name]).image_network
    nodes = list(network.metadata.output_nodes) or [len(network.nodes) - 1]
    x = photo(network.metadata.height, network.metadata.width)
    for got, want in zip(OnnxImageNetwork(network, nodes)(x), keras_outputs(network, nodes, x)):
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()


def test_trained_detector_heads_match_keras():
    """BigML's TinyYOLOv4 eye detector (trained weights): the raw heads sensenet.detection.yolo decodes."""
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        resource = json.loads(archive.read("imgs_deepnet.json"))
    spec = parse_network(resource["object"]["deepnet"]["network"])
    network = spec.image_network
    with pytest.raises(UnsupportedError, match="object detector"):
        deepnet_graph(spec, Settings())
    x = photo(network.metadata.height, network.metadata.width, "detection/pexels-pixabay-33358.jpg")
    heads = network.metadata.output_nodes
    got = OnnxImageNetwork(network, heads)(x)
    want = keras_outputs(network, heads, x)
    assert [g.shape for g in got] == [w.shape for w in want] == [(1, 16, 16, 18), (1, 8, 8, 18)]
    for g, w in zip(got, want):
        assert_close(g, w)


def test_detector_heads_decode_to_bigml_scores():
    """The photo padded as BigML does, heads decoded by sensenet.detection.yolo: BigML's two eyes."""
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        resource = json.loads(archive.read("imgs_deepnet.json"))
    network_fields = resource["object"]["deepnet"]["network"]
    spec = parse_network(network_fields)
    meta = spec.image_network.metadata
    heads = parse_yolo_heads(
        Fields(network_fields["image_network"]["metadata"], "metadata"), len(spec.image_network.nodes)
    )
    image = load_image(str(fixture_path("detection/pexels-pixabay-33358.jpg")))
    x = rescale(image, meta.height, meta.width, meta.rescale_type).astype(np.float32)[np.newaxis]
    raw = OnnxImageNetwork(spec.image_network, [head.layer for head in heads])(x)
    found = non_max_suppression(decode([r[0] for r in raw], heads, 1), 0.2, 0.7, 100)
    assert np.abs(found.scores - [0.79633, 0.74563]).max() <= TOLERANCE


def test_image_fixture_through_create_model_matches_bigml():
    """image_regression.json.gz: two image fields and a categorical one, images given as paths."""
    case = load_cases("image_regression.json.gz")[0]
    prefix = "tests/data/"  # the fixture's paths start here; the fixtures directory holds images/
    rows = [
        [v[len(prefix) :] if isinstance(v, str) and v.startswith(prefix) else v for v in item["input"]]
        for item in case["validation"]
    ]
    expected = np.array([item["output"] for item in case["validation"]])
    settings = {"engine": "onnx", "image_path_prefix": str(FIXTURES)}
    model = create_model(case["model"], settings)
    assert model._engine.get().name == "onnx"
    got = model(rows)
    assert got.shape == expected.shape == (32, 2)
    assert np.abs(got - expected).max() <= TOLERANCE
    one_at_a_time = np.concatenate([model(row) for row in rows[:4]])
    assert np.abs(one_at_a_time - expected[:4]).max() <= TOLERANCE
    keras_model = create_model(case["model"], {**settings, "engine": "keras"})
    assert np.abs(keras_model(rows) - got).max() <= TOLERANCE


IMAGE_MODEL_WITHOUT_TENSORFLOW = """
import json, sys
from sensenet.models.wrappers import create_model
model = create_model(sys.argv[1], {"image_path_prefix": sys.argv[2]})
print(json.dumps({
    "prediction": model(json.loads(sys.argv[3])).tolist(),
    "heavy": sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tf_keras'}),
}))
"""


def test_image_model_predicts_without_importing_tensorflow(tmp_path):
    case = load_cases("image_regression.json.gz")[0]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(case["model"]))
    row = [v.removeprefix("tests/data/") if isinstance(v, str) else v for v in case["validation"][0]["input"]]
    done = subprocess.run(
        [sys.executable, "-c", IMAGE_MODEL_WITHOUT_TENSORFLOW, str(path), str(FIXTURES), json.dumps(row)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    report = json.loads(done.stdout)
    assert report["heavy"] == []
    assert np.abs(np.array(report["prediction"]) - [case["validation"][0]["output"]]).max() <= TOLERANCE


def test_graph_is_a_valid_onnx_model():
    preprocess = [{"type": "numeric", "index": 0, "mean": 0, "stdev": 1}, {"type": "image", "index": 1}]
    model = image_model(
        preprocess,
        LAYER_CASES["block_then_wired_nodes"] + [{"type": "flatten"}],
        [dense(np.eye(1 + 7 * 9 * 4))],
        1 + 7 * 9 * 4,
    )
    graph = deepnet_graph(parse_network(model), Settings()).SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(graph), full_check=True)
