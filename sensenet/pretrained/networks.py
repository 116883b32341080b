"""The registry of pretrained networks: name -> a function building its full BigML network dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sensenet.exceptions import ModelFormatError
from sensenet.pretrained.mobilenets import mobilenet, mobilenetv2
from sensenet.pretrained.resnets import resnet18, resnet50
from sensenet.pretrained.xception import xception
from sensenet.pretrained.yolos import tinyyolov4, yolov4

NETWORKS: dict[str, Callable[..., dict]] = {
    "mobilenet": mobilenet,
    "mobilenetv2": mobilenetv2,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "xception": xception,
    "tinyyolov4": tinyyolov4,
    "yolov4": yolov4,
}


def get_network(name: str, labels: Sequence[str] | None = None) -> dict:
    """The topology of pretrained network `name`, as a BigML network dict.

    Args:
        name: one of `NETWORKS`: ``mobilenet``, ``mobilenetv2``, ``resnet18``, ``resnet50``,
            ``xception``, ``tinyyolov4``, ``yolov4``.
        labels: the class names; by default numbered placeholders of the network's class count
            (1000 ImageNet classes, 80 COCO objects).

    Returns:
        The network dict (``image_network``, ``layers``, ``preprocess``, ``output_exposition``),
        weights as initializer names: `get_weights` fetches the real ones.

    Raises:
        ModelFormatError: `name` is not a pretrained network.
    """
    if name not in NETWORKS:
        raise ModelFormatError(f"unknown pretrained network {name!r}; expected one of {sorted(NETWORKS)}")
    return NETWORKS[name](labels)


def network_version(name: str) -> str:
    """The version of `name`'s topology, which names its weights file."""
    return get_network(name)["image_network"]["metadata"]["version"]
