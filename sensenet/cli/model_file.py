"""The model a command works on: a JSON file or a shipped example, with its field names.

A full BigML resource names its input fields (``object.input_fields`` holds
field ids in row order, ``object.deepnet.fields`` their names); a bare
network does not, so its rows are read by position.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensenet.examples import EXAMPLES, example_path
from sensenet.exceptions import ModelNotFoundError
from sensenet.models.wrappers import Deepnet, create_model
from sensenet.spec.source import read_json_file


@dataclass(frozen=True)
class ModelFile:
    label: str
    document: Any
    input_names: tuple[str, ...] | None  # position i names row column i
    objective_name: str | None

    def create(self, settings: Mapping[str, Any] | None = None) -> Deepnet:
        return create_model(self.document, settings)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example",
        metavar="NAME",
        help=f"use a model shipped with sensenet instead of a MODEL file: {', '.join(sorted(EXAMPLES))}",
    )


def split_model_argument(args: argparse.Namespace, positionals: Sequence[str]) -> tuple[str, list[str]]:
    """The model path (first positional, or the --example) and the remaining positionals."""
    if args.example is not None:
        return str(example_path(args.example)), list(positionals)
    if not positionals:
        raise ModelNotFoundError("no model given: name a MODEL file or use --example NAME")
    return positionals[0], list(positionals[1:])


def _object_and_deepnet(document: Any) -> tuple[dict, dict]:
    if not isinstance(document, dict):
        return {}, {}
    wrapped = document.get("object")
    if isinstance(wrapped, dict):
        return wrapped, wrapped.get("deepnet") or {}
    return document, document.get("deepnet") or document


def field_names(document: Any) -> tuple[tuple[str, ...] | None, str | None]:
    """The input field names in row order and the objective's name, when the model has them."""
    resource, deepnet = _object_and_deepnet(document)
    fields = deepnet.get("fields") if isinstance(deepnet, dict) else None
    ids = resource.get("input_fields") or (deepnet.get("input_fields") if isinstance(deepnet, dict) else None)
    objective_id = resource.get("objective_field")
    if not isinstance(fields, dict) or not isinstance(ids, list):
        return None, None
    ids = [field_id for field_id in ids if field_id != objective_id]
    if not all(isinstance(fields.get(field_id), dict) and "name" in fields[field_id] for field_id in ids):
        return None, None
    objective = fields.get(objective_id) if isinstance(objective_id, str) else None
    objective_name = objective.get("name") if isinstance(objective, dict) else None
    return tuple(str(fields[field_id]["name"]) for field_id in ids), objective_name


def open_model(path: str) -> ModelFile:
    document = read_json_file(path)
    names, objective = field_names(document)
    return ModelFile(path, document, names, objective)
