"""The rest of the seed library's `sensenet.models.wrappers` functions, for code written against it.

Each does what the seed's did, through today's doors (`create_model`, `convert`).
"""

from __future__ import annotations

import os
from typing import Any

from sensenet.models.doors import convert, create_model


def is_deepnet(model: Any) -> bool:
    """Whether ``model`` is a network dict (it has ``layers`` or ``networks``).

    Args:
        model: anything.

    Returns:
        True for a BigML ``network`` dict.
    """
    return isinstance(model, dict) and ("layers" in model or "networks" in model)


def bigml_resource(resource: Any) -> dict | None:
    """The ``network`` dict inside a BigML resource or deepnet dict.

    Args:
        resource: a BigML resource, deepnet dict or network dict (anything else gives None).

    Returns:
        The ``network`` dict, or None when there is none.
    """
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
    """`create_model` of a dict (the seed's name for it).

    Args:
        model_dict: a BigML resource, deepnet or network dict.
        settings: as for `create_model`.

    Returns:
        As `create_model`.

    Raises:
        ModelFormatError: as `create_model`.
        SettingsError: as `create_model`.
    """
    return create_model(model_dict, settings)


def model_from_bundle(bundle_file: str | os.PathLike) -> Any:
    """`create_model` of an .smbundle path (the seed's name for it).

    Args:
        bundle_file: the ``.smbundle`` file (it brings its own settings).

    Returns:
        As `create_model`.

    Raises:
        ModelNotFoundError: no such file.
        ModelFormatError: not a bundle this library reads.
        MissingExtraError: bundles need the ``tensorflow`` extra.
    """
    return create_model(bundle_file)


def to_tflite(model: Any, save_path: str | os.PathLike) -> None:
    """`convert(model, None, save_path, "tflite")` (the seed's name for it).

    Args:
        model: as for `convert`.
        save_path: the ``.tflite`` file to write.

    Raises:
        OutputPathError: as `convert` (an existing file is not replaced).
        MissingExtraError: TFLite needs the ``tensorflow`` extra.
    """
    convert(model, None, save_path, "tflite")
