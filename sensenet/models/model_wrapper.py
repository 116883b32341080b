"""What every predicting wrapper (`Deepnet`, `ObjectDetector`) holds: its spec, settings and fields."""

from __future__ import annotations

from sensenet.models.settings import Settings
from sensenet.spec.model import ModelSpec


class ModelWrapper:
    def __init__(self, spec: ModelSpec, settings: Settings, preprocessors: list[dict] | None = None):
        self._spec = spec
        self._settings = settings
        self._preprocessors = preprocessors

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
