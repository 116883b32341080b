"""BigML's own Python bindings (``bigml==9.8.3``) predicting through this package.

The bindings import ``sensenet.models.wrappers.create_model`` (the seed library's path) and fall
back to their slow numpy code ("laminar") when that import or building the model raises; every
scenario asserts they did not. Models and numbers are BigML's own (the conformance fixtures,
wrapped as the finished BigML resources the bindings read): a regression and two classifiers
(``predict``, ``predict_probability``, an operating point), the digits image model, and
scenario 5 of their ``test_03_local_prediction``, the eye detector on the pexels photo at region
score 0.7, which gives exactly BigML's two boxes (5 decimals). An older multi-network deepnet
(``output_exposition`` inside each network, empty top-level ``layers``) is built by this
package too. The bindings run in a temporary directory (they make ``storage/`` where they run).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests import reference
from tests.conftest import FIXTURES, REPO_ROOT, fixture_path, load_cases
from tests.test_fidelity_variants import variant_network

pytest.importorskip("bigml.deepnet", reason="the bindings test needs bigml==9.8.3 (the test extra)")

EXPECTED_REGIONS = [
    {"box": [0.68164, 0.30469, 0.79688, 0.36979], "label": "eye", "score": 0.79633},
    {"box": [0.38086, 0.27865, 0.50391, 0.36068], "label": "eye", "score": 0.74563},
]
ROWS = [[0.5, "a", 2.0], [3.0, "c", -4.0], [-2.0, "b", 0.5]]  # for the multi-network deepnet
ROUNDING = 5e-6  # the bindings round probabilities to 5 decimals
TOLERANCE = 1e-6  # BigML's float32 numbers, as everywhere
FIXTURE_PREFIX = "tests/data/"
# regression.json.gz: a regression, a classifier, a classifier with tree embeddings
CONFORMANCE_CASES = {"regression": 0, "classifier": 2, "classifier_trees": 5}


def field_id(position: int) -> str:
    return f"{position:06x}"


def bigml_resource(network: dict) -> dict:
    """A finished BigML deepnet resource around `network`, one field per ``preprocess`` entry
    (ids in index order, as BigML numbers them) plus the objective."""
    fields: dict[str, dict] = {}
    for position, field in enumerate(sorted(network["preprocess"], key=lambda f: f["index"])):
        described = {"name": f"field{position}", "column_number": position, "summary": {"missing_count": 0}}
        if field["type"] == "categorical":
            described["optype"] = "categorical"
            described["summary"]["categories"] = [[value, 1] for value in field["values"]]
        else:
            described["optype"] = field["type"]
        fields[field_id(position)] = described
    inputs = list(fields)
    exposition = network.get("output_exposition") or network["networks"][0]["output_exposition"]
    objective = {"name": "objective", "column_number": len(inputs)}
    if exposition["type"] == "categorical":
        objective.update(optype="categorical", summary={"categories": [[v, 1] for v in exposition["values"]]})
    else:
        objective.update(optype="numeric", summary={"missing_count": 0})
    fields[field_id(len(inputs))] = objective
    return {
        "code": 200,
        "error": None,
        "resource": "deepnet/000000000000000000000002",
        "object": {
            "fields_meta": {"count": len(fields), "total": len(fields)},
            "resource": "deepnet/000000000000000000000002",
            "input_fields": inputs,
            "objective_fields": [field_id(len(inputs))],
            "status": {"code": 5},
            "deepnet": {"fields": fields, "network": network, "missing_numerics": False},
        },
    }


def contiguous(network: dict) -> tuple[dict, list[int]]:
    """`network` with its fields numbered 0, 1, ... in index order (as the bindings' rows come),
    and the fixture row positions in that order."""
    renumbered = copy.deepcopy(network)
    order = sorted(field["index"] for field in network["preprocess"])
    for field in renumbered["preprocess"]:
        field["index"] = order.index(field["index"])
    return renumbered, order


def _image_path(value):
    if isinstance(value, str) and value.startswith(FIXTURE_PREFIX):
        return str(FIXTURES / value[len(FIXTURE_PREFIX) :])
    return value


def conformance_case(name: str) -> tuple[dict, list[dict], np.ndarray]:
    """BigML's model, its validation rows as the bindings' input dicts (by field id), and what the
    bindings must answer: BigML's numbers, at the inputs the bindings compute with."""
    if name == "image":
        case = load_cases("image_regression.json.gz")[0]
    else:
        case = load_cases("regression.json.gz")[CONFORMANCE_CASES[name]]
    network, order = contiguous(case["model"])
    rows = [[_image_path(item["input"][index]) for index in order] for item in case["validation"]]
    inputs = [{field_id(p): value for p, value in enumerate(row) if value is not None} for row in rows]
    bigml = np.array([item["output"] for item in case["validation"]])
    if name == "image":
        assert all(field["type"] != "numeric" for field in network["preprocess"])
        return network, inputs, bigml
    # The bindings round numeric inputs to 5 decimals (bigml.util.cast) before predicting, so the
    # reference, which gives BigML's numbers at the fixture's inputs, gives them at those.
    assert np.abs(reference.predict(network, rows) - bigml).max() <= TOLERANCE
    rounded = [[round(v, 5) if isinstance(v, float) else v for v in row] for row in rows]
    return network, inputs, reference.predict(network, rounded)


def operating_points(classes: list[str], outputs: np.ndarray) -> list[tuple[dict, str]]:
    """Per row, an operating point on its second most probable class and the class the bindings'
    rule then predicts: that class when its probability exceeds the threshold, else the most
    probable other class. The thresholds stay 1e-3 away from the probability."""
    points = []
    for k, probabilities in enumerate(outputs):
        ranked = np.argsort(-probabilities)
        positive = ranked[1]
        if k % 2 == 0 and probabilities[positive] > 2e-3:
            threshold, expected = probabilities[positive] - 1e-3, positive
        else:
            threshold, expected = min(probabilities[positive] + 1e-3, 1.0), ranked[0]
        point = {"kind": "probability", "positive_class": classes[positive], "threshold": float(threshold)}
        points.append((point, classes[expected]))
    return points


MULTI_NETWORK = "classification-typed-networks-inside"


def _jobs(workdir: Path) -> dict[str, dict]:
    """Every scenario as a job of tests/bindings_scenarios.py, by name."""
    jobs = {}
    for name in (*CONFORMANCE_CASES, "image"):
        network, inputs, outputs = conformance_case(name)
        (workdir / f"{name}.json").write_text(json.dumps(bigml_resource(network)))
        calls = [["predict", row, {"full": True}] for row in inputs]
        if name != "regression":
            calls += [["predict_probability", row, {"compact": True}] for row in inputs]
            classes = network["output_exposition"]["values"]
            for row, (point, _) in zip(inputs, operating_points(classes, outputs)):
                calls.append(["predict", row, {"operating_point": point, "full": True}])
        jobs[name] = {"resource": str(workdir / f"{name}.json"), "calls": calls}
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (entry,) = archive.namelist()
        (workdir / "detector.json").write_bytes(archive.read(entry))
    jobs["detector"] = {
        "resource": str(workdir / "detector.json"),
        "operation_settings": {"region_score_threshold": 0.7},
        "calls": [["predict", str(fixture_path("detection/pexels-pixabay-33358.jpg")), {}]],
    }
    (workdir / "multi.json").write_text(json.dumps(bigml_resource(variant_network(MULTI_NETWORK))))
    jobs["multi"] = {
        "resource": str(workdir / "multi.json"),
        "calls": [["predict", {field_id(i): v for i, v in enumerate(row)}, {"full": True}] for row in ROWS],
    }
    return jobs


@pytest.fixture(scope="module")
def bindings(tmp_path_factory) -> dict[str, dict]:
    """Each scenario's output from the bindings, all run in one process in a temporary directory."""
    workdir = tmp_path_factory.mktemp("bindings")
    jobs = _jobs(workdir)
    (workdir / "jobs.json").write_text(json.dumps(list(jobs.values())))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.bindings_scenarios", str(workdir / "jobs.json")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    return dict(zip(jobs, outputs))


def test_the_bindings_take_the_sensenet_path_for_every_model(bindings):
    classes = {name: output["class"] for name, output in bindings.items()}
    assert all(output["using_laminar"] is False for output in bindings.values()), bindings
    assert classes.pop("detector") == "sensenet.models.detector.ObjectDetector"
    assert set(classes.values()) == {"sensenet.models.deepnet.Deepnet"}


def test_the_bindings_leave_nothing_in_the_repository(bindings):
    assert not (REPO_ROOT / "storage").exists()


def test_a_regression_predicts_bigmls_values(bindings):
    _, _, outputs = conformance_case("regression")
    predictions = [result["prediction"] for result in bindings["regression"]["results"]]
    assert len(predictions) == len(outputs)
    for predicted, bigml in zip(predictions, outputs[:, 0]):
        assert predicted == pytest.approx(bigml, rel=TOLERANCE, abs=1e-5)  # full=True rounds to 5 decimals


@pytest.mark.parametrize("name", ["classifier", "classifier_trees", "image"])
def test_a_classifier_predicts_bigmls_probabilities_and_operating_points(bindings, name):
    network, _, outputs = conformance_case(name)
    classes = network["output_exposition"]["values"]
    assert classes == sorted(classes)  # the bindings' order of classes
    results = bindings[name]["results"]
    count = len(outputs)
    predicted, probabilities, operated = results[:count], results[count : 2 * count], results[2 * count :]
    for result, compact, bigml in zip(predicted, probabilities, outputs):
        assert result["prediction"] == classes[int(np.argmax(bigml))]
        assert result["probability"] == pytest.approx(bigml.max(), abs=ROUNDING + TOLERANCE)
        assert np.abs(np.array(compact) - bigml).max() <= ROUNDING + TOLERANCE
    for result, (_, expected) in zip(operated, operating_points(classes, outputs)):
        assert result["prediction"] == expected


def test_the_eye_detector_gives_bigmls_regions_exactly(bindings):
    (result,) = bindings["detector"]["results"]
    assert result["prediction"] == EXPECTED_REGIONS


def test_an_older_multi_network_deepnet_does_not_fall_back_to_numpy(bindings):
    network = variant_network(MULTI_NETWORK)
    expected = reference.predict(network, ROWS)
    for prediction, probabilities in zip(bindings["multi"]["results"], expected):
        best = int(np.argmax(probabilities))
        assert prediction["prediction"] == ["x", "y", "z"][best]
        assert prediction["probability"] == pytest.approx(probabilities[best], abs=1e-5)
