"""The model a command works on: a file, stdin ("-") or a shipped example, with its field names.

sensenet reads the forms BigML and sensenet itself write: a deepnet's JSON
(gzipped or not), a ``.zip`` holding one such JSON file (as BigML's downloads
come), and ``.smbundle`` files (`sensenet convert --to smbundle`). Files of the
other formats `sensenet convert` writes are recognised and named, with what
to run them with. Which reader applies is told from the file's first bytes,
then from its name.

A full BigML resource names its input fields (``object.input_fields`` holds
field ids in row order, ``object.deepnet.fields`` their names); a bare
network does not, so its rows are read by position.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sensenet.cli.usage import UsageError
from sensenet.examples import EXAMPLES, example_path
from sensenet.exceptions import ModelFormatError, ModelNotFoundError, UnsupportedError
from sensenet.export.bundle import GUARD
from sensenet.files.reading import open_regular
from sensenet.models.doors import create_model
from sensenet.models.model_wrapper import ModelWrapper
from sensenet.spec.source import field_names, read_json_file

STDIN = "-"
MAX_ZIPPED_JSON_BYTES = 2 << 30  # a zipped model's declared size above this is refused before reading
READ_FORMS = "BigML deepnet JSON (.json, .json.gz, or a .zip holding one) and .smbundle files"


@dataclass(frozen=True)
class ModelFile:
    label: str
    document: Any  # the deepnet JSON, or the path of an .smbundle
    input_names: tuple[str, ...] | None  # position i names row column i
    is_bundle: bool = False

    def create(self, settings: Mapping[str, Any] | None = None) -> ModelWrapper:
        """The model; a bundle brings its own settings."""
        if self.is_bundle:
            from sensenet.models.bundled import model_from_bundle

            return model_from_bundle(self.document)
        model = create_model(self.document, settings)
        assert isinstance(model, ModelWrapper), "the command line never builds a feature extractor here"
        return model


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example",
        metavar="NAME",
        choices=sorted(EXAMPLES),
        help=f"use a model shipped with sensenet instead of a MODEL file: {', '.join(sorted(EXAMPLES))}",
    )


def split_model_argument(args: argparse.Namespace, positionals: Sequence[str]) -> tuple[str, list[str]]:
    """The model path (first positional, or the --example) and the remaining positionals."""
    example = getattr(args, "example", None)
    if example is not None:
        return str(example_path(example)), list(positionals)
    if not positionals:
        alternative = " or use --example NAME" if hasattr(args, "example") else ""
        raise UsageError(f"no model given: name a MODEL file (or - for stdin){alternative}")
    return positionals[0], list(positionals[1:])


def _names(document: Any) -> tuple[str, ...] | None:
    """The input field names in row order, when the model has them."""
    names = field_names(document)
    return names.names if names is not None else None


def _json_bytes(data: bytes, label: str) -> Any:
    """A deepnet's JSON from bytes, gzipped or not."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise ModelFormatError(f"{label}: corrupt or truncated gzip data ({error})") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ModelFormatError(f"{label}: not valid JSON ({error}); sensenet reads {READ_FORMS}") from None


def _zipped_json(source: str | io.BytesIO, label: str) -> Any:
    """The one JSON file inside a .zip (BigML's downloads, the detection fixture)."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = [member for member in archive.infolist() if not member.is_dir()]
            candidates = [m for m in members if m.filename.lower().endswith((".json", ".json.gz"))]
            if len(members) == 1:
                candidates = members
            if len(candidates) != 1:
                names = [member.filename for member in members]
                raise ModelFormatError(
                    f"{label}: a model .zip must hold one JSON file; it holds {names[:10]}: unzip it "
                    "and give the deepnet's JSON file"
                )
            member = candidates[0]
            if member.file_size > MAX_ZIPPED_JSON_BYTES:
                raise ModelFormatError(
                    f"{label}: {member.filename} is {member.file_size:,} bytes unzipped, more than the "
                    f"{MAX_ZIPPED_JSON_BYTES:,} a model may take"
                )
            data = archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise ModelFormatError(f"{label}: corrupt or unsupported .zip ({error})") from None
    return _json_bytes(data, f"{label}:{member.filename}")


# What the formats `sensenet convert` writes (and sensenet cannot predict with) are, and what runs them.
FOREIGN_FORMATS: dict[str, tuple[str, str]] = {
    "tflite": ("a TensorFlow Lite model", "ai_edge_litert's Interpreter (tflite_predict for image models)"),
    "onnx": ("an ONNX model", "onnxruntime"),
    "tfjs": ("a TensorFlow.js graph-model directory", "@tensorflow/tfjs (tf.loadGraphModel)"),
    "h5": ("a Keras weights file", "Keras, on the model built from the deepnet's JSON"),
}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"


def _foreign(path: str, kind: str) -> UnsupportedError:
    what, runner = FOREIGN_FORMATS[kind]
    return UnsupportedError(
        f"{path} is {what} (`sensenet convert --to {kind}` writes those); sensenet reads {READ_FORMS}. "
        f"Run it with {runner}, or give sensenet the deepnet JSON it was made from"
    )


def _file_kind(path: str) -> str:
    """What a model path holds: "json", "zip", "bundle" or one of `FOREIGN_FORMATS`."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "model.json")):
            return "tfjs"
        raise ModelNotFoundError(f"{path} is a directory; name a model file")
    if not os.path.exists(path):
        raise ModelNotFoundError(f"model file not found: {path}")
    with open_regular(path) as stream:  # a FIFO or device is refused, never waited on
        head = stream.read(len(GUARD))
    if head.startswith(GUARD):
        return "bundle"
    if head.startswith(ZIP_SIGNATURE):
        return "zip"
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(HDF5_SIGNATURE):
        return "h5"
    if path.lower().endswith(".onnx"):
        return "onnx"
    return "json"


def _from_stdin() -> ModelFile:
    if sys.stdin.isatty():
        raise UsageError("the model is - (stdin), but nothing is piped in: pipe the deepnet's JSON in")
    data = sys.stdin.buffer.read()
    document = _zipped_json(io.BytesIO(data), "stdin") if data.startswith(ZIP_SIGNATURE) else None
    if document is None:
        if data.startswith(GUARD):
            raise UnsupportedError("an .smbundle cannot be read from stdin: give its file name")
        document = _json_bytes(data, "stdin")
    return ModelFile("stdin", document, _names(document))


READERS: dict[str, Callable[[str], Any]] = {
    "json": read_json_file,
    "zip": lambda path: _zipped_json(path, path),
}


def open_model(path: str) -> ModelFile:
    """The model at `path` ("-": stdin), read by what the file holds."""
    if path == STDIN:
        return _from_stdin()
    kind = _file_kind(path)
    if kind == "bundle":
        return ModelFile(path, path, None, is_bundle=True)
    if kind in FOREIGN_FORMATS:
        raise _foreign(path, kind)
    document = READERS[kind](path)
    return ModelFile(path, document, _names(document))
