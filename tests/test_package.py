"""The package's top level: its entry points importable from `sensenet`, imported only when used."""

from __future__ import annotations

import json
import pydoc
import subprocess
import sys

import pytest

import sensenet
from sensenet import settings
from sensenet.models import deepnet, detector, doors, extractor
from tests.conftest import REPO_ROOT

ENTRY_POINTS = {
    "create_model": doors.create_model,
    "convert": doors.convert,
    "create_image_feature_extractor": doors.create_image_feature_extractor,
    "Settings": settings.Settings,
}

LOADED_BY_IMPORT = """
import json, sys
import sensenet
heavy = ("numpy", "onnxruntime", "onnx", "tensorflow", "keras", "PIL", "h5py")
before = sorted(name for name in heavy if name in sys.modules)
from sensenet import create_model
after = sorted(name for name in heavy if name in sys.modules)
print(json.dumps([before, after, "sensenet.models.doors" in sys.modules]))
"""


def test_import_sensenet_loads_nothing_heavy_until_an_entry_point_is_used():
    result = subprocess.run(
        [sys.executable, "-c", LOADED_BY_IMPORT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    before, after, doors_loaded = json.loads(result.stdout)
    assert before == []
    assert "numpy" in after and doors_loaded


def test_entry_points_are_the_modules_own():
    for name, value in ENTRY_POINTS.items():
        assert getattr(sensenet, name) is value, name
        assert name in sensenet.__all__ and name in dir(sensenet), name
    namespace: dict = {}
    exec("from sensenet import *", namespace)
    assert namespace["create_model"] is doors.create_model
    assert namespace["SensenetError"] is sensenet.SensenetError


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import():
    with pytest.raises(AttributeError, match="no attribute 'create_modle'"):
        sensenet.create_modle  # noqa: B018
    from sensenet import pretrained

    assert pretrained.__name__ == "sensenet.pretrained"


def test_help_says_where_to_start_and_lists_the_entry_points():
    text = pydoc.render_doc(sensenet, renderer=pydoc.plaintext)
    assert "Start with `create_model`" in text
    for name in ("create_model(", "convert(", "create_image_feature_extractor(", "class Settings"):
        assert name in text, name


def test_calling_a_model_is_documented():
    for call in (
        deepnet.Deepnet.__call__,
        detector.ObjectDetector.__call__,
        extractor.ImageFeatureExtractor.__call__,
    ):
        assert call.__doc__ and len(call.__doc__.split()) > 8, call.__qualname__
