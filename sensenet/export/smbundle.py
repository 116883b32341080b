"""``.smbundle`` export: the model's SavedModel plus its wrapper settings, packed in one file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sensenet.models.bundle import SETTINGS_PATH, write_bundle
from sensenet.spec.model import CLASSIFICATION


def _output_exposition(model: Any) -> dict:
    output = model.spec.output
    if output.kind == CLASSIFICATION:
        return {"type": "categorical", "values": list(output.classes)}
    return {"type": "numeric", "mean": output.mean, "stdev": output.stdev}


def bundle_settings(model: Any) -> dict:
    """What a reader needs beside the graph: the wrapper kind, its settings, how rows are read."""
    return {
        "deepnet_type": model.deepnet_type,
        "settings": model.settings.to_dict(),
        "preprocess": model.preprocessors,
        "output_exposition": _output_exposition(model),
    }


def write_smbundle(model: Any, path: Path) -> None:
    import keras
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="sensenet-smbundle-") as workdir:
        saved_model = Path(workdir) / "model"
        source = model._model
        if isinstance(source, keras.Model):
            source.export(saved_model, verbose=False)
        else:
            tf.saved_model.save(source, saved_model)
        (saved_model / SETTINGS_PATH).parent.mkdir(exist_ok=True)
        (saved_model / SETTINGS_PATH).write_text(json.dumps(bundle_settings(model)))
        write_bundle(saved_model, path)
