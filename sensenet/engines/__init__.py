"""The engines that can run a model spec, by name.

An engine is built from (spec, settings) and called with the input matrix
made by `sensenet.inputs.rows`, plus, for a model with image fields, a list of pixel
batches made by `sensenet.inputs.image_fields` (one float32 (rows, height, width, 3)
RGB 0-255 array per image field, in ``preprocess`` order): ``engine(matrix)``
or ``engine(matrix, images)``. It returns a float32 array (rows, outputs), and
has a `name` (its key here). Engines
are imported only when chosen, so a model never pays for an engine it does
not use.
"""

from __future__ import annotations

import importlib
from typing import Any

from sensenet.exceptions import SettingsError

# name -> "module:attribute" of the engine class
ENGINES: dict[str, str] = {
    "keras": "sensenet.engines.keras.deepnet:KerasEngine",
    "onnx": "sensenet.engines.onnx.engine:OnnxEngine",
}
DEFAULT_ENGINE = "onnx"

# name -> the class giving an image network's raw node outputs (a detector's heads)
NODE_ENGINES: dict[str, str] = {
    "keras": "sensenet.engines.keras.deepnet:KerasImageNetwork",
    "onnx": "sensenet.engines.onnx.engine:OnnxImageNetwork",
}


def engine_name(name: str | None) -> str:
    """The engine a setting names: `name`, or the default."""
    return name or DEFAULT_ENGINE


def _engine_class(registry: dict[str, str], name: str | None) -> Any:
    name = engine_name(name)
    if name not in registry:
        raise SettingsError(f"unknown engine {name!r}; expected one of {sorted(registry)}")
    module_name, attribute = registry[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def make_engine(name: str | None, spec: Any, settings: Any, **compiled: Any) -> Any:
    """The engine `name` for `spec`; `compiled` (``graph=`` ONNX bytes, for the onnx engine) is what
    an earlier build compiled the spec into, given instead of compiling it again."""
    return _engine_class(ENGINES, name)(spec, settings, **compiled)


def make_node_engine(
    name: str | None, network: Any, nodes: Any, threads: int | None = None, **compiled: Any
) -> Any:
    """Runs `network` on a pixel batch and returns the raw outputs of `nodes`, on `threads` threads
    (None: every core); `compiled` as for `make_engine`."""
    return _engine_class(NODE_ENGINES, name)(network, nodes, threads=threads, **compiled)
