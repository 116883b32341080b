"""load_image: every image form gives BigML's pixels (checked against TensorFlow's decoders)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sensenet.exceptions import ImageError, InputDataError, SettingsError
from sensenet.inputs import MISSING_IMAGE_SHAPE, load_image
from tests.conftest import fixture_path

FIXTURE_IMAGES = [
    "bus.jpg",
    "dog.jpg",
    "model_t.jpg",
    "pizza_people.jpg",
    "tolls.jpg",
    "black.png",
    "square_car.png",
    "strange_car.png",
    "digits/3/12.png",
    "digits/8/125.png",
]


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def bigml_decode(tf, data: bytes) -> np.ndarray:
    """What BigML's graph reads: decode_jpeg (which also reads PNG and GIF) with the accurate DCT."""
    return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    stream = io.BytesIO()
    image.save(stream, image_format, **options)
    return stream.getvalue()


def png_16_bit(samples: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour PNGs)."""
    height, width = samples.shape[:2]

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def colours() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (23, 37, 4), dtype=np.uint8)


def test_fixture_images_decode_as_tensorflow_decodes_them(tf):
    for name in FIXTURE_IMAGES:
        path = fixture_path(f"images/{name}")
        expected = bigml_decode(tf, path.read_bytes())
        pixels = load_image(path)
        assert pixels.dtype == np.uint8 and pixels.shape == expected.shape, name
        assert np.array_equal(pixels, expected), name
        if name.endswith(".png"):
            assert np.array_equal(pixels, tf.io.decode_png(path.read_bytes(), channels=3).numpy()), name


def synthetic_files(colours: np.ndarray) -> dict[str, bytes]:
    rgb = Image.fromarray(colours[:, :, :3].copy())
    palette = rgb.quantize(16)
    grey = Image.fromarray(colours[:, :, 0].copy())
    samples16 = (colours.astype(np.uint32) * 256 + np.arange(4) * 60).astype(np.uint16)
    return {
        "rgba png": encode(Image.fromarray(colours, "RGBA"), "PNG"),
        "grey+alpha png": encode(Image.fromarray(colours[:, :, :2].copy(), "LA"), "PNG"),
        "palette png": encode(palette, "PNG"),
        "palette png with transparency": encode(palette, "PNG", transparency=3),
        "1-bit png": encode(grey.convert("1"), "PNG"),
        "4-bit grey png": encode(Image.fromarray(colours[:, :, 0] // 17 * 17).quantize(16), "PNG", bits=4),
        "16-bit grey png": encode(Image.fromarray(samples16[:, :, 0]), "PNG"),
        "16-bit rgb png": png_16_bit(samples16[:, :, :3], color_type=2),
        "16-bit rgba png": png_16_bit(samples16, color_type=6),
        "16-bit grey+alpha png": png_16_bit(samples16[:, :, :2], color_type=4),
        "greyscale jpeg": encode(grey, "JPEG"),
        "cmyk jpeg": encode(rgb.convert("CMYK"), "JPEG"),
        "progressive jpeg": encode(rgb, "JPEG", progressive=True),
        "4:4:4 jpeg": encode(rgb, "JPEG", subsampling=0, quality=95),
        "4:2:2 jpeg": encode(rgb, "JPEG", subsampling=1, quality=60),
        "4:2:0 jpeg": encode(rgb, "JPEG", subsampling=2, quality=30),
        "optimised jpeg": encode(rgb, "JPEG", optimize=True, quality=85),
        "gif": encode(palette, "GIF"),
        "gif with transparency": encode(palette, "GIF", transparency=3),
    }


def test_synthetic_formats_decode_as_tensorflow_decodes_them(tf, colours):
    for name, data in synthetic_files(colours).items():
        expected = bigml_decode(tf, data)
        assert np.array_equal(load_image(data), expected), name


def test_formats_tensorflow_reads_through_other_ops_match_them(tf, colours):
    rgb = Image.fromarray(colours[:, :, :3].copy())
    bmp = encode(rgb, "BMP")
    assert np.array_equal(load_image(bmp), tf.io.decode_bmp(bmp, channels=3).numpy())
    for options in ({"lossless": True}, {"quality": 70}):
        webp = encode(rgb, "WEBP", **options)
        assert np.array_equal(load_image(webp), tf.io.decode_webp(webp).numpy()[0, :, :, :3]), options


def test_every_form_of_one_image_gives_the_same_pixels(tmp_path):
    path = fixture_path("images/bus.jpg")
    pixels = load_image(path)
    rgba = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 77, np.uint8)], axis=2)
    forms = {
        "str path": str(path),
        "relative path with prefix": (path.name, {"path_prefix": str(path.parent)}),
        "absolute path ignores prefix": (str(path), {"path_prefix": str(tmp_path)}),
        "bytes": path.read_bytes(),
        "bytearray": bytearray(path.read_bytes()),
        "uint8 array": pixels,
        "int64 array": pixels.astype(np.int64),
        "float array in [0, 1]": pixels / np.float32(255),
        "float array in [0, 255]": pixels.astype(np.float64),
        "rgba array": (rgba, {"color_space": "rgba"}),
        "RGBA array, upper case": (rgba, {"color_space": "RGBA"}),
        "bgr array": (pixels[:, :, ::-1], {"color_space": "bgr"}),
        "bgra float array": (rgba[:, :, [2, 1, 0, 3]] / 255.0, {"color_space": "BGRA"}),
        "nested list": pixels[:40, :50].tolist(),
    }
    for name, form in forms.items():
        value, options = form if isinstance(form, tuple) else (form, {})
        loaded = load_image(value, **options)
        expected = pixels[:40, :50] if name == "nested list" else pixels
        assert loaded.dtype == np.uint8 and loaded.flags.c_contiguous and loaded.flags.writeable, name
        assert np.array_equal(loaded, expected), name


def test_bgr_reverses_the_channels_of_arrays_only():
    pixels = load_image(fixture_path("images/dog.jpg"))
    assert np.array_equal(load_image(pixels, color_space="bgr"), pixels[:, :, ::-1])
    assert np.array_equal(load_image(fixture_path("images/dog.jpg"), color_space="bgr"), pixels)


def test_greyscale_images_have_three_equal_channels(tf):
    path = fixture_path("images/model_t.jpg")
    pixels = load_image(path)
    assert Image.open(path).mode == "L"
    assert np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(
        pixels[:, :, 0], pixels[:, :, 2]
    )
    grey = pixels[:, :, 0]
    assert np.array_equal(load_image(grey), pixels)
    assert np.array_equal(load_image(grey[:, :, np.newaxis]), pixels)
    assert np.array_equal(load_image(grey / 255.0), pixels)


def test_tiff_images(tmp_path, colours):
    dog = load_image(fixture_path("images/dog.tiff"))
    assert dog.shape == (600, 800, 3)
    # the same photo as dog.jpg, which lost a few levels to JPEG compression
    assert np.abs(dog.astype(int) - load_image(fixture_path("images/dog.jpg"))).max() <= 3

    rgb = colours[:, :, :3].copy()
    path = tmp_path / "lossless.tiff"
    Image.fromarray(rgb).save(path, "TIFF", compression="tiff_lzw")
    assert np.array_equal(load_image(path), rgb)

    grey16 = colours[:, :, 0].astype(np.uint16) * 256 + 255
    Image.fromarray(grey16).save(tmp_path / "grey16.tiff", "TIFF")
    assert np.array_equal(load_image(tmp_path / "grey16.tiff"), np.repeat(colours[:, :, :1], 3, axis=2))


def test_exif_orientation_is_not_applied(tf, colours):
    stored = Image.fromarray(colours[:, :, :3].copy())
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(stored, "JPEG", exif=exif.tobytes())
    pixels = load_image(data)
    assert pixels.shape == (23, 37, 3)
    assert np.array_equal(pixels, bigml_decode(tf, data))


def test_animated_gif_gives_its_first_frame(colours):
    frames = [Image.fromarray(np.full((5, 6, 3), level, np.uint8)) for level in (10, 200)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert np.array_equal(load_image(data), np.full((5, 6, 3), 10, np.uint8))


def test_missing_image_is_one_black_pixel():
    pixels = load_image(None)
    assert pixels.shape == MISSING_IMAGE_SHAPE == (1, 1, 3)
    assert pixels.dtype == np.uint8 and not pixels.any()


def test_the_result_never_shares_memory_with_the_input():
    pixels = np.zeros((4, 5, 3), np.uint8)
    loaded = load_image(pixels)
    loaded[0, 0, 0] = 9
    assert pixels[0, 0, 0] == 0


def test_missing_or_unreadable_files_name_the_path(tmp_path):
    with pytest.raises(ImageError, match="nowhere.jpg.*does not exist"):
        load_image(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageError, match="does not exist"):
        load_image("bus.jpg", path_prefix=str(tmp_path))
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError, match="notes.txt.*cannot be decoded as an image"):
        load_image(tmp_path / "notes.txt")


def test_bytes_that_are_not_an_image_are_refused():
    with pytest.raises(ImageError, match="image bytes .12 bytes.: cannot be decoded as an image"):
        load_image(b"not an image")
    with pytest.raises(ImageError, match="cannot be decoded as an image"):
        load_image(b"")


def truncated_or_corrupt(kind: str) -> bytes:
    jpeg = fixture_path("images/bus.jpg").read_bytes()
    png = fixture_path("images/square_car.png").read_bytes()
    if kind == "truncated jpeg":
        return jpeg[: len(jpeg) // 2]
    if kind == "truncated png":
        return png[: len(png) // 2]
    broken = bytearray(png)
    broken[len(png) // 2] ^= 0xFF  # breaks an IDAT chunk's CRC
    return bytes(broken)


@pytest.mark.parametrize("kind", ["truncated jpeg", "truncated png", "png with a corrupt chunk"])
def test_truncated_and_corrupt_images_are_refused_as_tensorflow_refuses_them(tf, kind):
    data = truncated_or_corrupt(kind)
    with pytest.raises(ImageError, match="cannot be decoded as an image"):
        load_image(data)
    with pytest.raises(tf.errors.InvalidArgumentError):
        bigml_decode(tf, data)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros(5, np.uint8), "must have 2 dimensions .* got 1"),
        (np.zeros((2, 3, 4, 3), np.uint8), "must have 2 dimensions .* got 4"),
        (np.zeros((2, 3, 2), np.uint8), "1 .grey., 3 .colour. or 4 .colour and alpha. channels, got 2"),
        (np.zeros((2, 3, 5), np.uint8), "channels, got 5"),
        (np.zeros((0, 3, 3), np.uint8), "at least one pixel"),
        (np.full((2, 3, 3), -1.0), "must lie in 0..255 .* from -1.0 to -1.0"),
        (np.full((2, 3, 3), 256, np.int32), "must lie in 0..255 .* from 256 to 256"),
        (np.full((2, 3, 3), 255.5), "must lie in 0..255"),
        (np.array([[[0.5, np.nan, 0.0]]]), "finite"),
        (np.array([[[0.5, np.inf, 0.0]]]), "finite"),
        (np.ones((2, 3, 3), bool), "got dtype bool"),
        (np.full((2, 3, 3), "a"), "got dtype <U1"),
    ],
)
def test_bad_pixel_arrays_are_refused_with_what_is_allowed(array, message):
    with pytest.raises(ImageError, match=message) as raised:
        load_image(array)
    assert f"shape {array.shape}" in str(raised.value)


def test_ragged_lists_and_other_types_are_refused():
    with pytest.raises(ImageError, match="nested list"):
        load_image([[1, 2], [3]])
    with pytest.raises(
        ImageError, match="file path, the bytes of an image file, a pixel array or None, got int"
    ):
        load_image(5)


def test_unknown_colour_space_is_a_settings_error():
    with pytest.raises(SettingsError, match="unknown color_space 'hsv'.*'rgb', 'rgba', 'bgr', 'bgra'"):
        load_image(np.zeros((2, 2, 3), np.uint8), color_space="hsv")
    with pytest.raises(SettingsError):
        load_image(None, color_space=None)


def test_image_errors_are_input_data_errors():
    assert issubclass(ImageError, InputDataError) and issubclass(ImageError, ValueError)


def test_paths_may_be_path_objects(tmp_path):
    path = Path(fixture_path("images/black.png"))
    assert np.array_equal(load_image(path), load_image(str(path)))
    assert not load_image(path).any()
