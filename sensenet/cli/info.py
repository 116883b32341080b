"""`sensenet info`: a readable summary of a model: inputs, layers, outputs."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from sensenet.cli.image_info import describe_image_network
from sensenet.cli.image_info import parameters as image_parameters
from sensenet.cli.model_file import ModelFile, add_model_arguments, open_model, split_model_argument
from sensenet.cli.usage import UsageError
from sensenet.spec.inputs import CategoricalInput, ImageInput, InputField, NumericInput
from sensenet.spec.layers import (
    Activation,
    BatchNormalization,
    Dense,
    DenseResidualBlock,
    Dropout,
    Flatten,
    Shape,
    WidthTiling,
)
from sensenet.spec.model import BOUNDING_BOX, CLASSIFICATION, ModelSpec
from sensenet.spec.source import find_network

HELP = "print a model's input fields, layers (shapes, parameters), image network and outputs"
DESCRIPTION = """\
Describe a BigML deepnet without predicting anything: its name and description,
its input fields in row order (how each is encoded: a numeric field's
standardisation and missing value, a categorical field's categories, an image
field's size and rescaling), its layers with the shape each gives and its
parameter count, the image network's layers (a long one summarised unless
--all-layers), and its output (the classes, a regression, or a detector's labels).
"""
SHOWN_VALUES = 6  # categories listed before "..."

# A layer's summary: its name, the shape it gives and its parameter count.
LayerSummary = tuple[str, Shape, int]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "sensenet info [options] (MODEL | --example NAME)"
    parser.description = DESCRIPTION
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="MODEL",
        help="a BigML deepnet JSON file (.json, .json.gz, a .zip of one), an .smbundle, or - for stdin",
    )
    add_model_arguments(parser)
    parser.add_argument("--all-layers", action="store_true", help="list every layer of a long image network")


def _parameters(layer: Any) -> int:
    """Every number the layer holds: the sum of its arrays' sizes."""
    return sum(
        value.size
        for value in (getattr(layer, f.name) for f in dataclasses.fields(layer))
        if isinstance(value, np.ndarray)
    )


def _nested(layer: DenseResidualBlock, shape: Shape) -> tuple[Shape, int]:
    out_shape, parameters = shape, 0
    for path in (layer.identity_path, layer.dense_path):
        rows, out_shape = summarize_layers(path, shape)
        parameters += sum(row[2] for row in rows)
    return out_shape, parameters


# layer dataclass -> (layer, input shape) -> summary; other layers keep their shape
LAYER_SUMMARIES: dict[type, Callable[[Any, Shape], LayerSummary]] = {
    Dense: lambda layer, shape: (f"dense {layer.activation}", (layer.weights.shape[1],), _parameters(layer)),
    Activation: lambda layer, shape: (f"activation {layer.function}", shape, 0),
    BatchNormalization: lambda layer, shape: ("batch normalization", shape, _parameters(layer)),
    Dropout: lambda layer, shape: (f"dropout ({layer.kind}, off at prediction)", shape, 0),
    Flatten: lambda layer, shape: ("flatten", (int(np.prod(shape)),), 0),
    WidthTiling: lambda layer, shape: ("width tiling", (layer.width,), 0),
    DenseResidualBlock: lambda layer, shape: (
        f"dense residual block {layer.activation}",
        *_nested(layer, shape),
    ),
}


def _summary(layer: Any, shape: Shape) -> LayerSummary:
    summarize = LAYER_SUMMARIES.get(type(layer))
    if summarize is None:
        return type(layer).__name__, shape, _parameters(layer)
    return summarize(layer, shape)


def summarize_layers(layers: tuple[Any, ...], shape: Shape) -> tuple[list[LayerSummary], Shape]:
    rows = []
    for layer in layers:
        row = _summary(layer, shape)
        rows.append(row)
        shape = row[1]
    return rows, shape


def _count(number: int, noun: str) -> str:
    """ "1 class", "3 classes"."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number} {noun if number == 1 else plural}"


def _values(values: tuple[str, ...]) -> str:
    shown = ", ".join(values[:SHOWN_VALUES])
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN_VALUES else "")


def _input_line(field: InputField, name: str, spec: ModelSpec) -> str:
    if isinstance(field, NumericInput):
        center, scale = f"{field.center:.6g}", f"{field.scale:.6g}"
        return f"{name}  numeric, standardised: (x - {center}) / {scale}; missing -> {center}"
    if isinstance(field, CategoricalInput):
        return f"{name}  categorical, one-hot over {len(field.values)}: {_values(field.values)}"
    if isinstance(field, ImageInput):
        assert spec.image_network is not None, "parse_network gives image fields their network"
        metadata = spec.image_network.metadata
        return (
            f"{name}  image: decoded to RGB, fitted to {metadata.width}x{metadata.height} "
            f"({metadata.rescale_type}), {metadata.loading_method}; {spec.field_width(field)} features"
        )
    return f"{name}  {type(field).__name__}"


def describe(model_file: ModelFile, spec: ModelSpec, all_layers: bool = False) -> list[str]:
    names = model_file.input_names
    resource = model_file.document.get("object", {}) if isinstance(model_file.document, dict) else {}
    lines = [f"model: {model_file.label}"]
    if isinstance(resource, dict) and resource.get("name"):
        lines.append(f"name: {resource['name']}")
    if isinstance(resource, dict) and resource.get("description"):
        lines.append(f"description: {resource['description']}")

    lines.append(
        f"inputs: {_count(len(spec.inputs), 'field')}, {_count(spec.feature_width, 'feature')} after encoding"
    )
    for field in spec.inputs:
        name = names[field.index] if names and field.index < len(names) else f"field {field.index}"
        lines.append(f"  [{field.index}] " + _input_line(field, repr(name) if names else name, spec))

    total = 0
    if model_file.is_bundle:
        lines.append(
            "layers: in the bundle's SavedModel graph (sensenet info lists them from the deepnet JSON)"
        )
    elif spec.image_network is not None:
        image_network_data = find_network(model_file.document).network["image_network"]
        lines.extend(describe_image_network(image_network_data, spec.image_network, all_layers))
        total += image_parameters(spec.image_network.nodes)
    for number, network in enumerate(spec.networks, start=1):
        if not network.layers:
            continue  # a detector: its heads are the image network's
        width = spec.feature_width
        title = f"network {number} of {len(spec.networks)}" if len(spec.networks) > 1 else "network"
        lines.append(f"{title}: input ({width},)")
        if network.trees is not None:
            trees = network.trees.features.shape[0]
            lines.append(f"  tree embedding: {trees} trees, {network.trees.width} features prepended")
            width += network.trees.width
        rows, _ = summarize_layers(network.layers, (width,))
        lines.append(f"  {'layer':<40} {'output':<10} {'parameters':>12}")
        for name, shape, parameters in rows:
            lines.append(f"  {name:<40} {str(shape):<10} {parameters:>12,}")
        total += sum(row[2] for row in rows)
    if not model_file.is_bundle:
        lines.append(f"parameters: {total:,}")

    output = spec.output
    if output.kind == BOUNDING_BOX:
        found = f"{_count(len(output.classes or ()), 'class')}: {_values(output.classes or ())}"
        lines.append(f"output: object detection (box, label, score per object), {found}")
    elif output.kind == CLASSIFICATION:
        classes = output.classes or ()
        lines.append(f"output: classification, {_count(len(classes), 'class')}: {_values(classes)}")
    else:
        spread = f"mean {output.mean:.6g}, stdev {output.stdev:.6g}"
        lines.append(f"output: {output.kind}, one value, de-normalised with {spread}")
    return lines


def run(args: argparse.Namespace) -> int:
    model_path, extra = split_model_argument(args, args.inputs)
    if extra:
        raise UsageError(f"info takes one model; unexpected argument(s) {extra}")
    model_file = open_model(model_path)
    print("\n".join(describe(model_file, model_file.create().spec, args.all_layers)))
    return 0
