"""The single place where images become arrays: decode any image form to RGB pixels, then fit
them to a network's input size exactly as BigML does."""

from sensenet.inputs.image import MISSING_IMAGE_SHAPE, load_image
from sensenet.inputs.rescale import RESCALERS, choose_rescale_type, rescale, resize_nearest

__all__ = [
    "MISSING_IMAGE_SHAPE",
    "RESCALERS",
    "choose_rescale_type",
    "load_image",
    "rescale",
    "resize_nearest",
]
