"""Time image decoding (1-megapixel JPEG) and rescaling to 224 x 224, against TensorFlow's ops.

Run from the repository root: SENSENET_FIXTURES=/path/to/fixtures python3 -m benchmarks.image_preprocess
"""

from __future__ import annotations

import io
import os
import timeit
from pathlib import Path

from PIL import Image

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


def main() -> None:
    data = one_megapixel_jpeg()
    pixels = load_image(data)
    print(f"JPEG {pixels.shape[1]} x {pixels.shape[0]} ({len(data)} bytes)")
    print(f"load_image (Pillow decode): {median_ms(lambda: load_image(data)):.2f} ms")
    for name in RESCALERS:
        print(
            f"rescale to 224 x 224, {name}: {median_ms(lambda n=name: rescale(pixels, 224, 224, n)):.3f} ms"
        )

    import tensorflow as tf

    def tf_decode():
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()

    def tf_resize():
        return tf.image.resize(pixels, (224, 224), method="nearest").numpy()

    print(f"tf.io.decode_jpeg (eager, for comparison): {median_ms(tf_decode):.2f} ms")
    print(f"tf.image.resize nearest (eager, for comparison): {median_ms(tf_resize):.3f} ms")


if __name__ == "__main__":
    main()
