"""The `Deepnet` wrapper: a BigML deepnet that predicts rows (and their images) locally."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sensenet.engines import make_engine
from sensenet.exceptions import ExtraValuesWarning, InputDataError
from sensenet.inputs.image_fields import ImageEncoder
from sensenet.inputs.rows import RowEncoder
from sensenet.inputs.table import Table, table_from_frame, table_from_records, table_from_rows
from sensenet.lazy import Lazy
from sensenet.models.model_wrapper import ModelWrapper
from sensenet.models.records import as_frame as to_frame
from sensenet.models.records import classification_records, is_frame, regression_records
from sensenet.settings import Settings
from sensenet.spec import ModelSpec
from sensenet.spec.source import FieldNames


class Deepnet(ModelWrapper):
    """A BigML deepnet that predicts locally.

    Call it with one row (a list of values indexed like BigML's fields), a list
    of rows, a dict keyed by field name (or id), a list of such dicts, a pandas
    DataFrame (see `fields`), or a 2-D numeric array with one column per input
    field in ``preprocess`` order (categorical fields as the index of their value).
    It returns a float32 array of shape (rows, outputs): class probabilities in
    `classes` order, or one regression value. `predict` gives records instead.
    A row longer than the model's fields is predicted, its extra values ignored,
    with an `ExtraValuesWarning` (as the command line warns).

    In the rows of an image model, an image field's column holds a path, the
    bytes of an image file, an array of pixels, or None (missing). A model
    whose only input is one image also takes an image alone, or a 4-D array
    (images, height, width, channels).
    """

    deepnet_type = "Deepnet"  # the wrapper kind a bundle records

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
        super().__init__(spec, settings, preprocessors, names, compiled=compiled, full_spec=full_spec)
        self._classes = self.classes
        self._field_names = {field.index: field.name for field in self.fields}
        self._encoder = RowEncoder(spec.inputs, self._field_names if self.names_fields else None)
        self._images = _image_encoder(spec, settings)
        self._engine = Lazy(self._build_engine)
        self._keras_model = Lazy(self._build_keras_model)

    def _build_engine(self) -> Any:
        onnx = self._engine_arguments()
        if onnx is not None:
            spec, compiled = onnx
            return make_engine("onnx", spec, self._settings, **compiled)
        return make_engine(self._settings.engine, self.spec, self._settings)

    def _build_keras_model(self) -> Any:
        engine = self._engine.get()
        if engine.name != "keras":
            engine = make_engine("keras", self.spec, self._settings)
        return engine.model

    @property
    def _model(self) -> Any:
        """The Keras model, built on first use whatever engine predicts."""
        return self._keras_model.get()

    def encode(self, input_data: Any) -> np.ndarray:
        """The encoded input matrix the matrix exports (``self_contained=False``) take.

        Args:
            input_data: any form `__call__` takes.

        Returns:
            A float32 array (rows, non-image fields) in ``preprocess`` order: numbers as given,
            categories as the index of their value (-1 when unknown or missing), NaN for a
            missing number.

        Raises:
            InputDataError: as `__call__`.
        """
        return self.encode_inputs(input_data)[0]

    def encode_inputs(self, input_data: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """The encoded matrix (`encode`) and one pixel batch per image field: what an engine takes.

        Raises:
            InputDataError: as `__call__` (ImageError for an image that cannot be read).
        """
        if self._images is None and isinstance(input_data, np.ndarray):
            return self._encoder.encode_array(input_data), []
        if self._images is None and _is_rows(input_data):
            return self._encoder.encode_rows(self._rows(input_data)), []
        table = self._table(input_data)
        images = self._images.encode_table(table) if self._images is not None else []
        return self._encoder.encode_table(table), images

    def unknown_categories(self, input_data: Any) -> dict[str, int]:
        """Count, per categorical field, the values that are not among its categories.

        Such a value predicts as missing, BigML's rule, with no warning: this is how to find them.
        Predicts nothing, reads only the categorical columns; safe from any thread.

        Args:
            input_data: any form `__call__` takes.

        Returns:
            ``{field name: count}`` for every categorical field (missing values not counted).

        Raises:
            InputDataError: the data is not a form the model takes.
        """
        indexes = self._encoder.categorical_indexes
        if self._images is None and isinstance(input_data, np.ndarray):
            counts = self._encoder.unknown_codes(input_data)
        elif not indexes:
            counts = {}
        elif _is_rows(input_data):  # only the categorical columns
            counts = self._encoder.unknown_in_rows(self._rows(input_data))
        else:
            counts = self._encoder.unknown_categories(self._table(input_data))
        return {self._field_names[index]: count for index, count in counts.items()}

    def _table(self, input_data: Any) -> Table:
        """Any tabular input form as columns (see `sensenet.inputs.table`)."""
        if is_frame(input_data):
            return table_from_frame(input_data, [f.column for f in self.fields], self.names_fields)
        if isinstance(input_data, Mapping):
            return table_from_records([input_data], [f.column for f in self.fields])
        if isinstance(input_data, (list, tuple)) and input_data and isinstance(input_data[0], Mapping):
            return table_from_records(input_data, [f.column for f in self.fields])
        return table_from_rows(self._rows(input_data), self._encoder.indexes, self._encoder.names)

    def _rows(self, input_data: Any) -> list:
        """Rows from a list of rows or one row; for a one-image model, also an image or a 4-D batch."""
        fields = self._spec.inputs
        if self._images is not None and isinstance(input_data, _IMAGE_TYPES):
            if len(fields) != 1:
                raise InputDataError(
                    f"this model reads {len(fields)} fields: give a row (list of values indexed like "
                    "BigML's fields) or a list of rows, not an image alone"
                )
            padding = [None] * fields[0].index
            if isinstance(input_data, np.ndarray) and input_data.ndim == 4:
                return [padding + [image] for image in input_data]
            return [padding + [input_data]]
        if isinstance(input_data, (list, tuple)):
            if not input_data:
                raise InputDataError("no rows given: expected a row (list of values) or a list of rows")
            rows = list(input_data) if _is_row(input_data[0]) else [input_data]
            _warn_if_longer(rows, self._encoder.row_length)
            return rows
        raise InputDataError(
            f"cannot predict on {type(input_data).__name__}: expected a row (list of values), a list of "
            "rows, a dict keyed by field name, a list of dicts, a pandas DataFrame, a 2-D numeric array"
            + (", or for a single-image model an image (path, bytes or array)" if self._images else "")
        )

    def __call__(self, input_data: Any) -> np.ndarray:
        """Predict rows (the seed library's call).

        Args:
            input_data: one row (a list of values indexed like BigML's fields), a list of rows, a
                dict keyed by field name or id, a list of dicts, a pandas DataFrame, a 2-D numeric
                array (categories as value indices), or for a one-image model an image alone.

        Returns:
            A float32 array (rows, outputs): each row the class probabilities in `classes`
            order, or one regression value.

        Raises:
            InputDataError: the data is not a form the model takes, or a row is too short.
            FieldValueError: a value its field cannot take, naming the row and the field.
            ImageError: an image that cannot be read or decoded.
        """
        matrix, images = self.encode_inputs(input_data)
        engine = self._engine.get()
        return _finite_outputs(engine(matrix, images) if images else engine(matrix))

    def predict(self, input_data: Any, as_frame: bool = False) -> Any:
        """Predict rows as records.

        Args:
            input_data: any form `__call__` takes.
            as_frame: give a pandas DataFrame of the records (the ``pandas`` extra).

        Returns:
            One record per row: ``{"prediction", "probability", <class>: p, ...}`` for a
            classifier, ``{"prediction": value}`` for a regression; or their DataFrame.

        Raises:
            InputDataError: as `__call__`.
            MissingExtraError: ``as_frame`` without pandas installed.
        """
        outputs = self(input_data)
        classes = self.classes
        records = classification_records(outputs, classes) if classes else regression_records(outputs)
        return to_frame(records) if as_frame else records


def _finite_outputs(outputs: np.ndarray) -> np.ndarray:
    """Outputs, unless float32 overflowed inside the network: then our error names the row.

    A float64 sum of float32 values is finite exactly when every value is; for a few values,
    Python's own sum is the cheapest way to it (a row's prediction is latency-bound).
    """
    total = sum(outputs.ravel().tolist()) if outputs.size <= 64 else outputs.sum(dtype=np.float64)
    if not math.isfinite(total):
        row = int(np.argwhere(~np.isfinite(outputs))[0][0])
        raise InputDataError(
            f"row {row}: the model's output is not a finite number (float32 overflowed inside the "
            "network: the row's values are too far from what the model was trained on)"
        )
    return outputs


_IMAGE_TYPES = (str, bytes, bytearray, os.PathLike, np.ndarray)


def _is_row(value: Any) -> bool:
    """A row (list, tuple or 1-D array) rather than one value; a pixel array (2-D or more) is a value."""
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)


def _warn_if_longer(rows: list, width: int) -> None:
    """Say (`ExtraValuesWarning`) that rows hold values past the model's fields, which are ignored."""
    try:
        longest = max(map(len, rows))
    except TypeError:  # a row that is not a sequence: encoding names it
        return
    if longest > width:
        warnings.warn(
            f"rows hold more values than the model reads ({width}: its fields are in columns 0 to "
            f"{width - 1}); the values past them are ignored",
            ExtraValuesWarning,
            stacklevel=5,  # the caller of model(...) or model.encode(...)
        )


def _is_rows(input_data: Any) -> bool:
    """A row or a list of rows (lists), as opposed to dicts, frames and other forms."""
    if not isinstance(input_data, (list, tuple)) or not input_data:
        return False
    return not isinstance(input_data[0], Mapping)


def _image_encoder(spec: ModelSpec, settings: Settings) -> ImageEncoder | None:
    if spec.image_network is None:
        return None
    return ImageEncoder(
        spec.image_inputs,
        spec.image_network.metadata,
        path_prefix=settings.image_path_prefix,
        color_space=settings.color_space,
        rescale_type=settings.rescale_type,
    )
