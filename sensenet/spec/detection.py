"""YOLO detection heads, as listed in an image network's ``metadata.outputs``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensenet.exceptions import ModelFormatError
from sensenet.spec.fields import Fields


@dataclass(frozen=True, eq=False)
class YoloHead:
    """One detection head: the layer whose output it decodes and how."""

    layer: int  # index of the image-network layer giving the raw head output
    anchors: np.ndarray  # (anchors, 2) width, height in input pixels
    stride: int
    xyscale: float


def parse_yolo_heads(metadata: Fields, layer_count: int) -> tuple[YoloHead, ...]:
    """The heads listed in ``metadata.outputs``, each checked against the network's layers."""
    heads = []
    for head in metadata.children("outputs"):
        layer = head.integer("input", minimum=0)
        if layer >= layer_count:
            raise head.error("input", f"names layer {layer}, but the network has {layer_count} layers")
        heads.append(
            YoloHead(
                layer=layer,
                anchors=head.array("anchors", [None, 2]),
                stride=head.integer("strides", minimum=1),
                xyscale=head.number("xyscale", default=1.0),
            )
        )
    if not heads:
        raise metadata.error("outputs", "a detector needs at least one head")
    return tuple(heads)


def check_heads(
    heads: tuple[YoloHead, ...], node_shapes: tuple[tuple[int, ...], ...], class_count: int, where: str
) -> None:
    """Each head's layer must give (grid_h, grid_w, anchors x (5 + classes)) values, positive anchors."""
    for i, head in enumerate(heads):
        at = f"{where}.outputs[{i}]"
        if head.anchors.size == 0 or np.any(head.anchors <= 0):
            raise ModelFormatError(f"{at}.anchors: expected one or more [width, height] pairs above 0")
        shape = node_shapes[head.layer]
        wanted = len(head.anchors) * (5 + class_count)
        if len(shape) != 3 or shape[2] != wanted:
            raise ModelFormatError(
                f"{at}: layer {head.layer} gives shape {shape}, but {len(head.anchors)} anchors and "
                f"{class_count} classes need (grid height, grid width, {wanted})"
            )
