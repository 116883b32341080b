"""What every predicting wrapper (`Deepnet`, `ObjectDetector`) holds: its spec, settings and fields,
and the seed library's saving methods (`SaveableModel`), which are conversions."""

from __future__ import annotations

import os
from typing import Any

from sensenet.models.fields import FieldInfo, describe_fields, fields_are_named
from sensenet.settings import Settings
from sensenet.spec.model import BOUNDING_BOX, ModelSpec
from sensenet.spec.source import FieldNames

KINDS = {"classification": "classification", "regression": "regression", BOUNDING_BOX: "detection"}


class ModelWrapper:
    """A model built from a spec, with its settings and input fields (`Deepnet`, `ObjectDetector`)."""

    def __init__(
        self,
        spec: ModelSpec,
        settings: Settings,
        preprocessors: list[dict] | None = None,
        names: FieldNames | None = None,
    ):
        self._spec = spec
        self._settings = settings
        self._preprocessors = preprocessors
        self._names = names
        self._fields = describe_fields(spec.inputs, names)
        self._names_fields = fields_are_named(spec.inputs, names)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its description (spec, settings, names): engines are built again on first use,
        so a model ships to other processes (Spark executors) with its weights and no runtime state."""
        return (type(self), (self._spec, self._settings, self._preprocessors, self._names))

    @property
    def spec(self) -> ModelSpec:
        """The validated description the model was built from."""
        return self._spec

    @property
    def settings(self) -> Settings:
        """The settings the model was built with."""
        return self._settings

    @property
    def preprocessors(self) -> list[dict] | None:
        """BigML's ``preprocess`` list the model was built from."""
        return self._preprocessors

    @property
    def fields(self) -> tuple[FieldInfo, ...]:
        """The input fields, in ``preprocess`` order."""
        return self._fields

    @property
    def names_fields(self) -> bool:
        """True when the field names came from BigML (a full resource), not from their positions."""
        return self._names_fields

    @property
    def classes(self) -> list[str] | None:
        """The class names of a classifier or detector, in output order; None for a regression."""
        return list(self._spec.classes) if self._spec.classes else None

    @property
    def kind(self) -> str:
        """ "classification", "regression" or "detection"."""
        return KINDS[self._spec.output.kind]

    def save_weights(self, save_path: str | os.PathLike) -> None:
        """The seed's name for ``convert(model, None, save_path, "h5")``."""
        self._convert(save_path, "h5")

    def save_bundle(self, save_path: str | os.PathLike, tfjs_path: str | os.PathLike | None = None) -> None:
        """The seed's name for ``convert(model, None, save_path, "smbundle")`` (and "tfjs")."""
        self._convert(save_path, "smbundle")
        if tfjs_path:
            self._convert(tfjs_path, "tfjs")

    def save_tfjs(self, save_path: str | os.PathLike) -> None:
        """The seed's name for ``convert(model, None, save_path, "tfjs")``."""
        self._convert(save_path, "tfjs")

    def _convert(self, path: str | os.PathLike, to_format: str) -> None:
        from sensenet.export import export_model

        export_model(self, path, to_format)
