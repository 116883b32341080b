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
class FieldNames:
    """What a full BigML resource says of its input fields: position i names row column i."""

    names: tuple[str, ...]
    ids: tuple[str, ...]
    objective: str | None = None


@dataclass(frozen=True)
class ModelSource:
    """The network dict plus, when the user gave a whole deepnet, its field metadata."""

    network: dict
    deepnet: dict = field(default_factory=dict)
    origin: str = "network"
    names: FieldNames | None = None


def field_names(document: Any) -> FieldNames | None:
    """The input field names and ids in row order, and the objective's name, when the model has them.

    A full BigML resource lists its input field ids in row order (``object.input_fields``,
    or the deepnet's own ``input_fields``) and names them in ``object.deepnet.fields``.
    """
    if not isinstance(document, dict):
        return None
    wrapped = document.get("object")
    resource, deepnet = (wrapped, wrapped.get("deepnet")) if isinstance(wrapped, dict) else (document, None)
    deepnet = deepnet if isinstance(deepnet, dict) else resource.get("deepnet") or resource
    fields = deepnet.get("fields") if isinstance(deepnet, dict) else None
    ids = resource.get("input_fields") or (deepnet.get("input_fields") if isinstance(deepnet, dict) else None)
    objective_id = resource.get("objective_field")
    if not isinstance(fields, dict) or not isinstance(ids, list):
        return None
    ids = [field_id for field_id in ids if field_id != objective_id]
    if not all(isinstance(fields.get(field_id), dict) and "name" in fields[field_id] for field_id in ids):
        return None
    objective = fields.get(objective_id) if isinstance(objective_id, str) else None
    objective_name = objective.get("name") if isinstance(objective, dict) else None
    names = tuple(str(fields[field_id]["name"]) for field_id in ids)
    return FieldNames(names, tuple(str(field_id) for field_id in ids), objective_name)


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
            return ModelSource(deepnet["network"], deepnet, where, field_names(anobject))
        if origin:
            raise ModelFormatError(
                f"{origin}: this deepnet has no 'network' (a BigML model that has not finished training?)"
            )
    keys = sorted(str(key) for key in anobject)[:10]
    raise ModelFormatError(f"model format not recognised (keys: {keys}); expected {ACCEPTED_FORMS}")
