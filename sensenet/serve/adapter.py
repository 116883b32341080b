"""A model's fields, classes and kind as the public API describes them (`model.fields`,
`model.classes`, `model.kind`), read from the model when it has them and otherwise derived
from its spec the same way (names ``field_<index>``, no ids). Issue 12 brings the public
attributes; this module goes once they are on main.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensenet.spec.inputs import CategoricalInput, ImageInput
from sensenet.spec.model import BOUNDING_BOX, CLASSIFICATION

DETECTION = "detection"
REGRESSION = "regression"


@dataclass(frozen=True)
class FieldInfo:
    name: str
    id: str | None
    optype: str
    index: int
    values: tuple[str, ...] | None


def _optype(field: Any) -> str:
    if isinstance(field, CategoricalInput):
        return "categorical"
    return "image" if isinstance(field, ImageInput) else "numeric"


def model_fields(model: Any) -> tuple[Any, ...]:
    """The input fields in ``preprocess`` order: each with name, id, optype, index and values."""
    fields = getattr(model, "fields", None)
    if fields is not None:
        return tuple(fields)
    return tuple(
        FieldInfo(f"field_{field.index}", None, _optype(field), field.index, getattr(field, "values", None))
        for field in model.spec.inputs
    )


def model_classes(model: Any) -> list[str] | None:
    classes = model.spec.classes
    return list(classes) if classes else None


def model_kind(model: Any) -> str:
    kind = getattr(model, "kind", None)
    if kind is not None:
        return kind
    output = model.spec.output.kind
    if output == BOUNDING_BOX:
        return DETECTION
    return "classification" if output == CLASSIFICATION else REGRESSION
