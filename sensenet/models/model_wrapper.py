"""What every predicting wrapper (`Deepnet`, `ObjectDetector`) holds: its spec, settings and fields,
and the seed library's saving methods (`SaveableModel`), which are conversions."""

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

    def save_weights(self, save_path) -> None:
        """The seed's name for ``convert(model, None, save_path, "h5")``."""
        self._convert(save_path, "h5")

    def save_bundle(self, save_path, tfjs_path=None) -> None:
        """The seed's name for ``convert(model, None, save_path, "smbundle")`` (and "tfjs")."""
        self._convert(save_path, "smbundle")
        if tfjs_path:
            self._convert(tfjs_path, "tfjs")

    def save_tfjs(self, save_path) -> None:
        """The seed's name for ``convert(model, None, save_path, "tfjs")``."""
        self._convert(save_path, "tfjs")

    def _convert(self, path, to_format: str) -> None:
        from sensenet.models.wrappers import convert

        convert(self, None, path, to_format)
