"""The rest of the seed library's `sensenet.models.wrappers` functions, for code written against it.

Each does what the seed's did, through today's doors (`create_model`, `convert`).
"""

from __future__ import annotations

import os
from typing import Any

from sensenet.models.doors import convert, create_model


def is_deepnet(model: Any) -> bool:
    """Whether ``model`` is a network dict (it has ``layers`` or ``networks``)."""
    return isinstance(model, dict) and ("layers" in model or "networks" in model)


def bigml_resource(resource: Any) -> dict | None:
    """The ``network`` dict inside a BigML resource or deepnet dict, else None."""
    if not isinstance(resource, dict):
        return None
    wrapped = resource.get("object")
    for candidate in (
        wrapped.get("deepnet") if isinstance(wrapped, dict) else None,
        resource.get("deepnet"),
        resource.get("model"),
        resource,
    ):
        if isinstance(candidate, dict) and isinstance(candidate.get("network"), dict):
            return candidate["network"]
    return None


def model_from_dictionary(model_dict: dict, settings: Any = None) -> Any:
    """`create_model` of a dict (the seed's name for it)."""
    return create_model(model_dict, settings)


def model_from_bundle(bundle_file: str | os.PathLike) -> Any:
    """`create_model` of an .smbundle path (the seed's name for it)."""
    return create_model(bundle_file)


def to_tflite(model: Any, save_path: str | os.PathLike) -> None:
    """`convert(model, None, save_path, "tflite")` (the seed's name for it)."""
    convert(model, None, save_path, "tflite")
