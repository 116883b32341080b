"""The model a command works on: a file, stdin ("-") or a shipped example, with its field names.

The file is read as the Python API reads it (`sensenet.spec.source.read_model_file`: a
deepnet's JSON, gzipped or not, or BigML's ``.zip`` holding one; any other file is named for
what it looks like), plus ``.smbundle`` files (`sensenet convert --to smbundle`), and stdin.

A full BigML resource names its input fields (``object.input_fields`` holds
field ids in row order, ``object.deepnet.fields`` their names); a bare
network does not, so its rows are read by position.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensenet.cli.usage import UsageError
from sensenet.examples import EXAMPLES, example_path
from sensenet.exceptions import UnsupportedError
from sensenet.export.bundle import GUARD, is_bundle_path
from sensenet.files.reading import read_head
from sensenet.models.doors import create_model
from sensenet.models.model_wrapper import ModelWrapper
from sensenet.spec.source import field_names, read_model_bytes, read_model_file

STDIN = "-"
CACHE_HELP = """\
A model file's first run keeps what the model compiles into in the compiled-model
cache; later runs start from it without parsing the JSON. --no-cache (or
SENSENET_CACHE=0) builds the model from its file every time (see sensenet cache -h).
"""


@dataclass
class ModelFile:
    """A model named on the command line: its file (read only when its document is asked for, so
    that a model from the compiled-model cache never parses it), or the document piped in."""

    label: str
    path: str | None  # None: the document came from stdin
    is_bundle: bool = False
    _document: Any = None

    @property
    def document(self) -> Any:
        """The deepnet's JSON document (for a bundle, its path)."""
        if self._document is None:
            self._document = self.path if self.is_bundle else read_model_file(self.label)
        return self._document

    @property
    def input_names(self) -> tuple[str, ...] | None:
        """The input field names in row order, when the model has them."""
        return None if self.is_bundle else _names(self.document)

    def create(self, settings: Mapping[str, Any] | None = None) -> ModelWrapper:
        """The model (from the compiled-model cache unless the settings or SENSENET_CACHE say no);
        a bundle brings its own settings."""
        if self.is_bundle:
            from sensenet.models.bundled import model_from_bundle

            return model_from_bundle(self.document)
        model = create_model(self.path or self.document, settings, cache_default=True)
        assert isinstance(model, ModelWrapper), "the command line never builds a feature extractor here"
        return model


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="build the model from its file, neither reading nor filling the compiled-model cache "
        "(also SENSENET_CACHE=0; see `sensenet cache info`)",
    )


def cache_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``cache`` setting --no-cache gives (only when given)."""
    return {"cache": False} if getattr(args, "no_cache", False) else {}


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


def _from_stdin() -> ModelFile:
    if sys.stdin.isatty():
        raise UsageError("the model is - (stdin), but nothing is piped in: pipe the deepnet's JSON in")
    data = sys.stdin.buffer.read()
    if data.startswith(GUARD):
        raise UnsupportedError("an .smbundle cannot be read from stdin: give its file name")
    return ModelFile("stdin", None, _document=read_model_bytes(data, "stdin"))


def open_model(path: str) -> ModelFile:
    """The model at `path` ("-": stdin), read by what the file holds."""
    if path == STDIN:
        return _from_stdin()
    if os.path.isdir(path):
        read_model_file(path)  # the reader's error: a directory, or a TF.js model's
    head = read_head(path, len(GUARD))  # a missing file, a FIFO or a device refused here
    return ModelFile(path, path, is_bundle=head == GUARD or is_bundle_path(path))
