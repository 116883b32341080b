"""Compressed image bytes -> RGB uint8 pixels, the pixels BigML's TensorFlow decoding gives.

BigML reads images with ``tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")``,
which also reads PNG and GIF. Pillow gives the same bytes (tests check it against TensorFlow) for
JPEG (colour, greyscale, CMYK, progressive, any chroma subsampling), PNG (1 to 16 bits, palette,
greyscale, alpha) and GIF, and it reads what that op does not: TIFF, BMP, WebP and the other
formats Pillow knows (the first frame of an animation). As in TensorFlow:

- greyscale is copied into the three channels and alpha is dropped (not blended);
- EXIF orientation is ignored: pixels come in stored order, never rotated;
- 16-bit samples keep their high byte (libpng's ``strip_16``), where Pillow alone would clip;
- transparent GIF pixels are black.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import NoReturn

import numpy as np
from PIL import Image, UnidentifiedImageError

from sensenet.exceptions import ImageError
from sensenet.limits import MAX_IMAGE_PIXELS

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _high_byte_grey(image: Image.Image, name: str) -> np.ndarray:
    values = np.asarray(image)
    if values.min() < 0 or values.max() > 65535:
        raise ImageError(f"{name}: 32-bit integer pixels outside 0..65535 cannot be read as 16-bit grey")
    grey = (values.astype(np.uint32) >> 8).astype(np.uint8)
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def _float_image(image: Image.Image, name: str) -> np.ndarray:
    raise ImageError(f"{name}: floating-point image files are not supported; give 8- or 16-bit images")


def _pillow_rgb(image: Image.Image, name: str) -> np.ndarray:
    try:
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except ValueError as error:
        raise ImageError(f"{name}: Pillow cannot convert {image.mode!r} images to RGB ({error})") from None


def _gif_rgb(image: Image.Image, name: str) -> np.ndarray:
    """TensorFlow's GIF decoder leaves transparent pixels black; Pillow shows their palette colour."""
    rgba = np.asarray(image.convert("RGBA"))
    rgb = rgba[:, :, :3].copy()
    rgb[rgba[:, :, 3] == 0] = 0
    return rgb


_FORMAT_CONVERTERS: dict[str, Callable[[Image.Image, str], np.ndarray]] = {"GIF": _gif_rgb}
_MODE_CONVERTERS: dict[str, Callable[[Image.Image, str], np.ndarray]] = {
    **{mode: _high_byte_grey for mode in SIXTEEN_BIT_MODES},
    "F": _float_image,
}


def _raise_undecodable(error: Exception, name: str) -> NoReturn:
    # Pillow names its in-memory stream ("cannot identify image file <_io.BytesIO object at 0x...>").
    reason = "unknown image format" if isinstance(error, UnidentifiedImageError) else str(error)
    reason = reason or type(error).__name__
    raise ImageError(
        f"{name}: cannot be decoded as an image ({reason}): it is truncated, corrupt or not in a "
        f"format Pillow reads (JPEG, PNG, GIF, TIFF, BMP, WebP, ...)"
    ) from None


def _check_pixel_budget(image: Image.Image, name: str) -> None:
    """Refuse an image larger than the pixel budget from its header, before decoding a pixel."""
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS.value():
        raise ImageError(
            f"{name}: {width} x {height}: " + MAX_IMAGE_PIXELS.exceeded("its pixel count", width * height)
        )


def decode_image(data: bytes, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of a compressed image; ``name`` says which image in errors.

    Images over the pixel budget (`sensenet.limits.MAX_IMAGE_PIXELS`, 50 million by
    default) are refused from the size in their header, before decoding.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except Exception as error:
        _raise_undecodable(error, name)
    _check_pixel_budget(image, name)
    try:
        image.load()
    # Pillow's decoders fail with many exception types (OSError, SyntaxError, ValueError,
    # struct.error, zlib.error, DecompressionBombError...): each means the bytes are no usable image.
    except Exception as error:
        _raise_undecodable(error, name)
    convert = _FORMAT_CONVERTERS.get(image.format or "") or _MODE_CONVERTERS.get(image.mode, _pillow_rgb)
    # a copy: arrays Pillow hands over are read-only views of its bytes
    return np.array(convert(image, name), dtype=np.uint8, order="C")
