"""What every predicting wrapper (`Deepnet`, `ObjectDetector`) holds: its spec, settings and fields."""

from __future__ import annotations

from sensenet.models.settings import Settings
from sensenet.spec.model import ModelSpec


class ModelWrapper:
    def __init__(self, spec: ModelSpec, settings: Settings, preprocessors: list[dict] | None = None):
        self._spec = spec
        self._settings = settings
        self._preprocessors = preprocessors

    def __reduce__(self):
        """Pickles as its description (spec, settings): engines are built again on first use, so a
        model ships to other processes (Spark executors) with its weights and no runtime state."""
        return (type(self), (self._spec, self._settings, self._preprocessors))

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
