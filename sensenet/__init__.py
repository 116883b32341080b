"""Sense/Net: BigML deepnets as local compute graphs that predict exactly as BigML does.

Start with `create_model`: give it a deepnet downloaded from BigML (the resource dict, its
JSON file's path, or an .smbundle) and call the model on rows::

    from sensenet import create_model

    model = create_model("my_deepnet.json")
    model([5.1, "red", None])  # array (rows, outputs): class probabilities or the regression value
    model.predict([5.1, "red", None])  # records: {"prediction": ..., "probability": ..., ...}

A YOLO deepnet gives an object detector (call it on an image). `convert` writes a model as
TFLite, TF.js, .smbundle, h5 or ONNX; `create_image_feature_extractor` turns an image model,
or the name of a pretrained network, into an image feature extractor; `Settings` documents
the settings all three take (a plain dict works too). Every error raised on bad input is a
`SensenetError`. From a shell: `sensenet --help`.

These four are imported on first use, so `import sensenet` stays light (no numpy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sensenet._version import __version__
from sensenet.exceptions import (
    DownloadError,
    ImageError,
    InputDataError,
    MissingExtraError,
    ModelFormatError,
    ModelNotFoundError,
    OutputPathError,
    SensenetError,
    SettingsError,
    UnsupportedError,
)

if TYPE_CHECKING:  # what type checkers see; at run time each is imported on first access
    from sensenet.models.doors import convert, create_image_feature_extractor, create_model
    from sensenet.settings import Settings

# the entry points, each imported from its module on first access (PEP 562)
_ENTRY_POINTS = {
    "create_model": "sensenet.models.doors",
    "convert": "sensenet.models.doors",
    "create_image_feature_extractor": "sensenet.models.doors",
    "Settings": "sensenet.settings",
}

__all__ = [
    "DownloadError",
    "ImageError",
    "InputDataError",
    "MissingExtraError",
    "ModelFormatError",
    "ModelNotFoundError",
    "OutputPathError",
    "SensenetError",
    "Settings",
    "SettingsError",
    "UnsupportedError",
    "__version__",
    "convert",
    "create_image_feature_extractor",
    "create_model",
]


def __getattr__(name: str) -> Any:
    if name not in _ENTRY_POINTS:
        raise AttributeError(f"module 'sensenet' has no attribute {name!r}")
    value = getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
