"""The whole model description: input fields, networks, output.

`parse_network` turns BigML's ``network`` dict into a frozen `ModelSpec`;
every engine and export is built from that object alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensenet.exceptions import ModelFormatError
from sensenet.spec.detection import check_heads
from sensenet.spec.fields import Fields, shown
from sensenet.spec.image_layers import ImageNetwork, parse_image_network
from sensenet.spec.inputs import CategoricalInput, ImageInput, InputField, NumericInput, parse_inputs
from sensenet.spec.layers import counting_parameters, parse_layers
from sensenet.spec.legacy import convert_legacy_layers, is_legacy_layer
from sensenet.spec.trees import TreeEmbedding, parse_trees

CLASSIFICATION = "classification"
REGRESSION = "regression"
BOUNDING_BOX = "bounding_box"

_OUTPUT_KINDS = {"categorical": CLASSIFICATION, "numeric": REGRESSION, "bounding_box": BOUNDING_BOX}


@dataclass(frozen=True)
class Output:
    kind: str
    classes: tuple[str, ...] | None = None
    mean: float = 0.0
    stdev: float = 1.0

    @property
    def width(self) -> int:
        return len(self.classes or ()) if self.kind == CLASSIFICATION else 1


@dataclass(frozen=True)
class Network:
    """One network: optional tree embedding, then layers on [trees, features]."""

    layers: tuple[Any, ...]
    trees: TreeEmbedding | None


@dataclass(frozen=True)
class ModelSpec:
    """A deepnet's inputs, networks and output.

    The readout networks read one feature vector: each input field's features
    in ``preprocess`` order, where an image field's features are the image
    network's output for that image (every image field shares `image_network`).
    """

    inputs: tuple[InputField, ...]
    networks: tuple[Network, ...]
    output: Output
    image_network: ImageNetwork | None = None

    def field_width(self, field: InputField) -> int:
        if isinstance(field, ImageInput):
            assert self.image_network is not None, "parse_network gives image fields their network"
            return self.image_network.feature_width
        return field.width

    @property
    def feature_width(self) -> int:
        """Width of the preprocessed (standardised, one-hot, image features) input vector."""
        return sum(self.field_width(field) for field in self.inputs)

    @property
    def image_inputs(self) -> tuple[ImageInput, ...]:
        """The image fields, in order: one pixel tensor each."""
        return tuple(f for f in self.inputs if isinstance(f, ImageInput))

    @property
    def numeric_inputs(self) -> tuple[NumericInput | CategoricalInput, ...]:
        """The fields that are columns of the numeric input matrix, in order."""
        return tuple(f for f in self.inputs if not isinstance(f, ImageInput))

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.output.classes


def parse_output(fields: Fields) -> Output:
    kind = _OUTPUT_KINDS[fields.string("type", choices=_OUTPUT_KINDS)]
    if kind == REGRESSION:
        stdev = fields.number("stdev", default=1.0)
        return Output(kind, mean=fields.number("mean", default=0.0), stdev=stdev)
    values = fields.raw("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise fields.error("values", "expected a non-empty list of class names (strings)")
    return Output(kind, classes=tuple(values))


def _parse_layer_list(
    fields: Fields, key: str, in_width: int, allow_empty: bool = False
) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    items = fields.children(key)
    if not items and allow_empty:
        return (), (in_width,)
    if not items:
        raise fields.error(key, "a network needs at least one layer")
    if all(is_legacy_layer(item.data) for item in items):
        return convert_legacy_layers(items, (in_width,))
    for position, item in enumerate(items[1:], start=1):
        wiring = item.raw("inputs", None)
        if wiring is not None and wiring != [position - 1]:
            raise item.error(
                "inputs",
                f"readout layers run in sequence: expected [{position - 1}] or none, got {shown(wiring)}",
            )
    return parse_layers(items, (in_width,))


def _parse_one_network(
    fields: Fields, trees_value: Any, trees_path: str, feature_width: int, output: Output
) -> Network:
    trees = parse_trees(trees_value, feature_width, trees_path) if trees_value else None
    in_width = feature_width + (trees.width if trees else 0)
    # A detector's boxes come from its image network's heads; it has no readout layers.
    detector = output.kind == BOUNDING_BOX
    layers, out_shape = _parse_layer_list(fields, "layers", in_width, allow_empty=detector)
    if not detector and out_shape != (output.width,):
        raise fields.error(
            "layers", f"the last layer gives shape {out_shape}, but the output needs ({output.width},)"
        )
    return Network(layers, trees)


def _network_trees(network: Fields, model: Fields) -> tuple[Any, str]:
    """A sub-network's ``trees``: true uses the model's forests, a list its own."""
    flag = network.raw("trees", False)
    if flag is True:
        if not model.raw("trees", None):
            raise model.error("trees", "a network asks for tree embeddings but the model has none")
        return model.raw("trees"), model.at("trees")
    return (flag or None), network.at("trees")


def _parse_image_network(fields: Fields, inputs: tuple[InputField, ...]) -> ImageNetwork | None:
    has_images = any(isinstance(field, ImageInput) for field in inputs)
    if not has_images:
        return None
    if fields.raw("image_network", None) is None:
        raise fields.error("image_network", "the model has image fields but no image network")
    return parse_image_network(fields.child("image_network"))


def _check_detector(
    fields: Fields, inputs: tuple[InputField, ...], network: ImageNetwork | None, class_count: int
) -> None:
    if len(inputs) != 1 or not isinstance(inputs[0], ImageInput) or network is None:
        raise fields.error("preprocess", "an object detector reads exactly one image field")
    if not network.metadata.heads:
        raise fields.error("image_network", "an object detector needs YOLO heads in metadata.outputs")
    check_heads(network.metadata.heads, network.node_shapes, class_count, fields.at("image_network.metadata"))


def _output_fields(fields: Fields) -> Fields:
    """Where the output is described: the top level, else (older multi-network deepnets) in each
    entry of ``networks``, where every entry must describe the same output."""
    if fields.raw("output_exposition", None) is not None or "networks" not in fields:
        return fields.child("output_exposition")
    members = fields.children("networks")
    if not members:
        raise fields.error("networks", "expected at least one network")
    described = [member for member in members if member.raw("output_exposition", None) is not None]
    if not described:
        raise fields.error("output_exposition", "missing here and in every entry of networks (required)")
    first = described[0]
    for other in described[1:]:
        if other.raw("output_exposition") != first.raw("output_exposition"):
            raise ModelFormatError(
                f"{first.at('output_exposition')} and {other.at('output_exposition')} describe different "
                "outputs; every network of a deepnet predicts the same objective"
            )
    return first.child("output_exposition")


@counting_parameters
def parse_network(data: Any, path: str = "network") -> ModelSpec:
    """Build a `ModelSpec` from BigML's ``network`` dict (``layers`` or ``networks``)."""
    fields = Fields(data, path)
    inputs = parse_inputs(fields.children("preprocess"), fields.at("preprocess"))
    image_network = _parse_image_network(fields, inputs)
    output = parse_output(_output_fields(fields))
    if output.kind == BOUNDING_BOX:
        _check_detector(fields, inputs, image_network, len(output.classes or ()))
    feature_width = ModelSpec(inputs, (), output, image_network).feature_width

    # ``networks`` wins over a top-level ``layers`` (older deepnets hold ``layers: []`` beside it).
    if "networks" in fields.data:
        members = fields.children("networks")
        if not members:
            raise fields.error("networks", "expected at least one network")
        networks = tuple(
            _parse_one_network(member, *_network_trees(member, fields), feature_width, output)
            for member in members
        )
    elif "layers" in fields.data:
        trees = fields.raw("trees", None)
        networks = (_parse_one_network(fields, trees, fields.at("trees"), feature_width, output),)
    else:
        raise ModelFormatError(f"{path}: a network needs 'layers' or 'networks'")
    return ModelSpec(inputs, networks, output, image_network)
