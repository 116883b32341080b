"""``.smbundle`` export: the model's SavedModel plus its wrapper settings, packed in one file.

``assets/settings.json`` holds what the reader needs beside the graph: the
wrapper kind (``deepnet_type``), its settings, BigML's ``preprocess`` list
(how rows are read), the output, and for image models the image network's
metadata without its layers (input size, rescale type), so the reader
prepares images exactly as the original wrapper did.

A Deepnet's SavedModel serves the Keras model under the output name of
`sensenet.spec.output_names` (``probabilities`` or ``prediction``), in its
``serve`` function and ``serving_default`` signature alike.

A detector's SavedModel is the detector graph (`sensenet.export.detector_graph`)
on network-size pixels: the reader fits each image with the model's own
rescale type and maps the boxes back, as `ObjectDetector` does.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sensenet.export.bundle import SETTINGS_PATH, write_bundle
from sensenet.spec.model import BOUNDING_BOX, CLASSIFICATION
from sensenet.spec.output_names import graph_outputs


def _output_exposition(model: Any) -> dict:
    output = model.spec.output
    if output.kind == BOUNDING_BOX:
        return {"type": "bounding_box", "values": list(output.classes)}
    if output.kind == CLASSIFICATION:
        return {"type": "categorical", "values": list(output.classes)}
    return {"type": "numeric", "mean": output.mean, "stdev": output.stdev}


def _image_metadata(model: Any) -> dict:
    """BigML's metadata keys a reader needs to load and fit images (not to rebuild the network)."""
    meta = model.spec.image_network.metadata
    values = {
        "input_image_shape": [meta.width, meta.height, meta.channels],
        "loading_method": meta.loading_method,
        "rescale_type": meta.rescale_type,
        "base_image_network": meta.base_image_network,
        "version": meta.version,
    }
    return {key: value for key, value in values.items() if value is not None}


def bundle_settings(model: Any) -> dict:
    """What a reader needs beside the graph: the wrapper kind, its settings, how inputs are read."""
    info = {
        "deepnet_type": model.deepnet_type,
        # how the model was loaded (from the compiled-model cache or not) is no part of the model
        "settings": {key: value for key, value in model.settings.to_dict().items() if key != "cache"},
        "preprocess": model.preprocessors,
        "output_exposition": _output_exposition(model),
    }
    if model.spec.image_network is not None:
        info["image_network"] = {"metadata": _image_metadata(model)}
    return info


def _export_deepnet(model: Any, saved_model: Path) -> None:
    """Keras' export of the model, its output named as every export names it."""
    from sensenet.engines.keras.backend import keras, tf

    source = model._model
    (name,) = graph_outputs(model.spec.output)
    specs = [tf.TensorSpec(tensor.shape, tensor.dtype, name=tensor.name) for tensor in source.inputs]
    archive = keras.export.ExportArchive()
    archive.track(source)
    archive.add_endpoint(
        "serve",
        lambda inputs: {name: source(inputs)},
        input_signature=[specs] if len(specs) > 1 else specs,  # several inputs: one list, as Keras takes them
    )
    archive.write_out(saved_model, verbose=False)


def _save(model: Any, saved_model: Path) -> None:
    """A Deepnet's Keras model under its output name; a module serving the detector graph for a
    detector; a model read from a bundle is saved as it was loaded."""
    from sensenet.engines.keras.backend import keras, tf
    from sensenet.export.detector_graph import detector_function

    source = model._model
    if not isinstance(source, keras.Model):
        tf.saved_model.save(source, saved_model)
    elif model.deepnet_type == "ObjectDetector":
        module = tf.Module()
        module.network = source  # tracks the variables the serving function reads
        module.serve = detector_function(model)
        tf.saved_model.save(module, saved_model)
    else:
        _export_deepnet(model, saved_model)


def write_smbundle(model: Any, path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sensenet-smbundle-") as workdir:
        saved_model = Path(workdir) / "model"
        _save(model, saved_model)
        (saved_model / SETTINGS_PATH).parent.mkdir(exist_ok=True)
        (saved_model / SETTINGS_PATH).write_text(json.dumps(bundle_settings(model)))
        write_bundle(saved_model, path)
