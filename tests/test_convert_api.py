"""`convert`'s contract: what it accepts, what it refuses, and that it never leaves partial output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensenet.exceptions import OutputPathError, SettingsError, UnsupportedError
from sensenet.export import export_model
from sensenet.models.wrappers import convert, create_model, tflite_predict
from tests.conftest import dense, numeric_field, regression_network

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


def _litert(path, matrix):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, matrix.shape, strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, matrix)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


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

    convert(model, None, target, "tflite", overwrite=True)
    matrix = model.encode(ROWS)
    assert np.abs(_litert(target, matrix) - model(matrix)).max() <= TOLERANCE


def test_overwrite_replaces_a_directory_output(model, tmp_path):
    target = tmp_path / "web"
    convert(model, None, target, "tfjs")
    convert(model, None, target, "tfjs", overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["group1-shard1of1.bin", "model.json"]
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
    for to_format in ("tflite", "smbundle"):
        convert(str(bundle), None, tmp_path / f"again.{to_format}", to_format)
    assert np.abs(_litert(tmp_path / "again.tflite", matrix) - model(matrix)).max() <= TOLERANCE
    assert np.abs(create_model(tmp_path / "again.smbundle")(ROWS) - model(ROWS)).max() <= TOLERANCE


def test_h5_is_written_at_exactly_the_given_path(model, tmp_path):
    import h5py

    target = tmp_path / "my_weights.h5"
    convert(model, None, target, "h5")
    assert [p.name for p in tmp_path.iterdir()] == ["my_weights.h5"]
    with h5py.File(target) as weights:
        assert len(weights.keys()) > 0


def test_tflite_predict_runs_an_image_model_on_an_image_file(tmp_path):
    """The seed helper: the image's RGB pixels (float32, any size) go in, every output comes out."""
    import tensorflow as tf
    from PIL import Image

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)])
    def channel_means(pixels):
        return tf.reduce_mean(pixels, axis=[1, 2]), tf.reduce_max(pixels, axis=[1, 2, 3])

    converter = tf.lite.TFLiteConverter.from_concrete_functions([channel_means.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (tmp_path / "means.tflite").write_bytes(converter.convert())

    pixels = np.random.default_rng(3).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.png")
    means, maximum = tflite_predict(tmp_path / "means.tflite", tmp_path / "image.png")
    assert np.abs(means - pixels.reshape(-1, 3).mean(axis=0)).max() <= 1e-3
    assert maximum.reshape(()) == pixels.max()


def test_an_op_without_a_tflite_builtin_fails_loudly(tmp_path):
    """No Flex (SELECT_TF_OPS) fallback: a graph that needs one is refused, and nothing is written."""
    import keras
    import tensorflow as tf

    from sensenet.models.settings import Settings

    class NeedsFlex:
        """The two things an exporter reads from a wrapper: its Keras model and its settings."""

        settings = Settings()

        def __init__(self):
            inputs = keras.Input(shape=(3,))
            outputs = keras.layers.Lambda(lambda x: tf.math.igamma(x + 2.0, x + 1.0))(inputs)
            self._model = keras.Model(inputs, outputs)

    with pytest.raises(UnsupportedError, match="does not convert to builtin TFLite ops"):
        export_model(NeedsFlex(), tmp_path / "m.tflite", "tflite")
    assert list(tmp_path.iterdir()) == []
