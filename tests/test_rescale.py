"""rescale: warp, pad and crop geometry, pixel for pixel, and the same pixels as TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet.exceptions import ImageError, ModelFormatError, SettingsError
from sensenet.inputs import RESCALERS, choose_rescale_type, load_image, rescale, resize_nearest
from tests.conftest import fixture_path

SIZE_PAIRS = [
    ((1, 1), (224, 224)),
    ((2, 3), (7, 5)),
    ((5, 7), (2, 3)),
    ((13, 17), (13, 17)),
    ((31, 29), (224, 224)),
    ((224, 224), (31, 29)),
    ((500, 700), (224, 224)),
    ((600, 800), (299, 299)),
    ((101, 333), (416, 416)),
    ((1080, 1920), (256, 256)),
    ((7, 1000), (9, 11)),
    ((97, 89), (98, 88)),
]


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def numbered_image(height: int, width: int) -> np.ndarray:
    """Pixel (r, c) holds (r, c, 7): each pixel says where it came from."""
    rows, columns = np.mgrid[:height, :width]
    return np.stack([rows, columns, np.full_like(rows, 7)], axis=2).astype(np.uint8)


def bigml_scaled(tf, image, height, width, pick):
    """BigML's graph: scale in float32, round each side, nearest resize."""
    in_sides = tf.cast(tf.shape(image)[:2], tf.float32)
    out_sides = tf.constant([height, width], tf.float32)
    scaled_sides = in_sides * pick(out_sides[0] / in_sides[0], out_sides[1] / in_sides[1])
    sizes = tf.cast(tf.math.round(scaled_sides), tf.int32)
    return scaled_sides, tf.image.resize(image, sizes, method="nearest")


def bigml_pad(tf, image, height, width):
    """BigML's pad, whose tf.pad truncates the float shortfall (so it may end one pixel short).

    BigML's image input is float32, so the fill is the float mean of the resized levels.
    """
    scaled_sides, scaled = bigml_scaled(tf, tf.cast(image, tf.float32), height, width, tf.math.minimum)
    shortfall = tf.constant([height, width], tf.float32) - scaled_sides
    padding = [[0, shortfall[0]], [0, shortfall[1]], [0, 0]]
    return tf.pad(scaled, padding, constant_values=tf.reduce_mean(scaled)).numpy(), scaled.numpy()


def bigml_crop(tf, image, height, width):
    scaled_sides, scaled = bigml_scaled(tf, image, height, width, tf.math.maximum)
    begin = tf.cast(tf.math.round((scaled_sides - tf.constant([height, width], tf.float32)) / 2), tf.int32)
    return scaled[begin[0] : begin[0] + height, begin[1] : begin[1] + width].numpy()


def test_nearest_resize_is_tensorflows(tf):
    for seed, (in_size, out_size) in enumerate(SIZE_PAIRS):
        image = random_image(*in_size, seed=seed)
        expected = tf.image.resize(image, out_size, method="nearest").numpy()
        assert expected.dtype == np.uint8
        assert np.array_equal(resize_nearest(image, *out_size), expected), (in_size, out_size)
        assert np.array_equal(rescale(image, *out_size, "warp"), expected), (in_size, out_size)


def test_nearest_resize_on_every_small_size_pair(tf):
    image = numbered_image(12, 12)
    for in_side in range(1, 13):
        for out_side in range(1, 25):
            expected = tf.image.resize(image[:in_side, :in_side], (out_side, out_side), method="nearest")
            assert np.array_equal(
                resize_nearest(image[:in_side, :in_side], out_side, out_side), expected.numpy()
            )


