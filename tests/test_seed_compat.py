"""Code written against the seed library (bigml-sensenet 0.7.5) keeps working."""

from __future__ import annotations

import ast
import importlib
import inspect
from types import ModuleType

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


def _defined_names(module: ModuleType) -> set[str]:
    """The public names a module's own top-level code defines."""
    tree = ast.parse(inspect.getsource(module))
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assigned = [node.targets[0] for node in tree.body if isinstance(node, ast.Assign)]
    names |= {target.id for target in assigned if isinstance(target, ast.Name)}
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize(
    "seed_path, home",
    [("sensenet.models.settings", "sensenet.settings"), ("sensenet.models.bundle", "sensenet.export.bundle")],
)
def test_the_seeds_module_paths_give_every_name_where_it_now_lives(seed_path, home):
    seed, module = importlib.import_module(seed_path), importlib.import_module(home)
    assert set(seed.__all__) == _defined_names(module)
    for name in seed.__all__:
        assert getattr(seed, name) is getattr(module, name)


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
