"""What every predicting wrapper (`Deepnet`, `ObjectDetector`) holds: its spec, settings and fields,
and the seed library's saving methods (`SaveableModel`), which are conversions."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from sensenet.engines import engine_name
from sensenet.lazy import Lazy
from sensenet.models.fields import FieldInfo, describe_fields, fields_are_named
from sensenet.settings import Settings
from sensenet.spec.model import BOUNDING_BOX, ModelSpec
from sensenet.spec.source import FieldNames

KINDS = {"classification": "classification", "regression": "regression", BOUNDING_BOX: "detection"}


class ModelWrapper:
    """A model built from a spec, with its settings and input fields (`Deepnet`, `ObjectDetector`).

    A model from the compiled-model cache (`sensenet.models.compiled`) is built from its `outline`
    (the spec without weights) and what its onnx engine is given instead of compiling the spec
    (`compiled`: see `sensenet.engines.make_engine`); its whole `spec` is read again from the
    model file (`full_spec`) only when asked (the Keras engine, exports).
    """

    def __init__(
        self,
        spec: ModelSpec,
        settings: Settings,
        preprocessors: list[dict] | None = None,
        names: FieldNames | None = None,
        *,
        compiled: Mapping[str, Any] | None = None,
        full_spec: Callable[[], ModelSpec] | None = None,
    ):
        self._spec = spec
        self._full_spec = Lazy(full_spec) if full_spec is not None else None
        self._compiled = dict(compiled or {})
        self._settings = settings
        self._preprocessors = preprocessors
        self._names = names
        self._fields = describe_fields(spec.inputs, names)
        self._names_fields = fields_are_named(spec.inputs, names)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its description (spec, settings, names): engines are built again on first use,
        so a model ships to other processes (Spark executors) with its weights and no runtime state."""
        return (type(self), (self.spec, self._settings, self._preprocessors, self._names))

    @property
    def spec(self) -> ModelSpec:
        """The validated description the model was built from."""
        return self._full_spec.get() if self._full_spec is not None else self._spec

    @property
    def settings(self) -> Settings:
        """The settings the model was built with."""
        return self._settings

    @property
    def outline(self) -> ModelSpec:
        """The description's inputs, output and image settings, without reading the weights: `spec`
        itself, or for a model from the compiled-model cache, `spec` less its layers."""
        return self._spec

    def compile_with(self, **compiled: Any) -> None:
        """What the onnx engine, when built, is given beside the spec (`sensenet.engines.make_engine`)."""
        self._compiled = compiled

    def _engine_arguments(self) -> tuple[ModelSpec, dict[str, Any]] | None:
        """The spec and compiled arguments for an onnx engine, handed over once (the bytes are then
        not kept); None when the engine compiles the whole spec itself."""
        compiled, self._compiled = self._compiled, {}
        if not compiled or engine_name(self._settings.engine) != "onnx":
            return None
        return (self._spec if "graph" in compiled else self.spec), compiled

    @property
    def preprocessors(self) -> list[dict] | None:
        """BigML's ``preprocess`` list the model was built from."""
        return self._preprocessors

    @property
    def fields(self) -> tuple[FieldInfo, ...]:
        """The input fields, in ``preprocess`` order."""
        return self._fields

    @property
    def row_names(self) -> tuple[str, ...] | None:
        """The input field names in row order (position i names row column i), when the model
        came with them (a full BigML resource); None for a bare network."""
        return self._names.names if self._names is not None else None

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
