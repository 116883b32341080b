"""Code written against the seed library (bigml-sensenet 0.7.5) keeps working."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet import SettingsError
from sensenet.models import wrappers
from sensenet.models.settings import Settings, ensure_settings
from tests.test_fidelity_variants import ROWS, variant_network


def test_settings_take_the_seeds_positional_dict():
    settings = Settings({"iou_threshold": 0.2, "max_objects": 4})
    assert settings == Settings(iou_threshold=0.2, max_objects=4) == ensure_settings(settings)
    assert Settings({"max_objects": 4}, max_objects=5).max_objects == 5
    settings.rescale_type = "PAD"  # the seed set attributes after building, checked
    assert settings.rescale_type == "pad"
    with pytest.raises(SettingsError, match="must be a whole number"):
        settings.max_objects = 0
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings({"iou": 0.2})
    with pytest.raises(SettingsError, match="must be a dict"):
        Settings([("iou_threshold", 0.2)])


def test_the_seeds_wrapper_functions(tmp_path):
    network = variant_network("regression-typed-single")
    resource = {"resource": "deepnet/1", "object": {"deepnet": {"network": network}}}
    assert wrappers.bigml_resource(resource) is network and wrappers.bigml_resource({"x": 1}) is None
    assert wrappers.is_deepnet(network) and not wrappers.is_deepnet(resource)
    model = wrappers.model_from_dictionary(resource, {"engine": "onnx"})
    assert isinstance(model, wrappers.SaveableModel)
    model.save_bundle(str(tmp_path / "m.smbundle"))
    wrappers.to_tflite(model, tmp_path / "m.tflite")
    assert (tmp_path / "m.tflite").stat().st_size > 0
    again = wrappers.model_from_bundle(str(tmp_path / "m.smbundle"))
    assert np.abs(again(ROWS) - model(ROWS)).max() <= 1e-5
