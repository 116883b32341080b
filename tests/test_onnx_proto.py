"""sensenet's own protobuf writer (`sensenet.engines.onnx.proto`) judged by the real `onnx` package.

Each message kind is written byte for byte as `onnx` writes it for the same helper call; every
graph the engine builds (rows, trees, image CNNs, pretrained topologies, the eye detector's heads)
is the very graph `onnx.helper` builds from the same calls; the exports' graphs parse, pass the
full checker, and are the canonical encoding of what they hold.
"""

from __future__ import annotations

import gzip
import json
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import helper, numpy_helper

from sensenet.engines.onnx import proto
from sensenet.engines.onnx.deepnet import deepnet_graph
from sensenet.engines.onnx.image import image_network_graph
from sensenet.models.settings import Settings
from sensenet.models.wrappers import convert, create_model
from sensenet.spec import parse_network
from tests.conftest import fixture_path, load_cases

ONNX_HELPERS = {
    "make_node": helper.make_node,
    "make_tensor_value_info": helper.make_tensor_value_info,
    "make_graph": helper.make_graph,
    "make_model": helper.make_model,
    "make_opsetid": helper.make_opsetid,
    "from_array": numpy_helper.from_array,
}


def _same_bytes(ours, theirs) -> None:
    assert ours.SerializeToString() == theirs.SerializeToString()


