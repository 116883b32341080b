"""Pad fills with the float32 mean of the resized image, bit for bit as TensorFlow's reduce_mean.

The reference is ``tf.reduce_mean`` of the float32 image. Once the levels add up past 2**24 its
last bit depends on the order of the sums, which on CPU depends on TensorFlow's thread pool, so
those references are computed in a subprocess whose pool has the two threads sensenet reproduces.
The prediction of a pad image model is then compared, on every engine and export that takes
pixels, with the numpy reference fed the image padded with that fill.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sensenet.exceptions import UnsupportedError
from sensenet.inputs import load_image, rescale
from sensenet.inputs.float32_mean import float32_mean
from sensenet.models.wrappers import convert, create_model
from tests import reference
from tests.conftest import fixture_path, run_tfjs

SIZE = 32  # the pad model's input (height = width)
TF_MEANS = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    images = np.load(sys.argv[1])
    print(" ".join(repr(float(tf.reduce_mean(tf.constant(images[k])).numpy())) for k in images.files))
    """
)


def _synthetic() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "small": rng.integers(0, 256, (7, 5, 3)).astype(np.uint8),  # mean 127.xx
        "dark": rng.integers(0, 60, (90, 170, 3)).astype(np.uint8),
        "bright": rng.integers(150, 256, (300, 420, 3)).astype(np.uint8),  # sum past 2**24
        "large": rng.integers(180, 256, (700, 500, 3)).astype(np.uint8),  # 2 shards of many leaves
        "odd": rng.integers(200, 256, (333, 211, 3)).astype(np.uint8),
    }


@pytest.fixture(scope="module")
def tf_means(tmp_path_factory) -> tuple[dict, dict]:
    images = _synthetic()
    images["photo"] = reference.pad_scaled(
        load_image(str(fixture_path("detection/pexels-pixabay-33358.jpg"))), 256, 256
    )
    images["photo_416"] = reference.pad_scaled(load_image(str(fixture_path("images/bus.jpg"))), 416, 416)
    path = tmp_path_factory.mktemp("means") / "images.npz"
    np.savez(path, **{k: v.astype(np.float32) for k, v in images.items()})
    result = subprocess.run(
        [sys.executable, "-c", TF_MEANS, str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    means = [np.float32(float(v)) for v in result.stdout.split()]
    return images, dict(zip(images, means))


def test_the_fill_is_tensorflows_reduce_mean_bit_for_bit(tf_means):
    images, means = tf_means
    for name, image in images.items():
        ours = float32_mean(image)
        assert ours == means[name], (name, ours, means[name])
        assert ours != np.round(ours), name  # not a whole level
    # Where the sum rounds, a plain exact mean is not TensorFlow's: the order matters.
    rounded = [
        name
        for name, image in images.items()
        if np.float32(image.sum(dtype=np.int64) / image.size) != means[name]
    ]
    assert rounded, "no image whose float32 sum rounds"


def test_rescale_pads_with_that_fill(tf_means):
    images, means = tf_means
    photo = load_image(str(fixture_path("detection/pexels-pixabay-33358.jpg")))
    padded = rescale(photo, 256, 256, "pad")  # 512 x 768: resized to 171 x 256, 85 fill columns
    assert padded.shape == (256, 256, 3) and (padded[:, 171:] == means["photo"]).all()
    assert means["photo"] != np.round(means["photo"])


def _pad_model() -> dict:
    rng = np.random.default_rng(2)
    return {
        "preprocess": [
            {"type": "numeric", "index": 0, "mean": 0.5, "stdev": 2.0},
            {"type": "image", "index": 1},
        ],
        "image_network": {
            "metadata": {
                "input_image_shape": [SIZE, SIZE, 3],
                "loading_method": "normalizing",
                "rescale_type": "pad",
            },
            "layers": [{"type": "global_average_pool_2d"}],
        },
        "layers": [
            {
                "type": "dense",
                "weights": rng.normal(0, 8, (4, 3)).tolist(),  # large enough for the fill to show
                "offset": [0.0, 0.1, -0.1],
                "activation_function": "softmax",
            }
        ],
        "output_exposition": {"type": "categorical", "values": ["a", "b", "c"]},
    }


def _reference(network: dict, rows: list, fills: list) -> np.ndarray:
    features = []
    for (value, image), fill in zip(rows, fills):
        padded = reference.pad(image, SIZE, SIZE, fill)
        pooled = (padded.astype(np.float64) / 255.0).mean(axis=(0, 1))
        features.append(np.concatenate([[(value - 0.5) / 2.0], pooled]))
    return reference.predict(network, rows, features=np.array(features))


def test_a_pad_model_predicts_with_the_float_fill_everywhere(tf_means, tmp_path):
    images, _ = tf_means
    network = _pad_model()
    wide = images["dark"]  # 90 x 170: resized to 17 x 32, 15 fill rows
    tall = images["odd"][:, :100]  # 333 x 100: resized to 32 x 10, 22 fill columns
    rows = [[1.0, wide], [-2.0, tall]]
    fills = [float32_mean(reference.pad_scaled(image, SIZE, SIZE)) for _, image in rows]
    assert all(fill != np.round(fill) for fill in fills)
    expected = _reference(network, rows, fills)
    floored = _reference(network, rows, [np.floor(fill) for fill in fills])
    assert np.abs(floored - expected).max() > 1e-4  # the test sees a whole-level fill
    differences = {}
    for engine in ("onnx", "keras"):
        differences[engine] = np.abs(create_model(network, {"engine": engine})(rows) - expected).max()
    model = create_model(network)
    convert(model, None, tmp_path / "pad.smbundle", "smbundle")
    differences["smbundle"] = np.abs(create_model(tmp_path / "pad.smbundle")(rows) - expected).max()
    with pytest.raises(UnsupportedError, match="rescale_type 'warp' only"):
        convert(model, None, tmp_path / "pad.tflite", "tflite")
    differences["tfjs"] = _tfjs_difference(model, rows, expected, tmp_path)
    assert max(differences.values()) <= 1e-5, differences  # float32 noise; a whole-level fill: > 1e-4


def _tfjs_difference(model, rows, expected, tmp_path) -> float:
    """TF.js takes the fitted pixels: the ones `rescale` gives (the pad with the float fill)."""
    convert(model, None, tmp_path / "pad.tfjs", "tfjs")
    signature = json.loads((tmp_path / "pad.tfjs" / "model.json").read_text())["signature"]["inputs"]
    matrix = model.encode([[value, None] for value, _ in rows])
    pixels = np.stack([rescale(image, SIZE, SIZE, "pad") for _, image in rows])
    names = sorted(signature)
    arrays = dict(zip(names, [matrix, pixels] if "matrix" in names[0] else [pixels, matrix]))
    ((got,),) = run_tfjs([(tmp_path / "pad.tfjs", arrays)], tmp_path)
    return float(np.abs(got - expected).max())


def test_tensorflow_alone_on_this_machine_agrees_for_sums_below_2_24():
    """Below 2**24 every float32 partial sum is exact: any order, any pool, the same mean."""
    import tensorflow as tf

    image = np.random.default_rng(3).integers(0, 256, (100, 120, 3)).astype(np.uint8)
    assert image.sum() < 2**24
    assert float32_mean(image) == tf.reduce_mean(tf.constant(image.astype(np.float32))).numpy()
