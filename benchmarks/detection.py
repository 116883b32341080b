"""Per-image latency of BigML's TinyYOLOv4 eye detector on a 1-megapixel JPEG, step by step.

Prints medians (ms) for decode, rescale (pad), network (each engine) and post-processing
(YOLO decoding, NMS, boxes back to the original image), and the whole public call.
Run from the repository root: SENSENET_FIXTURES=/path/to/fixtures python3 -m benchmarks.detection
[--plot FILE.svg] (the figures drawn as a picture, benchmarks/plot.py).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile

import numpy as np
from PIL import Image

from benchmarks.image_preprocess import FIXTURES, median_ms
from benchmarks.plot import Chart, plot_path
from sensenet.detection.yolo import Detections, decode, non_max_suppression
from sensenet.engines.onnx.engine import session_options, session_threads
from sensenet.engines.onnx.image import PIXELS_NAME, image_network_graph, node_output_name
from sensenet.inputs import load_image
from sensenet.inputs.rescale import placement, rescale, to_original_pixels
from sensenet.models.wrappers import create_model

SETTINGS = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}


def one_megapixel_photo() -> bytes:
    photo = Image.open(FIXTURES / "detection" / "pexels-pixabay-33358.jpg")
    stream = io.BytesIO()
    photo.resize((816, 1224), Image.Resampling.BICUBIC).save(stream, "JPEG", quality=90)
    return stream.getvalue()


def bare_heads_session(detector) -> tuple[object, str, list[str]]:
    """The floor: an onnxruntime session on the detector's own heads graph, with its threads."""
    import onnxruntime

    network = detector.spec.image_network
    nodes = network.metadata.output_nodes
    graph = image_network_graph(network, nodes).SerializeToString()
    options = session_options(session_threads(detector.settings.threads, True))
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    return session, PIXELS_NAME, [node_output_name(node) for node in nodes]


def time_engine(engine: str, resource: dict, data: bytes, pixels: np.ndarray, chart: Chart) -> None:
    detector = create_model(resource, {**SETTINGS, "engine": engine})
    detector(data)  # builds the engine
    fitted = rescale(pixels, 256, 256, "pad")[np.newaxis].astype(np.float32)
    place = placement(pixels, 256, 256, "pad")
    network_size = fitted[0].astype(np.uint8)  # an image already at the network's size

    def post():
        found = decode([output[0] for output in detector._run_heads(fitted)], detector._heads, 1)
        boxes = to_original_pixels(found.boxes, pixels.shape, place)
        non_max_suppression(Detections(boxes, found.scores, found.classes), 0.2, 0.7, 32)

    network = median_ms(lambda: detector._run_heads(fitted))
    post_process = median_ms(post) - network
    whole = median_ms(lambda: detector(data))
    print(f"[{engine}] network:      {network:7.2f} ms")
    print(f"[{engine}] post-process: {post_process:7.2f} ms")
    print(f"[{engine}] whole call:   {whole:7.2f} ms")
    chart.add("network", engine, network, "ms")
    chart.add("post-processing (YOLO decoding, NMS, boxes)", engine, post_process, "ms")
    chart.add("the whole call, JPEG bytes in", engine, whole, "ms")
    if engine == "onnx":
        session, name, outputs = bare_heads_session(detector)
        floor = median_ms(lambda: session.run(outputs, {name: fitted}))
        call = median_ms(lambda: detector(network_size))
        print(f"[bare ort, same threads] network: {floor:7.2f} ms")
        chart.add("network", "bare onnxruntime session (floor)", floor, "ms")
        print(
            f"[onnx] network / bare: {network / floor:.2f}x; whole call on network-size pixels / bare: "
            f"{call / floor:.2f}x (target <= 1.2x)"
        )


def main(plot: str | None) -> None:
    chart = Chart("TinyYOLOv4 eye detector, one 1-megapixel JPEG (benchmarks/detection.py)")
    with zipfile.ZipFile(FIXTURES / "detection" / "cats_eye_tinyyolov4.zip") as archive:
        resource = json.loads(archive.read(archive.namelist()[0]))
    data = one_megapixel_photo()
    pixels = load_image(data)
    print(f"JPEG {pixels.shape[1]} x {pixels.shape[0]} ({len(data)} bytes)")
    decode_ms, rescale_ms = (
        median_ms(lambda: load_image(data)),
        median_ms(lambda: rescale(pixels, 256, 256, "pad")),
    )
    print(f"decode:          {decode_ms:7.2f} ms")
    print(f"rescale (pad):   {rescale_ms:7.2f} ms")
    chart.add("image preparation", "decode", decode_ms, "ms")
    chart.add("image preparation", "rescale (pad) to 256 x 256", rescale_ms, "ms")

    for engine in ("onnx", "keras"):
        time_engine(engine, resource, data, pixels, chart)
    if plot:
        chart.write(plot)


if __name__ == "__main__":
    plot, _ = plot_path(sys.argv[1:])
    main(plot)
