"""ONNX export: the graph sensenet's own ONNX engine runs, built from the model spec.

One ONNX graph for both uses (`sensenet.runtime`), so an exported file
predicts exactly what the `onnx` engine predicts. A model read from an
.smbundle keeps no spec layers to build it from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensenet.exceptions import UnsupportedError


def write_onnx(model: Any, path: Path) -> None:
    from sensenet.runtime.deepnet import deepnet_graph

    if not model.spec.networks:
        raise UnsupportedError(
            "this model was read from an .smbundle, which keeps no layer description to build an ONNX "
            "graph from; convert to onnx from the model JSON instead"
        )
    path.write_bytes(deepnet_graph(model.spec, model.settings).SerializeToString())
