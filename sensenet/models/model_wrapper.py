"""What every predicting wrapper (`Deepnet`, `ObjectDetector`) holds: its spec, settings and fields."""

from __future__ import annotations

from sensenet.models.fields import FieldInfo, describe_fields, fields_are_named
from sensenet.models.settings import Settings
from sensenet.spec.model import BOUNDING_BOX, ModelSpec
from sensenet.spec.source import FieldNames

KINDS = {"classification": "classification", "regression": "regression", BOUNDING_BOX: "detection"}


class ModelWrapper:
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
        self._fields = describe_fields(spec.inputs, names)
        self._names_fields = fields_are_named(spec.inputs, names)

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def settings(self) -> Settings:
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
        """"classification", "regression" or "detection"."""
        return KINDS[self._spec.output.kind]
