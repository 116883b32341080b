"""Each image layer type and block, built in Keras, against a numpy or raw-TF reference."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sensenet.engines.keras.deepnet import KerasEngine
from sensenet.engines.keras.image import image_feature_model
from sensenet.exceptions import ModelFormatError
from sensenet.settings import Settings
from sensenet.spec import parse_network
from sensenet.spec.fields import Fields
from sensenet.spec.image_layers import parse_image_network
from tests.conftest import dense

TOLERANCE = 1e-5
RNG = np.random.default_rng(7)


def image_network(layers: list, height: int = 8, width: int = 8, **metadata) -> dict:
    return {
        "metadata": {"input_image_shape": [width, height, 3], "loading_method": None, **metadata},
        "layers": layers,
    }


def spec_of(layers: list, height: int = 8, width: int = 8, **metadata):
    return parse_image_network(Fields(image_network(layers, height, width, **metadata), "image_network"))


def run(layers: list, x: np.ndarray, **metadata) -> np.ndarray:
    network = spec_of(layers, x.shape[1], x.shape[2], **metadata)
    return image_feature_model(network)(x).numpy()


def pixels(rows: int = 2, height: int = 8, width: int = 8) -> np.ndarray:
    return RNG.uniform(-1, 1, (rows, height, width, 3)).astype(np.float32)


def array(*shape) -> np.ndarray:
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def conv(kernel, bias=None, strides=(1, 1), padding="same", activation="identity", **extra) -> dict:
    layer = {
        "type": "convolution_2d",
        "kernel": kernel.tolist(),
        "strides": list(strides),
        "padding": padding,
        "activation_function": activation,
        **extra,
    }
    if bias is not None:
        layer["bias"] = bias.tolist()
    return layer


def close(got: np.ndarray, want) -> bool:
    want = np.asarray(want)
    return got.shape == want.shape and np.abs(got - want).max() <= TOLERANCE


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (1, 2)])
def test_convolution_2d(padding, strides):
    x, kernel, bias = pixels(), array(3, 3, 3, 5), array(5)
    got = run([conv(kernel, bias, strides, padding, "relu")], x)
    want = tf.nn.relu(tf.nn.conv2d(x, kernel, strides, padding.upper()) + bias)
    assert close(got, want)


def test_dilated_convolution_2d():
    x, kernel = pixels(), array(3, 3, 3, 4)
    got = run([conv(kernel, dilation_rate=[2, 2])], x)
    assert close(got, tf.nn.conv2d(x, kernel, 1, "SAME", dilations=2))


def test_convolution_2d_from_initializer_names_is_reproducible():
    layer = {
        "type": "convolution_2d",
        "kernel": "glorot_uniform",
        "bias": None,
        "number_of_filters": 6,
        "kernel_dimensions": [3, 3],
        "padding": "same",
        "strides": [2, 2],
    }
    first, second = spec_of([layer]), spec_of([layer])
    assert first.output_shape == (4, 4, 6)
    assert first.nodes[0].layer.kernel.shape == (3, 3, 3, 6)
    assert np.array_equal(first.nodes[0].layer.kernel, second.nodes[0].layer.kernel)
    assert not np.any(first.nodes[0].layer.bias)


def test_depthwise_convolution_2d():
    x, kernel, bias = pixels(), array(3, 3, 3, 2), array(6)
    layer = {
        "type": "depthwise_convolution_2d",
        "kernel": kernel.tolist(),
        "bias": bias.tolist(),
        "depth_multiplier": 2,
        "strides": [2, 2],
        "padding": "same",
        "activation_function": "relu6",
    }
    got = run([layer], x)
    want = tf.nn.relu6(tf.nn.depthwise_conv2d(x, kernel, [1, 2, 2, 1], "SAME") + bias)
    assert close(got, want)


def test_separable_convolution_2d():
    x, depth, point, bias = pixels(), array(3, 3, 3, 1), array(1, 1, 3, 7), array(7)
    layer = {
        "type": "separable_convolution_2d",
        "depth_kernel": depth.tolist(),
        "point_kernel": point.tolist(),
        "bias": bias.tolist(),
        "depth_multiplier": 1,
        "strides": [1, 1],
        "padding": "valid",
    }
    got = run([layer], x)
    assert close(got, tf.nn.separable_conv2d(x, depth, point, [1, 1, 1, 1], "VALID") + bias)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(
    "kind,reference", [("max_pool_2d", tf.nn.max_pool2d), ("average_pool_2d", tf.nn.avg_pool2d)]
)
def test_pooling(kind, reference, padding):
    x = pixels(height=7, width=9)
    layer = {"type": kind, "pool_size": [3, 3], "strides": [2, 2], "padding": padding}
    assert close(run([layer], x), reference(x, 3, 2, padding.upper()))


@pytest.mark.parametrize(
    "kind,reference", [("global_average_pool_2d", np.mean), ("global_max_pool_2d", np.max)]
)
def test_global_pooling(kind, reference):
    x = pixels()
    assert close(run([{"type": kind}], x), reference(x, axis=(1, 2)))


def test_padding_2d():
    x = pixels()
    got = run([{"type": "padding_2d", "padding": [[1, 2], [0, 3]]}], x)
    assert close(got, np.pad(x, [(0, 0), (1, 2), (0, 3), (0, 0)]))


def test_upsampling_2d_nearest_repeats_pixels():
    x = pixels(height=3, width=4)
    got = run([{"type": "upsampling_2d", "size": [2, 3], "method": "nearest"}], x)
    assert close(got, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))


def test_upsampling_2d_bilinear_matches_tf_image_resize():
    x = pixels(height=3, width=4)
    got = run([{"type": "upsampling_2d", "size": [2, 2], "method": "bilinear"}], x)
    assert close(got, tf.image.resize(x, (6, 8), method="bilinear"))


def test_inputs_wire_concatenate_add_and_split_channels():
    """0: conv to 4 channels; 1: its channels 2-3; 2: conv of 0 to 2 channels; 3: 1 + 2; 4: [3, 0, 1]."""
    x, k0, k2 = pixels(), array(1, 1, 3, 4), array(1, 1, 4, 2)
    layers = [
        conv(k0),
        {"type": "split_channels", "number_of_splits": 2, "group_index": 1, "inputs": [0]},
        conv(k2, inputs=[0]),
        {"type": "add", "inputs": [1, 2]},
        {"type": "concatenate", "inputs": [3, 0, 1]},
    ]
    out0 = np.einsum("nhwc,cd->nhwd", x, k0[0, 0])
    added = out0[..., 2:] + np.einsum("nhwc,cd->nhwd", out0, k2[0, 0])
    assert close(run(layers, x), np.concatenate([added, out0, out0[..., 2:]], axis=-1))


def test_layers_without_inputs_read_the_previous_layer():
    x = pixels()
    layers = [{"type": "activation", "activation_function": "relu"}, {"type": "global_max_pool_2d"}]
    assert close(run(layers, x), np.maximum(x, 0).max(axis=(1, 2)))


def test_batch_normalization_on_channels():
    x = pixels()
    gamma, beta, mean, variance = array(3), array(3), array(3), np.abs(array(3)) + 0.1
    layer = {
        "type": "batch_normalization",
        "gamma": gamma.tolist(),
        "beta": beta.tolist(),
        "mean": mean.tolist(),
        "variance": variance.tolist(),
        "epsilon": 0.001,
    }
    assert close(run([layer], x), (x - mean) / np.sqrt(variance + 0.001) * gamma + beta)


BLOCK_PATHS = {
    "resnet_block": ("convolution_path", "identity_path"),
    "resnet18_block": ("convolution_path", "identity_path"),
    "darknet_residual_block": ("convolution_path", "identity_path"),
    "mobilenet_residual_block": ("convolution_path", "identity_path"),
    "xception_block": ("separable_convolution_path", "single_convolution_path"),
}


@pytest.mark.parametrize("kind", sorted(BLOCK_PATHS))
def test_block_sums_its_paths_then_activates(kind):
    first, second = BLOCK_PATHS[kind]
    x, k1, k2 = pixels(), array(3, 3, 3, 3), array(1, 1, 3, 3)
    block = {
        "type": kind,
        first: [conv(k1, activation="relu"), conv(k2)],
        second: [{"type": "activation", "activation_function": "tanh"}],
        "activation_function": "relu",
    }
    path = tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x, k1, 1, "SAME")), k2, 1, "SAME")
    assert close(run([block], x), tf.nn.relu(path + np.tanh(x)))


def test_block_with_empty_identity_path_adds_its_input():
    x, kernel = pixels(), array(3, 3, 3, 3)
    block = {"type": "resnet18_block", "convolution_path": [conv(kernel)], "identity_path": []}
    assert close(run([block], x), tf.nn.conv2d(x, kernel, 1, "SAME") + x)


CAFFE = np.array([103.939, 116.779, 123.68], np.float32)
TORCH_MEAN = 255 * np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD = 255 * np.array([0.229, 0.224, 0.225], np.float32)
STANDARDISED = {
    None: lambda x: x,
    "normalizing": lambda x: x / 255,
    "centering": lambda x: (x - 127.5) / 127.5,
    "skewed_centering": lambda x: (x - 128) / 128,
    "channelwise_centering": lambda x: x[..., ::-1] - CAFFE,
    "channelwise_standardizing": lambda x: (x - TORCH_MEAN) / TORCH_STD,
}


@pytest.mark.parametrize("method", list(STANDARDISED), ids=str)
def test_standardisation_by_loading_method(method):
    x = RNG.integers(0, 256, (2, 4, 5, 3)).astype(np.float32)
    got = run([{"type": "activation", "activation_function": "identity"}], x, loading_method=method)
    assert close(got, STANDARDISED[method](x))


def test_mean_image_is_subtracted_from_the_pixels_first():
    x = RNG.integers(0, 256, (2, 4, 5, 3)).astype(np.float32)
    mean_image = RNG.uniform(0, 255, (4, 5, 3)).astype(np.float32)
    got = run(
        [{"type": "activation", "activation_function": "identity"}],
        x,
        loading_method="normalizing",
        mean_image=mean_image.tolist(),
    )
    assert close(got, (x - mean_image) / 255)


def test_input_image_shape_is_width_then_height():
    network = spec_of([{"type": "global_average_pool_2d"}], height=6, width=10)
    assert (network.metadata.height, network.metadata.width) == (6, 10)
    assert image_feature_model(network).inputs[0].shape == (None, 6, 10, 3)


def image_model(preprocess: list, readout_width: int, image_layers: list) -> dict:
    return {
        "preprocess": preprocess,
        "image_network": image_network(image_layers, 4, 4),
        "layers": [dense(np.eye(readout_width))],
        "output_exposition": {"type": "categorical", "values": [f"c{i}" for i in range(readout_width)]},
    }


def test_features_follow_preprocess_order_and_image_fields_share_the_network():
    """Readout input: numeric, image A's 3 features, categorical one-hot, image B's 3 features."""
    preprocess = [
        {"type": "numeric", "index": 0, "mean": 1.0, "stdev": 2.0},
        {"type": "image", "index": 1},
        {"type": "categorical", "index": 2, "values": ["x", "y"]},
        {"type": "image", "index": 3},
    ]
    spec = parse_network(image_model(preprocess, 9, [{"type": "global_max_pool_2d"}]))
    engine = KerasEngine(spec, Settings())
    a, b = pixels(2, 4, 4), pixels(2, 4, 4)
    matrix = np.array([[5.0, 1.0], [-1.0, 0.0]], np.float32)
    got = engine(matrix, [a, b])
    one_hot = np.array([[0, 1], [1, 0]])
    want = np.concatenate([(matrix[:, :1] - 1) / 2, a.max(axis=(1, 2)), one_hot, b.max(axis=(1, 2))], axis=1)
    assert close(got, want)


def test_image_only_model_takes_pixels_alone():
    spec = parse_network(
        image_model([{"type": "image", "index": 0}], 3, [{"type": "global_average_pool_2d"}])
    )
    x = pixels(3, 4, 4)
    assert close(KerasEngine(spec, Settings())(np.zeros((3, 0), np.float32), [x]), x.mean(axis=(1, 2)))


def bad(layers: list, match: str, height: int = 8, width: int = 8, **metadata):
    with pytest.raises(ModelFormatError, match=match):
        spec_of(layers, height, width, **metadata)


def test_inputs_must_name_earlier_layers():
    bad([{"type": "global_max_pool_2d", "inputs": [0]}], r"layers\[0\].inputs: layer 0 can only read earlier")
    bad([{"type": "activation", "activation_function": "relu"}, {"type": "add", "inputs": [0, 5]}], "got 5")
    bad([{"type": "add", "inputs": "0"}], "expected a non-empty list")


def test_joins_check_their_inputs():
    relu = {"type": "activation", "activation_function": "relu"}
    pool = {"type": "max_pool_2d", "pool_size": [2, 2]}
    bad([relu, pool, {"type": "add", "inputs": [0, 1]}], "must have equal shapes")
    bad([relu, pool, {"type": "concatenate", "inputs": [0, 1]}], "must share height and width")
    bad([relu, {"type": "concatenate", "inputs": [0]}], "two or more inputs")
    bad([{"type": "split_channels", "number_of_splits": 2, "group_index": 0}], "3 channels do not split")
    bad([{"type": "split_channels", "number_of_splits": 3, "group_index": 3}], "must be below")


def test_kernels_must_fit_their_input():
    bad([conv(array(3, 3, 4, 2))], r"layers\[0\].kernel: expected shape 3 x 3 x 3 x 2, got 3 x 3 x 4 x 2")
    bad(
        [{"type": "convolution_2d", "kernel": "glorot_uniform", "kernel_dimensions": [3, 3]}],
        "number_of_filters",
    )
    bad([{"type": "convolution_2d", "kernel": [1, 2]}], "expected a 4-D kernel")
    bad([conv(array(5, 5, 3, 2), padding="valid")], "does not fit", height=4, width=4)
    bad([conv(array(3, 3, 3, 2), strides=(0, 1))], "strides: expected two whole numbers >= 1")


def test_layer_kinds_need_the_right_shapes():
    bad([{"type": "global_max_pool_2d"}, {"type": "max_pool_2d"}], r"layers\[1\].type: needs an image-shaped")
    bad([{"type": "dense", "weights": [[1.0]]}], "needs a flat input")
    bad([{"type": "convolution_3d"}], "unknown value 'convolution_3d'")


def test_blocks_need_matching_paths():
    block = {"type": "resnet_block", "convolution_path": [conv(array(3, 3, 3, 4))], "identity_path": []}
    bad([block], r"convolution_path: gives shape \(8, 8, 4\) but identity_path gives \(8, 8, 3\)")


def test_metadata_is_checked():
    pool = [{"type": "global_max_pool_2d"}]
    bad(pool, "loading_method: unknown value 'scaling'", loading_method="scaling")
    bad(pool, r"mean_image: expected shape 8 x 8 x 3", mean_image=[[0.0]])
    bad(pool, "rescale_type: unknown value", rescale_type="stretch")
    with pytest.raises(ModelFormatError, match="input_image_shape"):
        parse_image_network(Fields({"metadata": {"input_image_shape": [8, 8]}, "layers": pool}, "n"))
    with pytest.raises(ModelFormatError, match="only 3-channel"):
        parse_image_network(Fields({"metadata": {"input_image_shape": [8, 8, 1]}, "layers": pool}, "n"))


def test_image_fields_need_an_image_network_and_a_fitting_readout():
    model = image_model([{"type": "image", "index": 0}], 3, [{"type": "global_max_pool_2d"}])
    with pytest.raises(ModelFormatError, match="weights: expected shape 3 x"):
        parse_network({**model, "layers": [dense(np.eye(4))]})
    with pytest.raises(
        ModelFormatError, match="image_network: the model has image fields but no image network"
    ):
        parse_network({key: value for key, value in model.items() if key != "image_network"})
