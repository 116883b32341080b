"""What a runtime needs to know about an exported model beyond its graph, as plain JSON.

Written beside a TF.js model (``sensenet.json``, read by the page in
examples/web) and into a self-contained ONNX graph's metadata: the fields in
``preprocess`` order (name, optype, categories), the classes, the model kind,
how images are fitted to the network, and the graph inputs each field feeds.
"""

from __future__ import annotations

from typing import Any

from sensenet._version import __version__
from sensenet.inputs.rescale import choose_rescale_type

DESCRIPTION_VERSION = 1


def non_image_fields(model: Any) -> list[Any]:
    """The model's numeric and categorical fields (`FieldInfo`), in ``preprocess`` order."""
    return [field for field in model.fields if field.optype != "image"]


def unique_name(name: str, index: int, taken: set[str]) -> str:
    """`name`, or `name_<index>` (then `_2`, ...) when taken; the result is added to `taken`."""
    candidate, suffix = name, 1
    while candidate in taken or not candidate:
        candidate = f"{name}_{index}" if suffix == 1 else f"{name}_{index}_{suffix}"
        suffix += 1
    taken.add(candidate)
    return candidate


def _field(field: Any) -> dict[str, Any]:
    entry = {"name": field.name, "id": field.id, "optype": field.optype, "index": field.index}
    if field.values is not None:
        entry["values"] = list(field.values)
    return entry


def _image(model: Any) -> dict[str, Any] | None:
    network = model.spec.image_network
    if network is None:
        return None
    meta = network.metadata
    return {
        "height": meta.height,
        "width": meta.width,
        "channels": meta.channels,
        "rescale_type": choose_rescale_type(model.settings.rescale_type, meta.rescale_type),
    }


def model_description(model: Any, inputs: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
    """The description of `model` (a built wrapper) whose exported graph has `inputs` and `outputs`.

    `inputs` says which graph input carries what, e.g. ``{"matrix": "input_matrix",
    "images": ["image_0"]}`` or ``{"fields": ["age", "colour"], "images": [...]}``;
    `outputs` names the graph's outputs in the order the runtime returns them.
    """
    return {
        "description_version": DESCRIPTION_VERSION,
        "sensenet": __version__,
        "kind": model.kind,
        "classes": list(model.classes) if model.classes else None,
        "fields": [_field(field) for field in model.fields],
        "image": _image(model),
        "inputs": inputs,
        "outputs": outputs,
    }
