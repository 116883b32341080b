"""Pixel arrays a user gives -> RGB uint8, by one documented rule.

Shapes: (H, W) or (H, W, 1) grey (copied into the three channels), (H, W, 3) colour, (H, W, 4)
colour plus alpha (alpha dropped, as BigML drops it). Colour channels come in the order
``color_space`` names, in any case: "rgb" and "rgba" red first, "bgr" and "bgra" blue first; the
trailing "a" only says that a fourth channel, when there is one, is alpha.

Values: integer arrays hold levels 0..255. Float arrays hold [0, 1] when their largest colour value
is at most 1.0, and [0, 255] otherwise (so a float image whose brightest value is 1.0 or less is
read as [0, 1]); they are scaled to 0..255 and rounded to the nearest level, ties to even. NaN,
infinite, negative or too large values are refused, never clipped.
"""

from __future__ import annotations

import numpy as np

from sensenet.exceptions import ImageError, SettingsError

CHANNEL_ORDERS: dict[str, tuple[int, int, int]] = {
    "rgb": (0, 1, 2),
    "rgba": (0, 1, 2),
    "bgr": (2, 1, 0),
    "bgra": (2, 1, 0),
}
MAX_LEVEL = 255


def channel_order(color_space: str) -> tuple[int, int, int]:
    """Where red, green and blue sit in an array of this colour space."""
    key = color_space.lower() if isinstance(color_space, str) else None
    if key not in CHANNEL_ORDERS:
        raise SettingsError(
            f"unknown color_space {color_space!r}: expected one of {list(CHANNEL_ORDERS)} (any case)"
        )
    return CHANNEL_ORDERS[key]


def _colour_channels(array: np.ndarray, order: tuple[int, int, int], name: str) -> np.ndarray:
    """(H, W, 3) in RGB order, or (H, W, 1) for grey, without converting values yet."""
    if array.ndim == 2:
        return array[:, :, np.newaxis]
    if array.ndim != 3:
        raise ImageError(
            f"{name}: a pixel array must have 2 dimensions (H, W) or 3 (H, W, channels), got {array.ndim}"
        )
    channels = array.shape[2]
    if channels == 1:
        return array
    if channels in (3, 4):
        return array[:, :, list(order)]
    raise ImageError(
        f"{name}: a pixel array must have 1 (grey), 3 (colour) or 4 (colour and alpha) channels, "
        f"got {channels}"
    )


def _levels(array: np.ndarray, name: str) -> np.ndarray:
    """uint8 levels 0..255 from integer levels or floats in [0, 1] or [0, 255]."""
    kind = array.dtype.kind
    if kind not in "iuf":
        raise ImageError(
            f"{name}: pixel values must be integers 0..255 or floats in [0, 1] or [0, 255], "
            f"got dtype {array.dtype}"
        )
    if array.dtype == np.uint8:
        return array
    if kind == "f" and not np.isfinite(array).all():
        raise ImageError(f"{name}: pixel values must be finite numbers, got NaN or infinity")
    low, high = array.min(), array.max()
    if low < 0 or high > MAX_LEVEL:
        raise ImageError(
            f"{name}: pixel values must lie in 0..255 (floats in [0, 1] or [0, 255]), "
            f"got values from {low} to {high}"
        )
    if kind != "f":
        return array.astype(np.uint8)
    scale = MAX_LEVEL if high <= 1.0 else 1
    return np.rint(array.astype(np.float64) * scale).astype(np.uint8)


def pixels_from_array(array: np.ndarray, color_space: str, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of a user's pixel array (see the module docstring for the rules)."""
    order = channel_order(color_space)
    if 0 in array.shape:
        raise ImageError(f"{name}: a pixel array needs at least one pixel")
    levels = _levels(_colour_channels(array, order, name), name)
    if levels.shape[2] == 1:
        levels = np.repeat(levels, 3, axis=2)
    return np.array(levels, dtype=np.uint8, order="C")
