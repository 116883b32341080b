"""What a model reads, described for its users: one `FieldInfo` per input field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sensenet.inputs.table import ColumnName
from sensenet.spec.inputs import CategoricalInput, ImageInput, InputField, NumericInput
from sensenet.spec.source import FieldNames

OPTYPES = {NumericInput: "numeric", CategoricalInput: "categorical", ImageInput: "image"}


@dataclass(frozen=True)
class FieldInfo:
    """An input field: its BigML name (``field_<index>`` when the model names nothing), BigML id
    (or None), optype ("numeric", "categorical" or "image"), the row column it reads, and its
    categories (None unless categorical)."""

    name: str
    id: str | None
    optype: str
    index: int
    values: tuple[str, ...] | None = None

    @property
    def column(self) -> ColumnName:
        """How input forms name this field: its row index, name and id."""
        return ColumnName(self.index, self.name, self.id)


def describe_fields(inputs: Sequence[InputField], names: FieldNames | None) -> tuple[FieldInfo, ...]:
    """The fields in ``preprocess`` order, named when `names` covers every column they read."""
    usable = names if names is not None and fields_are_named(inputs, names) else None
    return tuple(
        FieldInfo(
            name=usable.names[field.index] if usable else f"field_{field.index}",
            id=usable.ids[field.index] if usable else None,
            optype=OPTYPES[type(field)],
            index=field.index,
            values=field.values if isinstance(field, CategoricalInput) else None,
        )
        for field in inputs
    )


def fields_are_named(inputs: Sequence[InputField], names: FieldNames | None) -> bool:
    """Whether BigML's names cover every column the model reads."""
    return names is not None and all(field.index < len(names.names) for field in inputs)