@pytest.mark.parametrize(
    "array",
    [
        np.float32(1.5),
        np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
        np.array([[-1, 2**40]], np.int64),
        np.array([-7, 0, 7], np.int32),
        np.array([True, False, True]),
        np.array([0, 255], np.uint8),
        np.array([-128, 127], np.int8),
        np.array([np.nan, -np.inf, 1e300]),
        np.zeros((0, 4), np.float32),
        np.arange(4, dtype=">f4"),  # big-endian in, little-endian out
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_tensors_are_written_as_onnx_writes_them(array):
    native = array.astype(array.dtype.newbyteorder("="))  # onnx takes no other byte order
    _same_bytes(proto.from_array(array, "weights"), numpy_helper.from_array(native, "weights"))
    _same_bytes(proto.from_array(array), numpy_helper.from_array(native))


ATTRIBUTES = {
    "axis": -1,
    "to": proto.TensorProto.INT32,
    "keepdims": 0,
    "alpha": 0.1,
    "beta": np.float32(2.0),
    "mode": "nearest",
    "perm": [0, 3, 1, 2],
    "pads": [-1, 2**33, 0],
    "scales": [1.0, 0.5],
    "keys_strings": ["a", "ü", ""],
    "skipped": None,
}


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_each_attribute_kind_is_written_as_onnx_writes_it(name):
    value = ATTRIBUTES[name]
    _same_bytes(
        proto.make_node("Op", ["x", ""], ["y"], **{name: value}),
        helper.make_node("Op", ["x", ""], ["y"], **{name: value}),
    )


def test_nodes_sort_their_attributes_and_keep_a_domain():
    ours = proto.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", **ATTRIBUTES)
    theirs = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", **ATTRIBUTES)
    _same_bytes(ours, theirs)
    _same_bytes(
        proto.make_node("Identity", ["x"], ["y"], domain=""),
        helper.make_node("Identity", ["x"], ["y"], domain=""),
    )


def test_an_attribute_of_no_known_kind_is_refused():
    with pytest.raises(ValueError, match="cannot write attribute 'empty'"):
        proto.make_node("Op", ["x"], ["y"], empty=[])


@pytest.mark.parametrize("shape", [None, [], ["rows", 3], [1, None, 4], (2, 256, 256, 3)])
@pytest.mark.parametrize(
    "elem_type", [proto.TensorProto.FLOAT, proto.TensorProto.STRING, proto.TensorProto.INT32]
)
def test_value_infos_are_written_as_onnx_writes_them(shape, elem_type):
    _same_bytes(
        proto.make_tensor_value_info("x", elem_type, shape),
        helper.make_tensor_value_info("x", elem_type, shape),
    )


def test_a_model_with_metadata_is_written_as_onnx_writes_it():
    def build(api, array_api) -> onnx.ModelProto:
        node = api.make_node("Add", ["x", "c"], ["y"])
        inputs = [api.make_tensor_value_info("x", 1, ["rows", 2])]
        outputs = [api.make_tensor_value_info("y", 1, ["rows", 2])]
        constant = array_api.from_array(np.array([1.0, 2.0], np.float32), "c")
        graph = api.make_graph([node], "g", inputs, outputs, initializer=[constant])
        opsets = [api.make_opsetid("", 17), api.make_opsetid("ai.onnx.ml", 2)]
        return api.make_model(graph, opset_imports=opsets, ir_version=8, producer_name="sensenet")

    ours, theirs = build(proto, proto), build(helper, numpy_helper)
    ours.metadata_props.append(proto.StringStringEntryProto("sensenet", '{"a": "é"}'))
    entry = theirs.metadata_props.add()
    entry.key, entry.value = "sensenet", '{"a": "é"}'
    _same_bytes(ours, theirs)
    session = onnxruntime.InferenceSession(ours.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.ones((1, 2), np.float32)})[0].tolist() == [[2.0, 3.0]]


def _built_by_both(build, monkeypatch) -> bytes:
    """`build()` with sensenet's writer, then with `onnx.helper` doing the writing: the same bytes."""
    ours = build().SerializeToString()
    ours_by_name = {name: getattr(proto, name) for name in ONNX_HELPERS}
    modules = [module for name, module in sys.modules.items() if name.startswith("sensenet")]
    with monkeypatch.context() as patched:
        for module in modules:  # proto, and every module that imports its helpers by name
            for name, function in ONNX_HELPERS.items():
                if getattr(module, name, None) is ours_by_name[name]:
                    patched.setattr(module, name, function)
        theirs = build().SerializeToString()
    assert ours == theirs
    onnx.checker.check_model(onnx.load_from_string(ours), full_check=True)
    return ours


@pytest.mark.parametrize(
    "cases", ["regression.json.gz", "legacy_regression.json.gz", "image_regression.json.gz"]
)
@pytest.mark.parametrize("normalize", [False, True])
def test_fixture_models_graphs_are_the_graphs_onnx_builds(cases, normalize, monkeypatch):
    """Rows, categorical encodings, tree embeddings, residual blocks, a CNN over two image fields."""
    settings = Settings(regression_normalize=normalize)
    for case in load_cases(cases):
        spec = parse_network(case["model"])
        _built_by_both(lambda spec=spec: deepnet_graph(spec, settings), monkeypatch)


@pytest.fixture(scope="module")
def topologies() -> dict:
    with gzip.open(fixture_path("pretrained_topologies.json.gz")) as stream:
        return json.load(stream)


@pytest.mark.parametrize("name", ["mobilenet", "mobilenetv2", "resnet18", "tinyyolov4"])
def test_pretrained_topologies_graphs_are_the_graphs_onnx_builds(topologies, name, monkeypatch):
    spec = parse_network(topologies[name])
    network = spec.image_network
    if network.metadata.output_nodes:  # a YOLO network: its raw heads
        _built_by_both(lambda: image_network_graph(network, network.metadata.output_nodes), monkeypatch)
    else:
        _built_by_both(lambda: deepnet_graph(spec, Settings()), monkeypatch)


@pytest.fixture(scope="module")
def eye_detector() -> dict:
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        return json.loads(archive.read(archive.namelist()[0]))


def test_the_eye_detectors_graphs_are_the_graphs_onnx_builds(eye_detector, monkeypatch):
    from sensenet.export.onnx_detector import detector_graph

    detector = create_model(eye_detector)
    network = detector.spec.image_network
    _built_by_both(lambda: image_network_graph(network, network.metadata.output_nodes), monkeypatch)
    _built_by_both(lambda: detector_graph(detector), monkeypatch)


def _canonical_and_valid(path) -> onnx.ModelProto:
    """The file parses, passes the full checker, and `onnx` writes back exactly its bytes."""
    written = path.read_bytes()
    model = onnx.load_from_string(written)
    onnx.checker.check_model(model, full_check=True)
    assert model.SerializeToString() == written
    return model


def test_the_exports_are_valid_and_canonical(eye_detector, tmp_path):
    """Field inputs (numeric, and categorical through ai.onnx.ml's LabelEncoder), the detector's
    decoding and suppression, and the metadata. test_convert_selfcontained and
    test_convert_detector check what they compute."""
    for k, case in enumerate(load_cases("regression.json.gz")):
        convert(case["model"], None, tmp_path / f"fields_{k}.onnx", "onnx")
        model = _canonical_and_valid(tmp_path / f"fields_{k}.onnx")
        assert {entry.key for entry in model.metadata_props} == {"sensenet"}
        assert {node.domain for node in model.graph.node} == {"", "ai.onnx.ml"}
    convert(eye_detector, None, tmp_path / "eyes.onnx", "onnx")
    detector = _canonical_and_valid(tmp_path / "eyes.onnx")
    assert [value.name for value in detector.graph.output] == ["boxes", "scores", "classes", "count"]
