"""Keras weights export (HDF5), at exactly the path the user gave.

Keras 3 only saves and loads weights files whose names end ``.weights.h5``;
both functions here go through such a name in a private temporary directory
so the user's own path can be anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sensenet.exceptions import UnsupportedError

KERAS_WEIGHTS_SUFFIX = ".weights.h5"


def _keras_model(model: Any) -> Any:
    from sensenet.engines.keras.backend import keras

    source = model._model
    if not isinstance(source, keras.Model):
        raise UnsupportedError(
            "this model was read from an .smbundle, which keeps no Keras layers to take weights from; "
            "convert to h5 from the model JSON instead"
        )
    return source


def write_h5(model: Any, path: Path) -> None:
    keras_model = _keras_model(model)
    with tempfile.TemporaryDirectory(prefix="sensenet-h5-") as workdir:
        staged = Path(workdir) / f"model{KERAS_WEIGHTS_SUFFIX}"
        keras_model.save_weights(staged)
        shutil.move(staged, path)


def load_h5_weights(keras_model: Any, path: str | os.PathLike) -> None:
    """Load weights written by `write_h5` into `keras_model` (built from the same JSON)."""
    with tempfile.TemporaryDirectory(prefix="sensenet-h5-") as workdir:
        staged = Path(workdir) / f"model{KERAS_WEIGHTS_SUFFIX}"
        shutil.copyfile(path, staged)
        keras_model.load_weights(staged)
