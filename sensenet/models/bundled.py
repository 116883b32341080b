"""Models read back from an .smbundle: they predict through the bundle's SavedModel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import UnsupportedError
from sensenet.models.bundle import SETTINGS_PATH, load_bundle
from sensenet.models.settings import Settings, ensure_settings
from sensenet.models.wrappers import Deepnet
from sensenet.spec import ModelSpec
from sensenet.spec.fields import Fields
from sensenet.spec.inputs import parse_inputs
from sensenet.spec.model import parse_output


class SavedModelEngine:
    """Runs a loaded SavedModel's ``serve`` function: the input matrix (if the model reads one),
    then one pixel batch per image field, as the Keras model takes them."""

    name = "saved_model"

    def __init__(self, saved_model: Any, takes_matrix: bool = True):
        self.model = saved_model
        self._takes_matrix = takes_matrix

    def __call__(self, matrix: np.ndarray, images: Sequence[np.ndarray] = ()) -> np.ndarray:
        arrays = ([matrix] if self._takes_matrix else []) + list(images)
        return self.model.serve(*arrays).numpy()


class BundledDeepnet(Deepnet):
    """A Deepnet whose graph is the bundle's SavedModel; its spec holds inputs and output only."""

    def __init__(self, spec: ModelSpec, settings: Settings, preprocessors: list[dict], saved_model: Any):
        super().__init__(spec, settings, preprocessors)
        self._engine = SavedModelEngine(saved_model, takes_matrix=bool(spec.numeric_inputs))

    @property
    def _model(self):
        """The loaded SavedModel (a bundle keeps no Keras layers)."""
        return self._engine.model


def model_from_bundle(path: str | os.PathLike) -> Deepnet:
    """The model in an .smbundle, with the settings it was written with."""
    saved_model, info = load_bundle(path)
    if info["deepnet_type"] != Deepnet.deepnet_type:
        raise UnsupportedError(f"{path}: bundles of {info['deepnet_type']} models are not supported yet")
    fields = Fields(info, f"{os.fspath(path)}:{SETTINGS_PATH}")
    inputs = parse_inputs(fields.children("preprocess"), fields.at("preprocess"))
    spec = ModelSpec(inputs, (), parse_output(fields.child("output_exposition")))
    return BundledDeepnet(spec, ensure_settings(info.get("settings")), info["preprocess"], saved_model)
