"""BigML's Python bindings (``bigml.deepnet.Deepnet``) on top of this package, in a process of their own.

The bindings import TensorFlow with ``TF_USE_LEGACY_KERAS=1`` and turn logging off process-wide,
so `tests/test_bigml_bindings.py` runs this script in a subprocess. Usage:
``python -m tests.bindings_scenarios DETECTOR_JSON PHOTO MULTI_NETWORK_JSON ROWS_JSON``; prints
one JSON object with each scenario's output.
"""

from __future__ import annotations

import json
import sys


def main(detector_path: str, photo: str, multi_path: str, rows_path: str) -> None:
    from bigml.deepnet import Deepnet

    with open(detector_path) as stream:
        detector = Deepnet(json.load(stream), operation_settings={"region_score_threshold": 0.7})
    regions = detector.predict(photo)["prediction"]
    with open(multi_path) as stream:
        multi = Deepnet(json.load(stream))
    with open(rows_path) as stream:
        rows = json.load(stream)
    predictions = [multi.predict(row, full=True) for row in rows]
    print(
        json.dumps(
            {
                "detector_using_laminar": detector.using_laminar,
                "detector_class": f"{type(detector.deepnet).__module__}.{type(detector.deepnet).__name__}",
                "regions": regions,
                "multi_using_laminar": multi.using_laminar,
                "multi_class": f"{type(multi.deepnet).__module__}.{type(multi.deepnet).__name__}",
                "predictions": predictions,
            },
            default=float,  # the probabilities come as numpy floats
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
