"""ONNX export: the graph sensenet's own ONNX engine runs, built from the model spec.

One ONNX graph for both uses (`sensenet.engines.onnx`), so an exported file
predicts exactly what the `onnx` engine predicts. A detector's graph adds
decoding and suppression to the engine's raw heads (`sensenet.export.onnx_detector`). The graph is checked
(inputs, full shape inference) before it is written: a model the builder
does not fully cover is refused rather than written wrong. A model read
from an .smbundle keeps no spec layers to build it from.

Self-contained (the default): the non-image fields are inputs of their own,
named by the field, encoded inside the graph (`sensenet.export.onnx_fields`);
otherwise the graph takes the engine's input matrix. Either way the graph's
metadata (key ``sensenet``) describes the fields, classes and inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensenet.engines.onnx.deepnet import INPUT_NAME
from sensenet.exceptions import UnsupportedError
from sensenet.export.onnx_fields import add_description, with_field_inputs
from sensenet.spec.inputs import ImageInput


def _expected_inputs(model: Any) -> int:
    """The input matrix (when there are non-image fields) plus one input per image field; a
    detector also takes its image's original size (to give boxes in its pixels)."""
    spec = model.spec
    images = sum(isinstance(field, ImageInput) for field in spec.inputs)
    detector_size = 1 if model.deepnet_type == "ObjectDetector" else 0
    return (1 if spec.numeric_inputs else 0) + images + detector_size


def _deepnet_graph(model: Any) -> Any:
    from sensenet.engines.onnx.deepnet import deepnet_graph

    return deepnet_graph(model.spec, model.settings)


def _detector_graph(model: Any) -> Any:
    from sensenet.export.onnx_detector import detector_graph

    return detector_graph(model)


# deepnet_type -> the ONNX graph builder for that wrapper kind
GRAPHS: dict[str, Callable[[Any], Any]] = {"Deepnet": _deepnet_graph, "ObjectDetector": _detector_graph}


def _has_layers(spec: Any) -> bool:
    network = spec.image_network
    return bool(spec.networks) or (network is not None and bool(network.nodes))


def write_onnx(model: Any, path: Path, self_contained: bool = True) -> None:
    import onnx

    spec = model.spec
    if not _has_layers(spec):
        raise UnsupportedError(
            "this model was read from an .smbundle, which keeps no layer description to build an ONNX "
            "graph from; convert to onnx from the model JSON instead"
        )
    graph = GRAPHS[model.deepnet_type](model)
    if len(graph.graph.input) != _expected_inputs(model):
        raise UnsupportedError(
            f"the ONNX builder gives {len(graph.graph.input)} input(s) for this model, which needs "
            f"{_expected_inputs(model)} (its image inputs are not covered yet); use tflite, tfjs or smbundle"
        )
    images = [value.name for value in graph.graph.input if value.name != INPUT_NAME]
    inputs = {"matrix": INPUT_NAME if spec.numeric_inputs else None, "images": images}
    if self_contained and spec.numeric_inputs:
        graph, names = with_field_inputs(model, graph)
        inputs = {"fields": names, "images": images}
    add_description(model, graph, inputs)
    try:
        onnx.checker.check_model(graph, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise UnsupportedError(f"the ONNX graph built for this model is not valid: {error}") from None
    path.write_bytes(graph.SerializeToString())
