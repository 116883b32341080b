"""ONNX export: the graph sensenet's own ONNX engine runs, built from the model spec.

One ONNX graph for both uses (`sensenet.runtime`), so an exported file
predicts exactly what the `onnx` engine predicts. The graph is checked
(inputs, full shape inference) before it is written: a model the builder
does not fully cover is refused rather than written wrong. A model read
from an .smbundle keeps no spec layers to build it from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensenet.exceptions import UnsupportedError
from sensenet.spec.inputs import ImageInput


def _expected_inputs(spec: Any) -> int:
    """The input matrix (when there are non-image fields) plus one input per image field."""
    images = sum(isinstance(field, ImageInput) for field in spec.inputs)
    return (1 if spec.numeric_inputs else 0) + images


def write_onnx(model: Any, path: Path) -> None:
    import onnx

    from sensenet.runtime.deepnet import deepnet_graph

    spec = model.spec
    if model.deepnet_type == "ObjectDetector":
        raise UnsupportedError(
            "ONNX export of object detectors is not supported (the ONNX builder gives the raw YOLO heads, "
            "not decoded, suppressed boxes); use tflite, tfjs or smbundle"
        )
    if not spec.networks:
        raise UnsupportedError(
            "this model was read from an .smbundle, which keeps no layer description to build an ONNX "
            "graph from; convert to onnx from the model JSON instead"
        )
    graph = deepnet_graph(spec, model.settings)
    if len(graph.graph.input) != _expected_inputs(spec):
        raise UnsupportedError(
            f"the ONNX builder gives {len(graph.graph.input)} input(s) for this model, which needs "
            f"{_expected_inputs(spec)} (its image inputs are not covered yet); use tflite, tfjs or smbundle"
        )
    try:
        onnx.checker.check_model(graph, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise UnsupportedError(f"the ONNX graph built for this model is not valid: {error}") from None
    path.write_bytes(graph.SerializeToString())
