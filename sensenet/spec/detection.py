"""YOLO detection heads, as listed in an image network's ``metadata.outputs``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensenet.spec.fields import Fields


@dataclass(frozen=True, eq=False)
class YoloHead:
    """One detection head: the layer whose output it decodes and how."""

    layer: int  # index of the image-network layer giving the raw head output
    anchors: np.ndarray  # (anchors, 2) width, height in input pixels
    stride: int
    xyscale: float


def parse_yolo_heads(metadata: Fields, layer_count: int) -> tuple[YoloHead, ...]:
    heads = []
    for head in metadata.children("outputs"):
        layer = head.integer("input", minimum=0)
        if layer >= layer_count:
            raise head.error("input", f"layer {layer} does not exist (the network has {layer_count})")
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
