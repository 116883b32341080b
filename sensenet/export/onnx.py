"""ONNX export through tf2onnx, from the same frozen graph the TFLite and TF.js exports use.

tf2onnx is pure Python (beside onnx, which sensenet's ONNX engine needs
anyway); it is imported only here, and a missing install says how to get it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensenet.exceptions import UnsupportedError
from sensenet.export.graph import frozen_function

ONNX_OPSET = 17


def write_onnx(model: Any, path: Path) -> None:
    try:
        import tf2onnx
    except ImportError:
        raise UnsupportedError(
            "ONNX export needs tf2onnx: pip install 'sensenet[onnx]' (or pip install tf2onnx)"
        ) from None
    function = frozen_function(model)
    tf2onnx.convert.from_graph_def(
        function.graph.as_graph_def(),
        input_names=[tensor.name for tensor in function.inputs],
        output_names=[tensor.name for tensor in function.outputs],
        opset=ONNX_OPSET,
        output_path=str(path),
    )
