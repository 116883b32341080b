"""The public doors: `create_model` and the `Deepnet` wrapper it returns."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from sensenet.engines import make_engine
from sensenet.exceptions import InputDataError
from sensenet.load import RowEncoder
from sensenet.models.settings import Settings, ensure_settings
from sensenet.pretrained import with_pretrained_weights
from sensenet.spec import ModelSpec, find_network, parse_network


class Deepnet:
    """A BigML deepnet that predicts locally.

    Call it with one row (a list of values indexed like BigML's fields), a list
    of rows, or a 2-D numeric array with one column per input field in
    ``preprocess`` order (categorical fields as the index of their value). It
    returns a float32 array of shape (rows, outputs): class probabilities in
    ``_classes`` order, or one regression value.
    """

    def __init__(self, spec: ModelSpec, settings: Settings, preprocessors: list[dict] | None = None):
        self._spec = spec
        self._settings = settings
        self._preprocessors = preprocessors
        self._classes = list(spec.classes) if spec.classes else None
        self._encoder = RowEncoder(spec.inputs)
        self._engine = None
        self._keras_model = None
        self._engine_lock = threading.Lock()

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def settings(self) -> Settings:
        return self._settings

    def _get_engine(self):
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = make_engine(self._settings.engine, self._spec, self._settings)
        return self._engine

    @property
    def _model(self):
        """The Keras model, built on first use whatever engine predicts."""
        if self._keras_model is None:
            engine = self._get_engine()
            if engine.name != "keras":
                engine = make_engine("keras", self._spec, self._settings)
            self._keras_model = engine.model
        return self._keras_model

    def encode(self, input_data: Any) -> np.ndarray:
        """The numeric input matrix for `input_data` (see the class docstring)."""
        if isinstance(input_data, np.ndarray):
            return self._encoder.encode_array(input_data)
        if isinstance(input_data, (list, tuple)):
            if not input_data:
                raise InputDataError("no rows given: expected a row (list of values) or a list of rows")
            if isinstance(input_data[0], (list, tuple, np.ndarray)):
                return self._encoder.encode_rows(input_data)
            return self._encoder.encode_rows([input_data])
        raise InputDataError(
            f"cannot predict on {type(input_data).__name__}: expected a row (list of values), "
            "a list of rows or a 2-D numeric array"
        )

    def __call__(self, input_data: Any) -> np.ndarray:
        return self._get_engine()(self.encode(input_data))


def create_model(anobject: Any, settings: Settings | Mapping[str, Any] | None = None) -> Deepnet:
    """A predicting model from a BigML deepnet: a resource, deepnet or network dict, or a JSON path."""
    settings_object = ensure_settings(settings)
    source = find_network(anobject)
    if settings_object.load_pretrained_weights:
        source = replace(source, network=with_pretrained_weights(source.network))
    spec = parse_network(source.network, source.origin)
    return Deepnet(spec, settings_object, source.network.get("preprocess"))
