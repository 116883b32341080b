"""Exports of a built model to files other runtimes read, one module per format.

`FORMATS` maps each format name to the function that writes it (a function
from a built wrapper and a path to files at that path), to the settings the
format needs when the model is built for it, and to whether it can hold
BigML's input encoding itself (`self_contained`: one input per field, raw
values in; see `sensenet.export.onnx_fields`). `export_model` does what every
format shares, through `sensenet.files.writing`: refuse an existing output
unless asked to overwrite, write into a staging directory beside the
destination, and move the result into place only when the writer succeeded,
so a failed or killed export leaves nothing behind.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sensenet.exceptions import SettingsError, UnsupportedError
from sensenet.settings import Settings, ensure_settings

if TYPE_CHECKING:  # the writing helpers (pathlib, shutil, tempfile) load on export, not on every create_model
    from pathlib import Path


def _is_tfjs_directory(path: Path) -> bool:
    """A TF.js graph-model directory as `write_tfjs` writes it: its JSON files and weight shards only."""
    return (path / "model.json").is_file() and all(
        entry.is_file() and not entry.is_symlink() and entry.suffix in (".json", ".bin")
        for entry in path.iterdir()
    )


@dataclass(frozen=True)
class Format:
    writer: str  # "module:function"; the function takes (wrapper, path) and writes path
    settings: dict[str, Any] = field(default_factory=dict)  # defaults a model built for it needs
    # The default of the self_contained option; None: the format takes the encoded matrix only.
    self_contained: bool | None = None
    # Whether an existing directory at the output is one this format wrote (so overwrite may replace it).
    replaceable: Callable[[Path], bool] | None = None
    rescale_types: tuple[str, ...] | None = None  # how it can fit images, when it cannot keep the model's

    def load_writer(self) -> Callable[..., None]:
        module_name, attribute = self.writer.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def writer_options(self, name: str, self_contained: Any) -> dict[str, Any]:
        """The writer's keyword arguments for the caller's `self_contained` (None: the default)."""
        if self_contained is not None and not isinstance(self_contained, bool):
            raise SettingsError(f"self_contained must be True, False or None, got {self_contained!r}")
        if self.self_contained is None:
            if self_contained:
                raise UnsupportedError(
                    f"the {name} export cannot hold the input encoding (string inputs): it takes the "
                    "encoded matrix (see model.encode); self_contained=True works for onnx, tflite and tfjs"
                )
            return {}
        return {"self_contained": self.self_contained if self_contained is None else self_contained}


FORMATS: dict[str, Format] = {
    "tflite": Format(  # LiteRT file; images of any size are warped inside the graph
        "sensenet.export.tflite:write_tflite", {"rescale_type": "warp"}, True, rescale_types=("warp",)
    ),
    # TensorFlow.js graph-model directory; self-contained on request only: string inputs run on the
    # cpu and webgl backends, not known to on wasm
    "tfjs": Format("sensenet.export.tfjs:write_tfjs", self_contained=False, replaceable=_is_tfjs_directory),
    "smbundle": Format("sensenet.export.smbundle:write_smbundle"),  # SavedModel + settings, one file
    "h5": Format("sensenet.export.h5:write_h5"),  # Keras weights
    "onnx": Format("sensenet.export.onnx:write_onnx", self_contained=True),  # the ONNX engine's graph
}


# The formats of whole models that fit images as the model does.
KEEP_RESCALE_TYPE = ("onnx", "smbundle", "tfjs")


def get_format(name: Any) -> Format:
    if not isinstance(name, str) or name not in FORMATS:
        raise SettingsError(f"unknown format {name!r}; known formats are {sorted(FORMATS)}")
    return FORMATS[name]


def export_model(
    model: Any,
    output_path: str | bytes | os.PathLike,
    to_format: str,
    overwrite: bool = False,
    self_contained: bool | None = None,
) -> Path:
    """Write `model` (a built wrapper) in `to_format` at exactly `output_path`."""
    from sensenet.files.writing import check_destination, publish, staging_directory

    chosen = get_format(to_format)
    options = chosen.writer_options(to_format, self_contained)
    writer = chosen.load_writer()
    target = check_destination(output_path, overwrite, chosen.replaceable)
    with staging_directory(target) as staging:
        staged = staging / target.name
        writer(model, staged, **options)
        publish(staged, target, overwrite, chosen.replaceable)
    return target


def _fitted_images(to_format: str, requested: str | None) -> None:
    """Refuse, before any building, a rescale type the format cannot hold."""
    allowed = get_format(to_format).rescale_types
    if requested is not None and allowed is not None and requested not in allowed:
        raise UnsupportedError(
            f"{to_format} models fit images with rescale_type {allowed[0]!r} only, inside the graph; "
            f"{requested!r} cannot be exported to {to_format}. Convert to {' or '.join(KEEP_RESCALE_TYPE)}, "
            f"which keep {requested!r}, or convert without the rescale_type setting (--rescale-type) for a "
            f"{to_format} model that uses {allowed[0]!r}, whose results differ from {requested!r}'s"
        )


def warn_refitted(model: Any, to_format: str) -> None:
    """Say so when the format fits images differently from the model's own rescale type."""
    allowed = get_format(to_format).rescale_types
    network = model.spec.image_network if model.spec is not None else None
    own = network.metadata.rescale_type if network is not None else None
    if allowed is None or own is None or own in allowed:
        return
    warnings.warn(
        f"this model fits images with rescale_type {own!r}, but a {to_format} model fits them with "
        f"{allowed[0]!r} inside the graph: its results differ from the model's own; convert to "
        f"{' or '.join(KEEP_RESCALE_TYPE)} to keep {own!r}",
        UserWarning,
        stacklevel=3,
    )


def format_settings(
    settings: Any,
    output_path: str | bytes | os.PathLike,
    to_format: str,
    overwrite: bool = False,
    self_contained: bool | None = None,
) -> Settings:
    """The settings a model built for `to_format` needs, after refusing, before anything is built,
    an option, destination or rescale type the format cannot take."""
    from sensenet.files.writing import check_destination

    chosen = get_format(to_format)
    chosen.writer_options(to_format, self_contained)
    check_destination(output_path, overwrite, chosen.replaceable)
    settings_object = ensure_settings(settings)
    _fitted_images(to_format, settings_object.rescale_type)
    for key, value in chosen.settings.items():
        if getattr(settings_object, key) is None:
            setattr(settings_object, key, value)
    return settings_object
