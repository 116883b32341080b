"""The whole network dict around an image network: readout, preprocess, output exposition.

Pretrained networks are single-image models (one ``image`` input) whose
outputs are either ImageNet classes (a dense softmax readout) or COCO objects
(YOLO heads, no readout). Class names are not shipped with the package: the
defaults are numbered placeholders of the right count, and every builder takes
the real names as `labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sensenet.pretrained.blocks import KERNEL_INITIALIZER, LayerGraph

IMAGENET_CLASSES = 1000
COCO_CLASSES = 80
ANCHORS_PER_SCALE = 3
BOX_VALUES = 5  # x, y, width, height, objectness: before the class scores of each anchor


def placeholder_labels(prefix: str, count: int) -> list[str]:
    """``prefix_000``, ``prefix_001``, ...: stand-ins for class names the package does not ship."""
    width = len(str(count - 1))
    return [f"{prefix}_{index:0{width}d}" for index in range(count)]


def imagenet_labels(labels: Sequence[str] | None) -> list[str]:
    return placeholder_labels("imagenet", IMAGENET_CLASSES) if labels is None else list(labels)


def coco_labels(labels: Sequence[str] | None) -> list[str]:
    return placeholder_labels("coco", COCO_CLASSES) if labels is None else list(labels)


def yolo_head_filters(classes: int) -> int:
    return ANCHORS_PER_SCALE * (BOX_VALUES + classes)


def image_metadata(
    name: str, version: str, size: int, loading_method: str, rescale_type: str, outputs: Any
) -> dict[str, Any]:
    """What BigML stores beside the layers; `version` also names the weights file."""
    return {
        "base_image_network": name,
        "version": version,
        "input_image_shape": [size, size, 3],
        "loading_method": loading_method,
        "rescale_type": rescale_type,
        "outputs": outputs,
    }


def _network(image_layers: list[dict], metadata: dict, readout: list[dict], exposition: dict) -> dict:
    return {
        "image_network": {"layers": image_layers, "metadata": metadata},
        "layers": readout,
        "preprocess": [{"index": 0, "type": "image"}],
        "output_exposition": exposition,
        "trees": None,
    }


def image_classifier(
    graph: LayerGraph, metadata: dict[str, Any], labels: list[str], separate_softmax: bool = False
) -> dict:
    """A classifier: pooled image features -> dense -> softmax (as its own layer when `separate_softmax`)."""
    readout = LayerGraph()
    readout.add(
        "dense",
        weights=KERNEL_INITIALIZER,
        offset="zeros",
        activation_function="linear" if separate_softmax else "softmax",
        number_of_nodes=len(labels),
    )
    if separate_softmax:
        readout.add("activation", activation_function="softmax")
    exposition = {"type": "categorical", "values": labels}
    return _network(graph.layers, metadata, readout.layers, exposition)


def object_detector(graph: LayerGraph, metadata: dict[str, Any], labels: list[str]) -> dict:
    """A YOLO detector: the heads named in ``metadata["outputs"]`` are the outputs, no readout."""
    return _network(graph.layers, metadata, [], {"type": "bounding_box", "values": labels})
