"""Per-image latency of BigML's TinyYOLOv4 eye detector on a 1-megapixel JPEG, step by step.

Prints medians (ms) for decode, rescale (pad), network (each engine) and post-processing
(YOLO decoding, NMS, boxes back to the original image), and the whole public call.
Run from the repository root: SENSENET_FIXTURES=/path/to/fixtures python3 -m benchmarks.detection
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from PIL import Image

from benchmarks.image_preprocess import FIXTURES, median_ms
from sensenet.detection.yolo import detect
from sensenet.inputs import load_image
from sensenet.inputs.rescale import placement, rescale, to_original_pixels
from sensenet.models.wrappers import create_model

SETTINGS = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}


def one_megapixel_photo() -> bytes:
    photo = Image.open(FIXTURES / "detection" / "pexels-pixabay-33358.jpg")
    stream = io.BytesIO()
    photo.resize((816, 1224), Image.Resampling.BICUBIC).save(stream, "JPEG", quality=90)
    return stream.getvalue()


def time_engine(engine: str, resource: dict, data: bytes, pixels: np.ndarray) -> None:
    detector = create_model(resource, {**SETTINGS, "engine": engine})
    detector(data)  # builds the engine
    fitted = rescale(pixels, 256, 256, "pad")[np.newaxis].astype(np.float32)
    raw = [output[0] for output in detector._run_heads(fitted)]
    place = placement(pixels, 256, 256, "pad")

    def post():
        found = detect(raw, detector._heads, 1, iou_threshold=0.2, score_threshold=0.7, max_objects=32)
        to_original_pixels(found.boxes, pixels.shape, place)

    print(f"[{engine}] network:      {median_ms(lambda: detector._run_heads(fitted)):7.2f} ms")
    print(f"[{engine}] post-process: {median_ms(post):7.2f} ms")
    print(f"[{engine}] whole call:   {median_ms(lambda: detector(data)):7.2f} ms")


def main() -> None:
    with zipfile.ZipFile(FIXTURES / "detection" / "cats_eye_tinyyolov4.zip") as archive:
        resource = json.loads(archive.read(archive.namelist()[0]))
    data = one_megapixel_photo()
    pixels = load_image(data)
    print(f"JPEG {pixels.shape[1]} x {pixels.shape[0]} ({len(data)} bytes)")
    print(f"decode:          {median_ms(lambda: load_image(data)):7.2f} ms")
    print(f"rescale (pad):   {median_ms(lambda: rescale(pixels, 256, 256, 'pad')):7.2f} ms")

    for engine in ("onnx", "keras"):
        time_engine(engine, resource, data, pixels)


if __name__ == "__main__":
    main()
