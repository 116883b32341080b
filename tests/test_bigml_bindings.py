"""BigML's own Python bindings (``bigml==9.8.3``) predicting through this package.

The bindings import ``sensenet.models.wrappers.create_model`` (the seed library's path) and fall
back to their slow numpy code ("laminar") when building the model raises. Scenario 5 of their
``test_03_local_prediction``: the eye detector on the pexels photo at region score 0.7 gives
exactly BigML's two boxes (5 decimals); and an older multi-network deepnet (``output_exposition``
inside each network, empty top-level ``layers``) is built by this package, not by the fallback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests import reference
from tests.conftest import REPO_ROOT, fixture_path
from tests.test_fidelity_variants import variant_network

pytest.importorskip("bigml.deepnet", reason="the bindings test needs bigml==9.8.3 (the test extra)")

EXPECTED_REGIONS = [
    {"box": [0.68164, 0.30469, 0.79688, 0.36979], "label": "eye", "score": 0.79633},
    {"box": [0.38086, 0.27865, 0.50391, 0.36068], "label": "eye", "score": 0.74563},
]
FIELD_IDS = ["000000", "000001", "000002"]
OBJECTIVE = "000003"
ROWS = [
    {"num": 0.5, "cat": "a", "other": 2.0},
    {"num": 3.0, "cat": "c", "other": -4.0},
    {"num": -2.0, "cat": "b", "other": 0.5},
]


def multi_network_resource() -> dict:
    """A finished BigML deepnet resource around a generated older multi-network classifier."""
    network = variant_network("classification-typed-networks-inside")
    fields = {
        "000000": {"name": "num", "optype": "numeric", "column_number": 0, "summary": {"missing_count": 0}},
        "000001": {
            "name": "cat",
            "optype": "categorical",
            "column_number": 1,
            "summary": {"categories": [["a", 3], ["b", 2], ["c", 1]], "missing_count": 0},
        },
        "000002": {"name": "other", "optype": "numeric", "column_number": 2, "summary": {"missing_count": 0}},
        OBJECTIVE: {
            "name": "label",
            "optype": "categorical",
            "column_number": 3,
            "summary": {"categories": [["x", 5], ["y", 4], ["z", 3]]},
        },
    }
    deepnet = {"fields": fields, "network": network, "missing_numerics": False}
    return {
        "code": 200,
        "error": None,
        "resource": "deepnet/000000000000000000000001",
        "object": {
            "fields_meta": {"count": 4, "total": 4},
            "resource": "deepnet/000000000000000000000001",
            "input_fields": FIELD_IDS,
            "objective_fields": [OBJECTIVE],
            "status": {"code": 5},
            "deepnet": deepnet,
        },
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("bindings")
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (name,) = archive.namelist()
        (workdir / "detector.json").write_bytes(archive.read(name))
    (workdir / "multi.json").write_text(json.dumps(multi_network_resource()))
    (workdir / "rows.json").write_text(json.dumps(ROWS))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bindings_scenarios",
            str(workdir / "detector.json"),
            str(fixture_path("detection/pexels-pixabay-33358.jpg")),
            str(workdir / "multi.json"),
            str(workdir / "rows.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_eye_detector_gives_bigmls_regions_exactly(scenario):
    assert scenario["detector_using_laminar"] is False
    assert scenario["detector_class"] == "sensenet.models.detector.ObjectDetector"
    assert scenario["regions"] == EXPECTED_REGIONS


def test_an_older_multi_network_deepnet_does_not_fall_back_to_numpy(scenario):
    assert scenario["multi_using_laminar"] is False
    assert scenario["multi_class"] == "sensenet.models.deepnet.Deepnet"
    network = variant_network("classification-typed-networks-inside")
    expected = reference.predict(network, [[row["num"], row["cat"], row["other"]] for row in ROWS])
    for prediction, probabilities in zip(scenario["predictions"], expected):
        best = int(np.argmax(probabilities))
        assert prediction["prediction"] == ["x", "y", "z"][best]
        assert prediction["probability"] == pytest.approx(probabilities[best], abs=1e-5)
