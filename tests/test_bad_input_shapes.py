"""Bad input shapes that once escaped as foreign exceptions (issue 22, item 8), each ours now.

An .smbundle whose header or settings are a bare JSON scalar, a Keras HDF5 weights file whose
names point at nothing, and a bytes output path (accepted, as `open` accepts it).
"""

from __future__ import annotations

import h5py
import numpy as np
import onnxruntime
import pytest

from sensenet import convert, create_model
from sensenet.examples import example_path
from sensenet.exceptions import ModelFormatError, OutputPathError
from sensenet.models import bundle
from sensenet.pretrained import load_weights
from tests.test_pretrained_weights import small_classifier

SCALARS = [b"5", b"null", b"true", b"1.5", b'"bundle"']


def write_bundle_file(path, header: bytes, files: bytes = b"") -> None:
    path.write_bytes(bundle.GUARD + bytes([1]) + header.ljust(bundle.BLOCK_SIZE, b" ") + files)


@pytest.mark.parametrize("header", SCALARS, ids=lambda h: h.decode())
def test_a_bundle_header_that_is_a_json_scalar_is_a_format_error(header, tmp_path):
    path = tmp_path / "model.smbundle"
    write_bundle_file(path, header)
    with pytest.raises(ModelFormatError, match="the bundle header must be a non-empty list of directories"):
        create_model(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.smbundle"]


@pytest.mark.parametrize("settings", SCALARS, ids=lambda h: h.decode())
def test_bundle_settings_that_are_a_json_scalar_are_a_format_error(settings, tmp_path):
    path = tmp_path / "model.smbundle"
    header = b'[[".", ["assets"], []], ["assets", [], [["settings.json", %d]]]]' % len(settings)
    write_bundle_file(path, header, settings)
    with pytest.raises(ModelFormatError, match="settings.json must name a deepnet_type"):
        create_model(str(path))


def keras_weights_file(path, layer_names, groups: dict) -> None:
    """A file in Keras' HDF5 weights layout: `layer_names`, then per group its `weight_names`."""
    with h5py.File(path, "w") as stream:
        stream.attrs["layer_names"] = layer_names
        for name, weights in groups.items():
            group = stream.create_group(name)
            if weights is not None:
                group.attrs["weight_names"] = [key.encode() for key in weights]
                for key in weights[:1]:  # only the first is stored
                    group.create_dataset(key, data=np.zeros(2, np.float32))


@pytest.mark.parametrize(
    "layer_names, groups, message",
    [
        ([b"conv", b"absent"], {"conv": []}, "layer_names lists 'absent', which is not a group in the file"),
        ([b"conv", b"conv/kernel"], {"conv": ["conv/kernel"]}, "'conv/kernel', which is not a group"),
        ([b""], {}, "layer_names lists '', which is not a group"),
        (np.int64(5), {}, "layer_names must be a list of names, got 5"),
        ([[b"a", b"b"]], {}, "layer_names must be a list of names"),
        ([b"conv"], {"conv": None}, "layer 'conv' has no weight_names attribute"),
        (
            [b"conv"],
            {"conv": ["kernel", "bias"]},
            r"layer 'conv' lists weights \['bias'\] the file does not hold",
        ),
    ],
)
def test_keras_weights_naming_what_the_file_lacks_are_a_format_error(layer_names, groups, message, tmp_path):
    path = tmp_path / "weights.h5"
    keras_weights_file(path, layer_names, groups)
    with pytest.raises(ModelFormatError, match=message):
        load_weights(small_classifier(), path)


def test_convert_takes_a_bytes_output_path_as_open_does(tmp_path):
    model = create_model(str(example_path("iris")))
    by_str, by_bytes = tmp_path / "str.onnx", tmp_path / "bytes.onnx"
    convert(model, None, str(by_str), "onnx")
    convert(model, None, bytes(by_bytes), "onnx")
    assert by_bytes.read_bytes() == by_str.read_bytes()
    session = onnxruntime.InferenceSession(str(by_bytes), providers=["CPUExecutionProvider"])
    feeds = {
        i.name: np.array([[value]], np.float32)
        for i, value in zip(session.get_inputs(), [5.1, 3.5, 1.4, 0.2])
    }
    np.testing.assert_allclose(session.run(None, feeds)[0], model([5.1, 3.5, 1.4, 0.2]), atol=1e-6)
    with pytest.raises(OutputPathError, match="already exists"):
        convert(model, None, bytes(by_bytes), "onnx")
    for wrong in (5, None, ["out.onnx"]):
        with pytest.raises(OutputPathError, match="the output path must be a str, bytes or os.PathLike"):
            convert(model, None, wrong, "onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bytes.onnx", "str.onnx"]