def test_warp_doubles_and_halves_pixel_by_pixel():
    image = numbered_image(2, 3)
    doubled = rescale(image, 4, 6, "warp")
    assert [[tuple(doubled[r, c, :2]) for c in range(6)] for r in range(4)] == [
        [(r // 2, c // 2) for c in range(6)] for r in range(4)
    ]
    # half-pixel centres: output pixel i samples input floor((i + 0.5) * 2) = 2i + 1
    halved = rescale(numbered_image(4, 6), 2, 3, "warp")
    assert [[tuple(halved[r, c, :2]) for c in range(3)] for r in range(2)] == [
        [(1, 1), (1, 3), (1, 5)],
        [(3, 1), (3, 3), (3, 5)],
    ]


def test_warp_ignores_the_aspect_ratio():
    image = numbered_image(3, 12)
    warped = rescale(image, 6, 6, "warp")
    assert warped.shape == (6, 6, 3)
    assert list(warped[0, :, 1]) == [1, 3, 5, 7, 9, 11]
    assert list(warped[:, 0, 0]) == [0, 0, 1, 1, 2, 2]


def test_pad_keeps_a_fitting_image_and_fills_with_the_float32_mean():
    image = np.zeros((2, 4, 3), np.uint8)
    image[0, 0] = (255, 255, 255)
    image[1, 3] = (0, 0, 22)  # sum 787 over 24 values: mean 32.791668 in float32, not 32
    padded = rescale(image, 4, 4, "pad")
    assert padded.dtype == np.float32
    assert np.array_equal(padded[:2], image)
    assert np.array_equal(padded[2:], np.full((2, 4, 3), np.float32(787) / np.float32(24), np.float32))


def test_pad_shrinks_to_fit_then_fills_the_bottom_or_right():
    tall = numbered_image(12, 6)
    padded = rescale(tall, 4, 4, "pad")  # scale 1/3: 4 x 2, then two fill columns on the right
    assert [[tuple(padded[r, c, :2]) for c in range(2)] for r in range(4)] == [
        [(1, 1), (1, 4)],
        [(4, 1), (4, 4)],
        [(7, 1), (7, 4)],
        [(10, 1), (10, 4)],
    ]
    fill = np.float32(padded[:, :2].sum(dtype=np.float64) / padded[:, :2].size)
    assert np.array_equal(padded[:, 2:], np.full((4, 2, 3), fill, np.float32))
    wide = rescale(numbered_image(3, 9), 2, 6, "pad")  # scale 2/3: 2 x 6, no fill needed
    assert list(wide[0, :, 1]) == [0, 2, 3, 5, 6, 8] and list(wide[:, 0, 0]) == [0, 2]


def test_crop_keeps_the_centre_pixel_by_pixel():
    image = numbered_image(4, 8)
    cropped = rescale(image, 4, 4, "crop")  # scale 1: columns 2..5
    assert np.array_equal(cropped, image[:, 2:6])
    grown = rescale(numbered_image(2, 4), 4, 4, "crop")  # scale 2: 4 x 8, then columns 2..5
    assert list(grown[0, :, 1]) == [1, 1, 2, 2] and list(grown[:, 0, 0]) == [0, 0, 1, 1]
    shrunk = rescale(numbered_image(10, 6), 3, 3, "crop")  # scale 1/2: 5 x 3, rows 1..3
    assert list(shrunk[:, 0, 0]) == [3, 5, 7] and list(shrunk[0, :, 1]) == [1, 3, 5]


def test_pad_and_crop_are_bigmls_graph_on_many_sizes(tf):
    rng = np.random.default_rng(3)
    sizes = SIZE_PAIRS + [(tuple(rng.integers(1, 400, 2)), tuple(rng.integers(1, 300, 2))) for _ in range(60)]
    short_pads = 0
    for seed, (in_size, out_size) in enumerate(sizes):
        image = random_image(*in_size, seed=seed)
        assert np.array_equal(rescale(image, *out_size, "crop"), bigml_crop(tf, image, *out_size)), in_size
        padded = rescale(image, *out_size, "pad")
        assert padded.shape == (*out_size, 3)
        scale = (np.float32(out_size) / np.float32(in_size)).min()
        if (np.round(np.float32(in_size) * scale) == 0).any():
            continue  # a side shrinks below half a pixel: BigML's graph fails, we keep one pixel
        expected, scaled = bigml_pad(tf, image, *out_size)
        rows, columns = expected.shape[:2]
        short_pads += (rows, columns) != out_size
        assert np.array_equal(padded[:rows, :columns], expected), (in_size, out_size)
        fill = tf.reduce_mean(scaled).numpy()
        assert (padded[rows:] == fill).all() and (padded[:, columns:] == fill).all()
    assert short_pads > 0  # the sizes include cases where BigML's pad ended short


def test_pad_keeps_at_least_one_pixel_where_bigmls_graph_fails(tf):
    image = random_image(7, 1000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="output dimensions must be positive"):
        bigml_pad(tf, image, 9, 11)
    padded = rescale(image, 9, 11, "pad")  # 7 x 1000 scaled by 0.011: 1 x 11, then 8 fill rows
    assert np.array_equal(padded[:1], resize_nearest(image, 1, 11))
    assert (padded[1:] == np.float32(resize_nearest(image, 1, 11).sum(dtype=np.float64) / 33)).all()


def test_crop_offset_rounds_the_unrounded_scaled_side():
    # 20 x 37 -> 4 x 4: scale 0.2, scaled width 7.4 (resized to 7); offset round(1.7) = 2, not (7 - 4) // 2
    image = numbered_image(20, 37)
    cropped = rescale(image, 4, 4, "crop")
    columns = resize_nearest(image, 4, 7)[0, :, 1]
    assert list(cropped[0, :, 1]) == list(columns[2:6])


def test_every_type_gives_the_target_shape_even_for_extreme_shapes():
    for in_size in [(1, 1), (1, 1000), (1000, 1), (3, 2)]:
        for name in RESCALERS:
            out = rescale(random_image(*in_size), 7, 5, name)
            assert out.shape == (7, 5, 3) and out.dtype == np.float32 and out.flags.c_contiguous, (
                in_size,
                name,
            )


def test_a_missing_image_rescales_to_black():
    for name in RESCALERS:
        assert not rescale(load_image(None), 224, 224, name).any()


def test_rescale_type_is_case_insensitive():
    image = load_image(fixture_path("images/bus.jpg"))
    assert np.array_equal(rescale(image, 224, 224, "CROP"), rescale(image, 224, 224, "crop"))


def test_bad_arguments_are_refused():
    image = random_image(4, 4)
    with pytest.raises(SettingsError, match="unknown rescale_type 'stretch'.*'warp', 'pad', 'crop'"):
        rescale(image, 2, 2, "stretch")
    with pytest.raises(ImageError, match="height must be a whole number >= 1, got 0"):
        rescale(image, 0, 2)
    with pytest.raises(ImageError, match="width must be a whole number >= 1, got 2.5"):
        rescale(image, 2, 2.5)
    with pytest.raises(ImageError, match="got shape \\(4, 4, 4\\) dtype uint8"):
        rescale(np.zeros((4, 4, 4), np.uint8), 2, 2)
    with pytest.raises(ImageError, match="dtype float64"):
        rescale(np.zeros((4, 4, 3)), 2, 2)
    with pytest.raises(ImageError, match="got list"):
        rescale([[[0, 0, 0]]], 2, 2)


def test_the_rescale_type_comes_from_the_setting_then_the_network_then_warp():
    from sensenet.settings import ensure_settings
    from sensenet.spec.fields import Fields
    from sensenet.spec.image_layers import parse_image_metadata

    def network_default(**metadata):
        return parse_image_metadata(
            Fields({"input_image_shape": [28, 28, 3], **metadata}, "metadata"), 0
        ).rescale_type

    assert choose_rescale_type(ensure_settings({"rescale_type": "PAD"}).rescale_type, "crop") == "pad"
    assert choose_rescale_type(None, network_default(rescale_type="crop")) == "crop"
    assert choose_rescale_type(None, network_default()) == "warp"
    with pytest.raises(SettingsError, match="'rescale_type' must be one of"):
        ensure_settings({"rescale_type": "fit"})
    with pytest.raises(ModelFormatError, match="metadata.rescale_type: unknown value 'squash'"):
        network_default(rescale_type="squash")
