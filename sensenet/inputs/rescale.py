"""Fitting an image to a network's input size as BigML does: warp, pad or crop, nearest neighbour.

Every resize reproduces TensorFlow 2's ``tf.image.resize(image, size, method="nearest")``
(half-pixel centres, float32 source coordinates), so resizing here or inside an exported graph
gives the same pixels. Pad and crop sizes are computed in float32, as BigML's graph computes them:

- warp: resize to (height, width), ignoring the aspect ratio;
- pad: scale by min(height / H, width / W), round each side (ties to even), resize, then fill the
  bottom rows and right columns with one value for all channels: the float32 mean of the resized
  image's levels over all its pixels and channels, as BigML's ``tf.reduce_mean`` of the float
  image computes it (`sensenet.inputs.float32_mean`), so generally not a whole level. The seed's graph padded
  by the float shortfall truncated, one pixel short of the target when the scaled side's fraction
  lies in (0, 0.5]; here the result always has the target size;
- crop: scale by max(height / H, width / W), round each side, resize, then keep the window whose
  offset is round((scaled side - target side) / 2) computed on the unrounded scaled side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensenet.exceptions import ImageError, SettingsError
from sensenet.inputs.float32_mean import float32_mean

DEFAULT_RESCALE_TYPE = "warp"


def _source_indices(in_size: int, out_size: int, start: int = 0, count: int | None = None) -> np.ndarray:
    """The input row (or column) TensorFlow's nearest resize reads for output ones
    ``start .. start + count`` (default: all): a crop window never computes the whole scaled side."""
    scale = np.float32(in_size) / np.float32(out_size)
    stop = out_size if count is None else min(out_size, start + count)
    positions = np.arange(start, stop, dtype=np.int64).astype(np.float32)
    centres = (positions + np.float32(0.5)) * scale
    return np.minimum(np.floor(centres).astype(np.intp), in_size - 1)


def _scaled_sides(image: np.ndarray, height: int, width: int, pick: Callable) -> tuple[np.ndarray, Any]:
    """The float32 scaled (H, W) and their rounded integer sizes (at least one pixel)."""
    in_sides = np.array(image.shape[:2], dtype=np.float32)
    out_sides = np.array([height, width], dtype=np.float32)
    ratios = out_sides / in_sides
    scaled = in_sides * pick(ratios[0], ratios[1])
    return scaled, np.maximum(np.round(scaled), 1).astype(np.intp)


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` resized to (height, width) exactly as TensorFlow's nearest-neighbour resize."""
    rows = _source_indices(image.shape[0], height)
    columns = _source_indices(image.shape[1], width)
    return _gather(image, rows, columns)


