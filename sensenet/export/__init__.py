"""Exports of a built model to files other runtimes read, one module per format.

`FORMATS` maps each format name to the function that writes it (a function
from a built wrapper and a path to files at that path), to the settings the
format needs when the model is built for it, and to whether it can hold
BigML's input encoding itself (`self_contained`: one input per field, raw
values in; see `sensenet.export.onnx_fields`). `export_model` does what every
format shares: refuse an existing output unless asked to overwrite, write into
a staging directory beside the destination, and move the result into place only
when the writer succeeded, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensenet.exceptions import OutputPathError, SettingsError, UnsupportedError
from sensenet.models.settings import ensure_settings


@dataclass(frozen=True)
class Format:
    writer: str  # "module:function"; the function takes (wrapper, path) and writes path
    settings: dict[str, Any] = field(default_factory=dict)  # defaults a model built for it needs
    # The default of the self_contained option; None: the format takes the encoded matrix only.
    self_contained: bool | None = None

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
    "tflite": Format(  # LiteRT file
        "sensenet.export.tflite:write_tflite", {"rescale_type": "warp"}, self_contained=True
    ),
    # TensorFlow.js graph-model directory; self-contained on request only: string inputs run on the
    # cpu and webgl backends, not known to on wasm
    "tfjs": Format("sensenet.export.tfjs:write_tfjs", self_contained=False),
    "smbundle": Format("sensenet.export.smbundle:write_smbundle"),  # SavedModel + settings, one file
    "h5": Format("sensenet.export.h5:write_h5"),  # Keras weights
    "onnx": Format("sensenet.export.onnx:write_onnx", self_contained=True),  # the ONNX engine's graph
}


def get_format(name: Any) -> Format:
    if not isinstance(name, str) or name not in FORMATS:
        raise SettingsError(f"unknown format {name!r}; known formats are {sorted(FORMATS)}")
    return FORMATS[name]


def _check_destination(target: Path, overwrite: bool) -> None:
    if os.path.lexists(target) and not overwrite:
        raise OutputPathError(f"{target} already exists; pass overwrite=True to replace it")
    parent = target.parent
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {target}: the directory {parent} is not writable")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def export_model(
    model: Any,
    output_path: str | os.PathLike,
    to_format: str,
    overwrite: bool = False,
    self_contained: bool | None = None,
) -> Path:
    """Write `model` (a built wrapper) in `to_format` at exactly `output_path`."""
    chosen = get_format(to_format)
    options = chosen.writer_options(to_format, self_contained)
    writer = chosen.load_writer()
    target = Path(output_path)
    if not target.name:
        raise OutputPathError(f"output path {output_path!r} has no file name")
    _check_destination(target, overwrite)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise OutputPathError(f"cannot write {target}: {error.strerror}") from None
    try:
        staged = staging / target.name
        writer(model, staged, **options)
        if os.path.lexists(target):
            _remove(target)
        os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_model(
    model: Any,
    settings: Any,
    output_path: str | os.PathLike,
    to_format: str,
    overwrite: bool = False,
    self_contained: bool | None = None,
) -> Path:
    """`sensenet.models.wrappers.convert`: build the model for the format unless given a wrapper."""
    from sensenet.models.wrappers import Deepnet, ObjectDetector, create_model

    chosen = get_format(to_format)
    chosen.writer_options(to_format, self_contained)  # a refused option fails before the model is built
    required = chosen.settings
    if not isinstance(model, (Deepnet, ObjectDetector)):
        settings_object = ensure_settings(settings)
        for key, value in required.items():
            if getattr(settings_object, key) is None:
                setattr(settings_object, key, value)
        model = create_model(model, settings_object)
    return export_model(model, output_path, to_format, overwrite, self_contained)
