"""`convert`'s contract: what it accepts, what it refuses, and that it never leaves partial output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensenet.exceptions import OutputPathError, SettingsError, UnsupportedError
from sensenet.export import export_model
from sensenet.models.wrappers import convert, create_model, tflite_predict
from tests.conftest import dense, numeric_field, regression_network, run_litert

TOLERANCE = 1e-5


def small_network() -> dict:
    preprocess = [
        numeric_field(0, mean=1.0, stdev=2.0),
        {"type": "categorical", "index": 1, "values": ["a", "b"]},
    ]
    weights = np.array([[0.5, -1.0], [2.0, 0.1], [-0.3, 0.7]])
    return regression_network(
        [dense(weights, [0.1, 0.2], "relu"), dense([[1.0], [-2.0]])], preprocess, 3.0, 2.0
    )


ROWS = [[1.5, "a"], [-4.0, "b"], [None, None]]


@pytest.fixture(scope="module")
def model():
    return create_model(small_network())


def test_unknown_format_lists_the_known_ones(model, tmp_path):
    with pytest.raises(
        SettingsError, match=r"unknown format 'keras'.*\['h5', 'onnx', 'smbundle', 'tfjs', 'tflite'\]"
    ):
        convert(model, None, tmp_path / "out", "keras")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_unless_overwrite(model, tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"user data")
    with pytest.raises(OutputPathError, match="already exists.*overwrite=True"):
        convert(model, None, target, "tflite")
    assert target.read_bytes() == b"user data"

    convert(model, None, target, "tflite", overwrite=True, self_contained=False)
    matrix = model.encode(ROWS)
    assert np.abs(run_litert(target, matrix) - model(matrix)).max() <= TOLERANCE


def test_overwrite_replaces_a_directory_output(model, tmp_path):
    target = tmp_path / "web"
    convert(model, None, target, "tfjs")
    convert(model, None, target, "tfjs", overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["group1-shard1of1.bin", "model.json", "sensenet.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["web"]


def test_missing_destination_directory_is_reported(model, tmp_path):
    with pytest.raises(OutputPathError, match="does not exist"):
        convert(model, None, tmp_path / "no" / "such" / "model.tflite", "tflite")


def test_destination_inside_a_file_is_reported(model, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="does not exist"):
        convert(model, None, blocker / "model.h5", "h5")


def test_failed_conversion_leaves_nothing_behind(model, tmp_path):
    bundle = tmp_path / "model.smbundle"
    convert(model, None, bundle, "smbundle")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnsupportedError, match="convert to h5 from the model JSON"):
        convert(bundle, None, tmp_path / "weights.h5", "h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_tflite_refuses_a_rescale_type_other_than_warp(tmp_path):
    with pytest.raises(UnsupportedError, match="rescale_type 'warp' only.*'pad'"):
        convert(small_network(), {"rescale_type": "pad"}, tmp_path / "m.tflite", "tflite")
    assert list(tmp_path.iterdir()) == []


def test_a_model_built_for_tflite_gets_warp(tmp_path):
    convert(small_network(), None, tmp_path / "m.tflite", "tflite")
    assert (tmp_path / "m.tflite").stat().st_size > 0
    bundle = tmp_path / "m.smbundle"
    convert(small_network(), {"rescale_type": "crop"}, bundle, "smbundle")
    assert create_model(bundle).settings.rescale_type == "crop"


def test_convert_accepts_a_json_path_and_settings(tmp_path):
    source = tmp_path / "deepnet.json"
    source.write_text(json.dumps({"object": {"deepnet": {"network": small_network()}}}))
    convert(str(source), {"regression_normalize": True}, tmp_path / "normalized.smbundle", "smbundle")
    normalized = create_model(tmp_path / "normalized.smbundle")
    expected = create_model(small_network(), {"regression_normalize": True})(ROWS)
    assert np.abs(normalized(ROWS) - expected).max() <= TOLERANCE
    assert normalized.settings.regression_normalize is True


def test_convert_from_a_bundle_path(model, tmp_path):
    bundle = tmp_path / "model.smbundle"
    convert(model, None, bundle, "smbundle")
    matrix = model.encode(ROWS)
    convert(str(bundle), None, tmp_path / "again.tflite", "tflite", self_contained=False)
    convert(str(bundle), None, tmp_path / "again.smbundle", "smbundle")
    assert np.abs(run_litert(tmp_path / "again.tflite", matrix) - model(matrix)).max() <= TOLERANCE
    assert np.abs(create_model(tmp_path / "again.smbundle")(ROWS) - model(ROWS)).max() <= TOLERANCE


def test_h5_is_written_at_exactly_the_given_path(model, tmp_path):
    import h5py

    target = tmp_path / "my_weights.h5"
    convert(model, None, target, "h5")
    assert [p.name for p in tmp_path.iterdir()] == ["my_weights.h5"]
    with h5py.File(target) as weights:
        assert len(weights.keys()) > 0


class KerasStandIn:
    """What an exporter reads from a wrapper: its kind, its Keras model and its settings."""

    deepnet_type = "Deepnet"
    spec = None

    def __init__(self, keras_model, settings=None):
        from sensenet.settings import Settings

        self._model = keras_model
        self.settings = settings or Settings()


def small_image_model(height: int, width: int):
    """A little CNN on RGB 0-255 pixels of a fixed size, as the Keras builder makes for image fields."""
    import keras

    rng = np.random.default_rng(11)
    inputs = keras.Input(shape=(height, width, 3), name="image_0")
    conv = keras.layers.Conv2D(4, 3, activation="relu")
    x = conv(keras.layers.Rescaling(1 / 255.0)(inputs))
    conv.set_weights([rng.normal(size=(3, 3, 3, 4)).astype("float32"), np.zeros(4, "float32")])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


@pytest.mark.parametrize("image", ["images/dog.jpg", "images/dog.tiff", "images/square_car.png"])
def test_tflite_image_model_warps_any_image_in_graph(tmp_path, image):
    """`tflite_predict` feeds the file's pixels at their own size; the graph's nearest resize must
    give what sensenet's Python "warp" rescale gives."""
    from PIL import Image

    from sensenet.inputs.rescale import resize_nearest
    from tests.conftest import fixture_path

    keras_model = small_image_model(24, 16)
    export_model(KerasStandIn(keras_model), tmp_path / "image.tflite", "tflite")
    (got,) = tflite_predict(tmp_path / "image.tflite", fixture_path(image))

    with Image.open(fixture_path(image)) as opened:
        pixels = np.asarray(opened.convert("RGB"), dtype=np.float32)
    warped = resize_nearest(pixels, 24, 16)[np.newaxis]
    expected = keras_model(warped, training=False).numpy()
    assert np.abs(got - expected).max() <= TOLERANCE


def test_tflite_refuses_a_model_built_with_another_rescale_type(tmp_path):
    from sensenet.settings import Settings

    cropping = KerasStandIn(small_image_model(8, 8), Settings(rescale_type="crop"))
    with pytest.raises(UnsupportedError, match="'warp' only.*'crop'"):
        export_model(cropping, tmp_path / "m", "tflite")
    assert list(tmp_path.iterdir()) == []


def test_an_op_without_a_tflite_builtin_fails_loudly(tmp_path):
    """No Flex (SELECT_TF_OPS) fallback: a graph that needs one is refused, and nothing is written."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Lambda(lambda x: tf.math.igamma(x + 2.0, x + 1.0))(inputs)
    needs_flex = KerasStandIn(keras.Model(inputs, outputs))
    with pytest.raises(UnsupportedError, match="does not convert to builtin TFLite ops"):
        export_model(needs_flex, tmp_path / "m.tflite", "tflite")
    assert list(tmp_path.iterdir()) == []
