"""Time image decoding (1-megapixel JPEG) and rescaling to 224 x 224, against TensorFlow's ops.

Run from the repository root: SENSENET_FIXTURES=/path/to/fixtures python3 -m benchmarks.image_preprocess
[--plot FILE.svg] (the figures drawn as a picture, benchmarks/plot.py).
"""

from __future__ import annotations

import io
import os
import sys
import timeit
from pathlib import Path

from PIL import Image

from benchmarks.plot import Chart, plot_path
from sensenet.inputs import RESCALERS, load_image, rescale

FIXTURES = Path(
    os.environ.get("SENSENET_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)


def median_ms(function, repeat: int = 30) -> float:
    times = sorted(timeit.repeat(function, number=1, repeat=repeat))
    return 1000 * times[len(times) // 2]


def one_megapixel_jpeg() -> bytes:
    photo = Image.open(FIXTURES / "images" / "dog.jpg").resize((1155, 866), Image.Resampling.BICUBIC)
    stream = io.BytesIO()
    photo.save(stream, "JPEG", quality=90)
    return stream.getvalue()


def main(plot: str | None) -> None:
    chart = Chart("Image preparation, a 1-megapixel JPEG (benchmarks/image_preprocess.py)")
    data = one_megapixel_jpeg()
    pixels = load_image(data)
    print(f"JPEG {pixels.shape[1]} x {pixels.shape[0]} ({len(data)} bytes)")
    decode = median_ms(lambda: load_image(data))
    print(f"load_image (Pillow decode): {decode:.2f} ms")
    chart.add("decode", "sensenet load_image (Pillow)", decode, "ms")
    for name in RESCALERS:
        took = median_ms(lambda n=name: rescale(pixels, 224, 224, n))
        print(f"rescale to 224 x 224, {name}: {took:.3f} ms")
        chart.add("rescale to 224 x 224", f"sensenet {name}", took, "ms")

    import tensorflow as tf

    def tf_decode():
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()

    def tf_resize():
        return tf.image.resize(pixels, (224, 224), method="nearest").numpy()

    tf_decode_ms, tf_resize_ms = median_ms(tf_decode), median_ms(tf_resize)
    print(f"tf.io.decode_jpeg (eager, for comparison): {tf_decode_ms:.2f} ms")
    print(f"tf.image.resize nearest (eager, for comparison): {tf_resize_ms:.3f} ms")
    chart.add("decode", "tf.io.decode_jpeg (eager)", tf_decode_ms, "ms")
    chart.add("rescale to 224 x 224", "tf.image.resize nearest (eager)", tf_resize_ms, "ms")
    if plot:
        chart.write(plot)


if __name__ == "__main__":
    plot, _ = plot_path(sys.argv[1:])
    main(plot)
