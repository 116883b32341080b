"""Every form a user may hold a BigML deepnet in, reduced to its ``network`` dict."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from sensenet.exceptions import ModelFormatError, UnsupportedError
from sensenet.files.reading import MODEL_FILE, inflate_gzip, read_file, unzip_one
from sensenet.files.sniffing import HEAD_BYTES, looks_like, sniff
from sensenet.spec.fields import check_nesting

ACCEPTED_FORMS = (
    "a BigML deepnet resource ({'resource': ..., 'object': {'deepnet': {...}}}), "
    "{'deepnet': {...}}, a deepnet dict with a 'network' key, "
    "a network dict with 'layers' or 'networks', "
    "or the path of a .json, .json.gz or .zip file holding one of these"
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


READ_FORMS = "BigML deepnet JSON (.json, .json.gz, or a .zip holding one) and .smbundle files"
_ZIPPED_MODEL = (".json", ".json.gz")

# What the formats `sensenet convert` writes (and sensenet cannot predict with) are, and what runs them.
FOREIGN_FORMATS: dict[str, tuple[str, str]] = {
    "tflite": ("a TensorFlow Lite model", "ai_edge_litert's Interpreter (tflite_predict for image models)"),
    "onnx": ("an ONNX model", "onnxruntime"),
    "tfjs": ("a TensorFlow.js graph-model directory", "@tensorflow/tfjs (tf.loadGraphModel)"),
    "h5": ("a Keras weights file", "Keras, on the model built from the deepnet's JSON"),
}


def _foreign(shown: str, kind: str) -> UnsupportedError:
    what, runner = FOREIGN_FORMATS[kind]
    return UnsupportedError(
        f"{shown} is {what} (`sensenet convert --to {kind}` writes those); sensenet reads {READ_FORMS}. "
        f"Run it with {runner}, or give sensenet the deepnet JSON it was made from"
    )


def read_model_file(path: str | os.PathLike) -> Any:
    """The deepnet document in the file at `path`: JSON, gzipped JSON or a .zip holding one (told
    apart by content, not by name), read as a regular file with size caps; any other file is
    named for what it looks like (`sensenet.files.sniffing`)."""
    name = os.fspath(path)
    if os.path.isdir(name) and os.path.isfile(os.path.join(name, "model.json")):
        raise _foreign(name, "tfjs")
    return read_model_bytes(read_file(name, MODEL_FILE), name)


def read_model_bytes(data: bytes, label: str) -> Any:
    """The deepnet document in `data` (a model file's bytes, from `label`): see `read_model_file`."""
    signature = sniff(data[:HEAD_BYTES])
    if signature is not None and signature.kind == "zip":  # BigML's download: one JSON file inside
        member, data = unzip_one(data, MODEL_FILE, repr(label), _ZIPPED_MODEL)
        label = f"{label}:{member}"
        signature = sniff(data[:HEAD_BYTES])
    if signature is not None and signature.kind == "gzip":
        data = inflate_gzip(data, MODEL_FILE, repr(label))
        signature = sniff(data[:HEAD_BYTES])
    kind = signature.kind if signature is not None else None
    if kind in FOREIGN_FORMATS:
        raise _foreign(label, kind)
    if kind == "smbundle":
        raise ModelFormatError(f"{label} is a Sense/Net .smbundle: give its path (a file name) to read it")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if label.lower().endswith(".onnx"):  # protobuf has no signature: its name is all there is
            raise _foreign(label, "onnx") from None
        if signature is not None or not _is_json_like(data):
            raise ModelFormatError(
                f"{label} is {looks_like(data)}, not a model; sensenet reads {READ_FORMS}"
            ) from None
        raise ModelFormatError(f"{label}: not valid JSON ({error}); sensenet reads {READ_FORMS}") from None


def _is_json_like(data: bytes) -> bool:
    """Whether `data` may be a broken JSON document (worth the parser's error), not another file."""
    return data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _is_network(value: Any) -> bool:
    return isinstance(value, dict) and ("layers" in value or "networks" in value)


def find_network(anobject: Any) -> ModelSource:
    """Unwrap a resource, deepnet, network dict or file path to its network."""
    if isinstance(anobject, (str, os.PathLike)):
        return find_network(read_model_file(anobject))
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
