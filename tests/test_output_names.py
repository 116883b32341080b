"""Issue 22, item 6: one vocabulary of output names (`sensenet.spec.output_names`) in every export
and endpoint: ``probabilities`` (classifiers), ``prediction`` (regressions); detectors ``boxes``,
``scores``, ``classes``, ``count`` (their exports: test_convert_detector; serve: test_serve)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from sensenet.examples import example_path
from sensenet.models import bundle
from sensenet.models.wrappers import convert, create_model
from sensenet.spec.output_names import DETECTOR_OUTPUTS, PREDICTION, PROBABILITIES
from tests.conftest import dense, numeric_field, regression_network

TOLERANCE = 1e-6


def regression() -> dict:
    return regression_network(
        [dense([[0.5], [-2.0]], [0.25])], [numeric_field(0), numeric_field(1, 3.0, 2.0)], 10.0, 4.0
    )


MODELS = {PROBABILITIES: lambda: str(example_path("iris")), PREDICTION: regression}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request, tmp_path_factory) -> tuple[str, object, dict[str, Path]]:
    """The model whose one output is named `request.param`, in every format that names outputs."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    model = create_model(MODELS[name]())
    paths = {to_format: folder / f"model.{to_format}" for to_format in ("onnx", "tflite", "smbundle")}
    paths["tfjs"] = folder / "web"
    for to_format, path in paths.items():
        convert(MODELS[name](), None, path, to_format)
    return name, model, paths


def test_the_vocabulary():
    assert (PROBABILITIES, PREDICTION, DETECTOR_OUTPUTS) == (
        "probabilities",
        "prediction",
        ("boxes", "scores", "classes", "count"),
    )


def test_onnx_and_its_engine_name_the_output(exported):
    import onnxruntime

    from sensenet.engines.onnx.deepnet import deepnet_graph

    name, model, paths = exported
    session = onnxruntime.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    assert [output.name for output in session.get_outputs()] == [name]
    assert [output.name for output in deepnet_graph(model.spec, model.settings).graph.output] == [name]
    description = json.loads(session.get_modelmeta().custom_metadata_map["sensenet"])
    assert description["outputs"] == [name]


def test_tflite_names_its_signature_output(exported):
    from ai_edge_litert.interpreter import Interpreter

    name, _, paths = exported
    signature = Interpreter(model_path=str(paths["tflite"])).get_signature_list()["serving_default"]
    assert signature["outputs"] == [name]


def test_tfjs_description_names_the_output(exported):
    name, _, paths = exported
    assert json.loads((paths["tfjs"] / "sensenet.json").read_text())["outputs"] == [name]


def test_smbundle_serves_the_named_output(exported):
    import tensorflow as tf

    name, model, paths = exported
    rows = [[5.1, 3.5, 1.4, 0.2]] if name == PROBABILITIES else [[1.0, 2.0]]
    matrix = model.encode(rows)
    with bundle.extracted_bundle(paths["smbundle"]) as directory:
        saved = tf.saved_model.load(str(directory))
        served = saved.serve(tf.constant(matrix))
        default = saved.signatures["serving_default"]
        assert list(served) == [name] and list(default.structured_outputs) == [name]
        assert np.abs(served[name].numpy() - model(rows)).max() <= TOLERANCE
    assert np.abs(create_model(str(paths["smbundle"]))(rows) - model(rows)).max() <= TOLERANCE


def test_a_bundle_written_before_the_names_still_predicts(tmp_path):
    """Bundles of earlier versions hold Keras' own export, whose output has no name of ours."""
    from sensenet.export.smbundle import bundle_settings

    model = create_model(str(example_path("iris")), {"engine": "keras"})
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    with tempfile.TemporaryDirectory() as workdir:
        saved_model = Path(workdir) / "model"
        model._model.export(saved_model, verbose=False)
        (saved_model / bundle.SETTINGS_PATH).parent.mkdir(exist_ok=True)
        (saved_model / bundle.SETTINGS_PATH).write_text(json.dumps(bundle_settings(model)))
        bundle.write_bundle(saved_model, tmp_path / "old.smbundle")
    assert np.abs(create_model(str(tmp_path / "old.smbundle"))(rows) - model(rows)).max() <= TOLERANCE
