"""Any image a user gives (a path, compressed bytes, a pixel array or None) -> RGB uint8 pixels."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Union

import numpy as np

from sensenet.exceptions import ImageError
from sensenet.files.reading import IMAGE_FILE, read_file
from sensenet.inputs.decode import decode_image
from sensenet.inputs.pixels import channel_order, pixels_from_array

ImageValue = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, list, None]

# What a missing image (None) becomes: one black pixel, as in the seed library; rescaling then
# turns it into an all-black network input.
MISSING_IMAGE_SHAPE = (1, 1, 3)


def _from_path(value: Any, color_space: str, path_prefix: str | None) -> np.ndarray:
    path = os.fspath(value)
    if path_prefix:
        path = os.path.join(os.fspath(path_prefix), path)
    data = read_file(path, IMAGE_FILE)
    return decode_image(data, f"image file {path!r}")


def _from_bytes(value: Any, color_space: str, path_prefix: str | None) -> np.ndarray:
    return decode_image(bytes(value), f"image bytes ({len(value)} bytes)")


def _from_array(value: Any, color_space: str, path_prefix: str | None) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ImageError(f"a nested list is not a pixel array: {error}") from None
    return pixels_from_array(array, color_space, f"pixel array of shape {array.shape}")


def _missing(value: Any, color_space: str, path_prefix: str | None) -> np.ndarray:
    return np.zeros(MISSING_IMAGE_SHAPE, dtype=np.uint8)


_LOADERS: tuple[tuple[type | tuple[type, ...], Callable[[Any, str, str | None], np.ndarray]], ...] = (
    ((str, os.PathLike), _from_path),
    ((bytes, bytearray, memoryview), _from_bytes),
    ((np.ndarray, list), _from_array),
    (type(None), _missing),
)


def load_image(value: ImageValue, *, color_space: str = "rgb", path_prefix: str | None = None) -> np.ndarray:
    """The (H, W, 3) uint8 RGB pixels of an image in any form a row may hold.

    ``value`` is a file path (joined to ``path_prefix`` when given, unless absolute), the bytes of a
    compressed image (see ``sensenet.inputs.decode``), a pixel array in ``color_space`` channel
    order (see ``sensenet.inputs.pixels``; ``color_space`` does not apply to files, which carry
    their own colour model), or None, which gives one black pixel. The result is always a new array.
    """
    channel_order(color_space)
    for types, loader in _LOADERS:
        if isinstance(value, types):
            return loader(value, color_space, path_prefix)
    raise ImageError(
        f"an image must be a file path, the bytes of an image file, a pixel array or None, "
        f"got {type(value).__name__}"
    )
