"""Every form a user may hold a BigML deepnet in, reduced to its ``network`` dict."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from sensenet.exceptions import ModelFormatError
from sensenet.files.reading import MODEL_FILE, read_file
from sensenet.spec.fields import check_nesting

ACCEPTED_FORMS = (
    "a BigML deepnet resource ({'resource': ..., 'object': {'deepnet': {...}}}), "
    "{'deepnet': {...}}, a deepnet dict with a 'network' key, "
    "a network dict with 'layers' or 'networks', "
    "or the path of a .json or .json.gz file holding one of these"
)


@dataclass(frozen=True)
class ModelSource:
    """The network dict plus, when the user gave a whole deepnet, its field metadata."""

    network: dict
    deepnet: dict = field(default_factory=dict)
    origin: str = "network"


def read_json_file(path: str | os.PathLike) -> Any:
    """Parse a JSON file, gzipped or not (told apart by content, not by name): a regular file,
    read with size caps (`sensenet.files.reading`)."""
    name = os.fspath(path)
    data = read_file(name, MODEL_FILE, gunzip=True)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ModelFormatError(f"{name}: not valid JSON ({error})") from None


def _is_network(value: Any) -> bool:
    return isinstance(value, dict) and ("layers" in value or "networks" in value)


def find_network(anobject: Any) -> ModelSource:
    """Unwrap a resource, deepnet, network dict or file path to its network."""
    if isinstance(anobject, (str, os.PathLike)):
        return find_network(read_json_file(anobject))
    if not isinstance(anobject, dict):
        kind = type(anobject).__name__
        raise ModelFormatError(f"cannot read a model from {kind}; expected {ACCEPTED_FORMS}")
    check_nesting(anobject, "model")
    if _is_network(anobject):
        return ModelSource(anobject)

    wrapped = anobject.get("object")
    candidates = [
        ("object.deepnet", wrapped.get("deepnet") if isinstance(wrapped, dict) else None),
        ("deepnet", anobject.get("deepnet")),
        ("model", anobject.get("model")),
        ("", anobject),
    ]
    for origin, deepnet in candidates:
        if not isinstance(deepnet, dict) or not deepnet:
            continue
        if "network" in deepnet:
            where = f"{origin}.network" if origin else "network"
            if not _is_network(deepnet["network"]):
                raise ModelFormatError(f"{where}: expected a network dict with 'layers' or 'networks'")
            return ModelSource(deepnet["network"], deepnet, where)
        if origin:
            raise ModelFormatError(
                f"{origin}: this deepnet has no 'network' (a BigML model that has not finished training?)"
            )
    keys = sorted(str(key) for key in anobject)[:10]
    raise ModelFormatError(f"model format not recognised (keys: {keys}); expected {ACCEPTED_FORMS}")
