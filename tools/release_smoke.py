"""A short smoke test of an installed Sense/Net: rows, an image and a detection on generated models.

Run by tools/check_release.py with the python of a fresh virtualenv that holds only the built
wheel and its dependencies, from a directory outside the source tree, so that what it imports is
what a user installs. It needs no fixtures and downloads nothing. Exit status 0 when every check
holds; a failed check raises AssertionError naming it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def check_installed_from(site: str) -> None:
    import sensenet

    location = Path(sensenet.__file__).resolve()
    assert str(location).startswith(site), f"sensenet imported from {location}, not from {site}"
    from importlib.metadata import version

    assert version("sensenet-local") == sensenet.__version__, "wheel metadata and __version__ differ"


def check_rows() -> None:
    """A numeric and a categorical field into one softmax layer, against numpy."""
    from sensenet.models.wrappers import create_model

    weights = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5], [0.0, 0.3]])
    offset = np.array([0.1, -0.2])
    network = {
        "preprocess": [
            {"type": "numeric", "index": 0, "mean": 1.0, "stdev": 2.0},
            {"type": "categorical", "index": 1, "values": ["red", "green", "blue"]},
        ],
        "layers": [
            {
                "type": "dense",
                "weights": weights.tolist(),
                "offset": offset.tolist(),
                "activation_function": "softmax",
            }
        ],
        "output_exposition": {"type": "categorical", "values": ["yes", "no"]},
        "trees": None,
    }
    model = create_model(network)
    got = model([[3.0, "green"], [None, "purple"]])
    encoded = np.array([[1.0, 0, 1, 0], [0.0, 0, 0, 0]])  # (3 - 1) / 2; missing -> mean; unknown -> zeros
    logits = encoded @ weights + offset
    want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(got - want).max() < 1e-6, f"rows: {got} != {want}"
    assert (
        model.predict({"field_0": 3.0, "field_1": "green"})[0]["prediction"]
        == ["yes", "no"][int(np.argmax(want[0]))]
    )


def check_image() -> None:
    """A MobileNetV2-topology classifier on a generated image, as a path, bytes and pixels."""
    import io

    from PIL import Image

    from sensenet.models.wrappers import create_model
    from sensenet.pretrained import get_network

    network = get_network("mobilenetv2")
    rng = np.random.default_rng(3)
    network["layers"] = [
        {
            "type": "dense",
            "weights": (rng.normal(size=(1280, 3)) * 0.1).tolist(),
            "offset": [0.0, 0.1, -0.1],
            "activation_function": "softmax",
        }
    ]
    network["output_exposition"] = {"type": "categorical", "values": ["a", "b", "c"]}
    model = create_model(network)
    pixels = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    path = Path("smoke.png")
    path.write_bytes(buffer.getvalue())
    outputs = [model([[form]]) for form in (str(path), buffer.getvalue(), pixels)]
    for output in outputs:
        assert output.shape == (1, 3) and np.isfinite(output).all(), f"image: {output}"
        assert abs(float(output.sum()) - 1.0) < 1e-5, f"image: probabilities sum to {output.sum()}"
        assert np.abs(output - outputs[0]).max() < 1e-6, "image: the three input forms disagree"


def check_detection() -> None:
    """A TinyYOLOv4-topology detector on a generated image: boxes, labels, scores, max_objects."""
    from sensenet.models.wrappers import create_model
    from sensenet.pretrained import get_network

    detector = create_model(get_network("tinyyolov4"), {"bounding_box_threshold": 0.0, "max_objects": 3})
    image = np.random.default_rng(4).integers(0, 256, (200, 150, 3), dtype=np.uint8)
    objects = detector(image)
    assert len(objects) == 3, f"detection: {len(objects)} objects, max_objects is 3"
    for found in objects:
        x1, y1, x2, y2 = found["box"]
        assert x1 <= x2 and y1 <= y2 and 0.0 <= found["score"] <= 1.0, f"detection: {found}"
        assert found["label"] in detector.classes, f"detection: {found['label']} is no class"


def main() -> int:
    check_installed_from(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    for check in (check_rows, check_image, check_detection):
        check()
        print(f"ok: {check.__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
