"""The model's input fields (BigML's ``preprocess`` list), parsed and checked.

Each field names the row column it reads (``index``). Numeric fields are
standardised to ``(x - center) / scale``; a missing numeric becomes 0 after
standardising, which is the column mean for the ``mean``/``stdev`` form and
``zero_value`` for the ``zero_value``/``one_value`` form. Categorical fields
become a one-hot vector over ``values``; a missing or unknown category is
all zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sensenet.exceptions import ModelFormatError
from sensenet.spec.fields import Fields


@dataclass(frozen=True)
class NumericInput:
    index: int
    center: float
    scale: float

    @property
    def width(self) -> int:
        return 1


@dataclass(frozen=True)
class CategoricalInput:
    index: int
    values: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class ImageInput:
    index: int

    @property
    def width(self) -> int:
        return 0


InputField = NumericInput | CategoricalInput | ImageInput


def parse_numeric(fields: Fields, index: int) -> NumericInput:
    if "mean" in fields.data or "stdev" in fields.data:
        center = fields.number("mean")
        stdev = fields.number("stdev")
        if stdev < 0:
            raise fields.error("stdev", f"must not be negative, got {stdev}")
        return NumericInput(index, center, stdev if stdev > 0 else 1.0)
    if "zero_value" in fields.data or "one_value" in fields.data:
        zero = fields.number("zero_value")
        spread = fields.number("one_value") - zero
        return NumericInput(index, zero, spread if spread != 0 else 1.0)
    raise fields.error("type", "a numeric field needs either mean and stdev or zero_value and one_value")


def parse_categorical(fields: Fields, index: int) -> CategoricalInput:
    values = fields.raw("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise fields.error("values", "expected a non-empty list of category names (strings)")
    if len(set(values)) != len(values):
        raise fields.error("values", "category names repeat")
    return CategoricalInput(index, tuple(values))


INPUT_PARSERS: dict[str, Callable[[Fields, int], InputField]] = {
    "numeric": parse_numeric,
    "categorical": parse_categorical,
    "image": lambda fields, index: ImageInput(index),
}


def parse_inputs(items: list[Fields], path: str) -> tuple[InputField, ...]:
    if not items:
        raise ModelFormatError(f"{path}: the model has no input fields")
    inputs: list[InputField] = []
    seen: set[int] = set()
    for fields in items:
        kind = fields.string("type", choices=INPUT_PARSERS)
        index = fields.integer("index", minimum=0)
        if index in seen:
            raise fields.error("index", f"column {index} is read by two fields")
        seen.add(index)
        inputs.append(INPUT_PARSERS[kind](fields, index))
    return tuple(inputs)
