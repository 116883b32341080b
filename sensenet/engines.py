"""The engines that can run a model spec, by name.

An engine is built from (spec, settings) and called with the input matrix
made by `sensenet.load`; it returns a float32 array (rows, outputs), and has a
`name` (its key here). Engines
are imported only when chosen, so a model never pays for an engine it does
not use.
"""

from __future__ import annotations

import importlib
from typing import Any

from sensenet.exceptions import SettingsError

# name -> "module:attribute" of the engine class
ENGINES: dict[str, str] = {
    "keras": "sensenet.models.deepnet:KerasEngine",
    "onnx": "sensenet.runtime.engine:OnnxEngine",
}
DEFAULT_ENGINE = "onnx"


def make_engine(name: str | None, spec: Any, settings: Any) -> Any:
    name = name or DEFAULT_ENGINE
    if name not in ENGINES:
        raise SettingsError(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}")
    module_name, attribute = ENGINES[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)(spec, settings)