def _gather(image: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The pixels at every (row, column) pair, indexed in one step: never a full-size intermediate
    (taking rows first would copy a 1 x 10,000,000 image's one row to every output row)."""
    return image[rows[:, np.newaxis], columns[np.newaxis, :]]


@dataclass(frozen=True)
class Placement:
    """Where an image lands in the network input: resized to (height, width) pixels, then shifted
    up and left by (top, left) (a crop); what it does not cover is padding. ``scale_y`` and
    ``scale_x`` are the exact resize ratios (network pixels per original pixel), which map
    coordinates back: the rounded sizes would be off by up to half a pixel per side.
    ``network`` is, for pad, the network input's (height, width): BigML maps pad boxes back
    from there (see `to_original_pixels`)."""

    height: int
    width: int
    scale_y: float
    scale_x: float
    top: int = 0
    left: int = 0
    network: tuple[int, int] | None = None


def _warp_placement(image: np.ndarray, height: int, width: int) -> Placement:
    scale_y = np.float32(height) / np.float32(image.shape[0])
    scale_x = np.float32(width) / np.float32(image.shape[1])
    return Placement(height, width, float(scale_y), float(scale_x))


def _pad_placement(image: np.ndarray, height: int, width: int) -> Placement:
    scaled, (scaled_height, scaled_width) = _scaled_sides(image, height, width, np.minimum)
    ratio = float(scaled[0] / np.float32(image.shape[0]))
    return Placement(int(scaled_height), int(scaled_width), ratio, ratio, network=(height, width))


def _crop_placement(image: np.ndarray, height: int, width: int) -> Placement:
    scaled, (scaled_height, scaled_width) = _scaled_sides(image, height, width, np.maximum)
    top, left = np.round((scaled - np.array([height, width], dtype=np.float32)) / np.float32(2)).astype(int)
    ratio = float(scaled[0] / np.float32(image.shape[0]))
    return Placement(int(scaled_height), int(scaled_width), ratio, ratio, int(top), int(left))


def _warp(image: np.ndarray, height: int, width: int) -> np.ndarray:
    return resize_nearest(image, height, width)


def _pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    place = _pad_placement(image, height, width)
    scaled = resize_nearest(image, place.height, place.width)
    padded = np.full((height, width, image.shape[2]), pad_fill(scaled), dtype=np.float32)
    padded[: place.height, : place.width] = scaled
    return padded


def pad_fill(scaled: np.ndarray) -> np.float32:
    """The level pad fills with: the float32 mean of the resized image, as BigML computes it."""
    return float32_mean(scaled)


def _crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    place = _crop_placement(image, height, width)
    rows = _source_indices(image.shape[0], place.height, place.top, height)
    columns = _source_indices(image.shape[1], place.width, place.left, width)
    return _gather(image, rows, columns)


PLACEMENTS: dict[str, Callable[[np.ndarray, int, int], Placement]] = {
    "warp": _warp_placement,
    "pad": _pad_placement,
    "crop": _crop_placement,
}
RESCALERS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "warp": _warp,
    "pad": _pad,
    "crop": _crop,
}


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ImageError(
            f"rescale takes an (H, W, 3) uint8 array as load_image returns, got {type(image).__name__}"
        )
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ImageError(
            f"rescale takes (H, W, 3) uint8 pixels as load_image returns, "
            f"got shape {image.shape} dtype {image.dtype}"
        )
    return image


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ImageError(f"rescale {name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _rescaler(rescale_type: Any) -> Callable[[np.ndarray, int, int], np.ndarray]:
    key = rescale_type.lower() if isinstance(rescale_type, str) else None
    if key not in RESCALERS:
        raise SettingsError(
            f"unknown rescale_type {rescale_type!r}: expected one of {list(RESCALERS)} (any case)"
        )
    return RESCALERS[key]


def rescale(
    image: np.ndarray, height: int, width: int, rescale_type: str = DEFAULT_RESCALE_TYPE
) -> np.ndarray:
    """``image`` (H, W, 3) uint8 fitted to (height, width, 3) by ``rescale_type``: warp, pad or crop.

    The result is float32 (the levels, and pad's fill, which is generally not a whole level).
    """
    fit = _rescaler(rescale_type)
    fitted = fit(_check_image(image), _check_size("height", height), _check_size("width", width))
    return np.ascontiguousarray(fitted, dtype=np.float32)


def placement(image: np.ndarray, height: int, width: int, rescale_type: str) -> Placement:
    """Where ``rescale(image, height, width, rescale_type)`` puts the image."""
    _rescaler(rescale_type)
    fitted = PLACEMENTS[rescale_type.lower()]
    return fitted(_check_image(image), _check_size("height", height), _check_size("width", width))


def to_original_pixels(boxes: np.ndarray, shape: tuple[int, ...], place: Placement) -> np.ndarray:
    """Boxes [x1, y1, x2, y2] in network-input pixels mapped onto the original image, rounded to whole
    pixels (half to even) as BigML rounds them, float32.

    Pad boxes are mapped as BigML maps them: divided by the network input's sides (x by its width,
    y by its height), then multiplied by the original image's longer side, in float32. Warp and
    crop boxes are shifted by the crop offset and divided by the resize ratios, in float32. Coordinates may
    lie outside the image (negative, or past its right or bottom edge), as BigML's do.
    """
    height, width = shape[:2]
    if place.network is not None:
        net_height, net_width = place.network
        sides = np.array([net_width, net_height, net_width, net_height], dtype=np.float32)
        mapped = (boxes.astype(np.float32) / sides) * np.float32(max(height, width))
    else:
        boxes = boxes.astype(np.float32)
        x = (boxes[:, [0, 2]] + np.float32(place.left)) / np.float32(place.scale_x)
        y = (boxes[:, [1, 3]] + np.float32(place.top)) / np.float32(place.scale_y)
        mapped = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)
    return np.round(mapped).astype(np.float32).reshape(-1, 4)


def choose_rescale_type(setting: str | None, network_default: str) -> str:
    """The ``rescale_type`` setting when given, else the image network's own.

    Both come validated (by `Settings` and the model spec, whose default is warp).
    """
    return (setting or network_default).lower()
