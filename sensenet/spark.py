"""Batch scoring of BigML deepnets on Apache Spark (the optional extra ``spark``).

`predict` builds the model once on the driver (which checks it and reads its fields), broadcasts
it once as a pickled description (weights included, so nothing is fetched on the executors), and
scores with ``DataFrame.mapInArrow``: Spark hands each Python worker Arrow record batches; the
model's columns become a pandas frame for the library's data-frame path, and the carried columns
and the predictions stay Arrow arrays. Each worker builds the model once (a cache keyed by the
payload's digest) and reuses it for every batch of every task it runs.

Why ``mapInArrow``: ``pyspark.ml.functions.predict_batch_udf`` turns columns into numeric tensors
and returns scalars or numeric arrays, but deepnet rows mix numbers, category names and images
(paths or bytes), a detector returns an array of structs, and a bad row must become nulls plus an
error message without losing its batch. ``mapInPandas`` could do all that, but converting every
carried column and the probability arrays to pandas and back cost more than the model itself
(benchmarks/spark.py); ``mapInArrow`` converts only what the model reads.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sensenet.exceptions import (
    InputDataError,
    MissingExtraError,
    SensenetError,
    SettingsError,
    UnsupportedError,
)
from sensenet.extras import install_command

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame

ON_ERROR = ("fail", "null")
ROW_BATCH = 10_000  # Spark's own Arrow batch (spark.sql.execution.arrow.maxRecordsPerBatch)
IMAGE_BATCH = 32  # images are decoded to float32 pixels: keep a batch's memory small
CACHED_MODELS = 4  # models a Python worker keeps built at once
BINARY_FILE_CONTENT = "content"  # the bytes column of spark.read.format("binaryFile")
INSTALL_HINT = install_command("spark")

# Python workers live across tasks: each builds a shipped model once and reuses it for every batch.
_WORKER_MODELS: OrderedDict[str, Any] = OrderedDict()


def _require_pyspark() -> None:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as error:
        raise MissingExtraError(
            f"scoring on Spark needs pyspark, pandas and pyarrow ({error.name} is missing): {INSTALL_HINT}"
        ) from None


# --- outputs: one entry per model kind --------------------------------------------------------


class ClassifierOutput:
    """``prediction`` (label), ``probability`` (of that label), ``probabilities`` (class order)."""

    names = ("prediction", "probability", "probabilities")

    @staticmethod
    def spark_types() -> list:
        from pyspark.sql.types import ArrayType, DoubleType, FloatType, StringType

        return [StringType(), DoubleType(), ArrayType(FloatType(), containsNull=False)]

    @staticmethod
    def score(model: Any, inputs: pd.DataFrame, types: Sequence[pa.DataType]) -> list[pa.Array]:
        import pyarrow as pa

        probabilities = np.asarray(model(inputs), dtype=np.float32)
        rows, classes = probabilities.shape
        best = probabilities.argmax(axis=1)
        labels = pa.DictionaryArray.from_arrays(pa.array(best.astype(np.int32)), pa.array(model.classes))
        offsets = pa.array(np.arange(0, (rows + 1) * classes, classes, dtype=np.int32))
        return [
            labels.cast(pa.string()),
            pa.array(probabilities[np.arange(rows), best].astype(np.float64)),
            pa.ListArray.from_arrays(offsets, pa.array(probabilities.ravel())),
        ]


class RegressionOutput:
    """``prediction``: the de-normalised value (double)."""

    names = ("prediction",)

    @staticmethod
    def spark_types() -> list:
        from pyspark.sql.types import DoubleType

        return [DoubleType()]

    @staticmethod
    def score(model: Any, inputs: pd.DataFrame, types: Sequence[pa.DataType]) -> list[pa.Array]:
        import pyarrow as pa

        return [pa.array(np.asarray(model(inputs), dtype=np.float64)[:, 0])]


class DetectorOutput:
    """``objects``: per image, the kept boxes as structs (box [x1, y1, x2, y2] pixels, label, score)."""

    names = ("objects",)

    @staticmethod
    def spark_types() -> list:
        from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StringType, StructField, StructType

        box = StructType(
            [
                StructField("box", ArrayType(IntegerType(), containsNull=False)),
                StructField("label", StringType()),
                StructField("score", DoubleType()),
            ]
        )
        return [ArrayType(box, containsNull=False)]

    @staticmethod
    def score(model: Any, inputs: pd.DataFrame, types: Sequence[pa.DataType]) -> list[pa.Array]:
        import pyarrow as pa

        images = [None if _is_missing(value) else value for value in inputs.iloc[:, 0]]
        return [pa.array([model(image) for image in images], type=types[0])]


OUTPUTS: dict[str, Any] = {
    "classification": ClassifierOutput,
    "regression": RegressionOutput,
    "detection": DetectorOutput,
}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


# --- the driver side ---------------------------------------------------------------------------


def predict(
    df: DataFrame,
    model: Any,
    settings: Mapping[str, Any] | None = None,
    *,
    batch_size: int | None = None,
    keep_columns: Sequence[str] | None = None,
    output_columns: Mapping[str, str] | None = None,
    on_error: str = "fail",
    error_column: str = "error",
) -> DataFrame:
    """`df` with the model's predictions added (lazily: Spark scores when an action runs).

    The model is built and checked on the driver, broadcast once (weights included), and built
    once per Python worker; batches travel as Arrow (``mapInArrow``).

    Args:
        df: the rows. Columns are matched to the model's fields by name (or field id) when the
            model names its fields, else by position (column i is the row's column i); an image
            field reads a path (string) or the file's bytes (binary, as
            ``spark.read.format("binaryFile")`` gives, whose ``content`` a one-image model finds).
        model: a JSON path, a dict (any form `create_model` takes) or a model from `create_model`.
        settings: the settings to build `model` with (None when `model` is already built).
        batch_size: the most rows given to the model at once (default 10,000, or 32 for image
            models).
        keep_columns: the input columns carried along (default: all).
        output_columns: renames of the added columns, e.g. ``{"prediction": "label"}``.
        on_error: ``"fail"`` (a bad row fails the job with an error naming its columns) or
            ``"null"`` (a bad row gets null predictions and its message in `error_column`).
        error_column: the column holding a row's error with ``on_error="null"``.

    Returns:
        A DataFrame: the kept columns, then for classifiers ``prediction``, ``probability`` and
        ``probabilities``; for regressions ``prediction``; for detectors ``objects``.

    Raises:
        MissingExtraError: pyspark (the ``spark`` extra) is not installed.
        SettingsError: a bad option value, or `settings` given with a built model.
        InputDataError: a field with no column, or a column of a type its field cannot read;
            with ``on_error="fail"``, a bad row when the job runs.
        ModelFormatError: `model` is not a deepnet (as for `create_model`).
        UnsupportedError: a model built to extract image features.
    """
    _require_pyspark()
    from pyspark.sql.functions import col

    built = _driver_model(model, settings)
    output = OUTPUTS[built.kind]
    job = _plan(df, built, output, batch_size, keep_columns, output_columns, on_error, error_column)
    # Plain stand-in names on the way in: Spark's mapInArrow cannot resolve names holding dots
    # (BigML's often do); workers find columns by position and return the real names.
    plain = [col(_quoted(name)).alias(f"_{k}") for k, name in enumerate(job.columns)]
    return df.select(*plain).mapInArrow(job.score_batches, job.spark_schema)


def _quoted(name: str) -> str:
    """A column name as Spark reads it literally (dots, spaces, backticks)."""
    return "`" + name.replace("`", "``") + "`"


def _driver_model(model: Any, settings: Mapping[str, Any] | None) -> Any:
    from sensenet.models.deepnet import Deepnet
    from sensenet.models.detector import ObjectDetector
    from sensenet.models.doors import create_model

    if isinstance(model, (Deepnet, ObjectDetector)):
        if settings is not None:
            raise SettingsError(
                "settings apply when a model is built: give the model's JSON (path or dict) with "
                "settings, or a model from create_model without them"
            )
        return model
    built = create_model(model, settings)
    if not isinstance(built, (Deepnet, ObjectDetector)):
        raise UnsupportedError(
            f"Spark scoring predicts with deepnets and detectors, not a {type(built).__name__}: "
            "drop the setting extract_image_features"
        )
    return built


def _plan(
    df: DataFrame,
    model: Any,
    output: Any,
    batch_size: int | None,
    keep_columns: Sequence[str] | None,
    output_columns: Mapping[str, str] | None,
    on_error: str,
    error_column: str,
) -> _Job:
    if on_error not in ON_ERROR:
        raise SettingsError(f"on_error must be one of {list(ON_ERROR)}, got {on_error!r}")
    has_images = any(field.optype == "image" for field in model.fields)
    size = _batch_size(batch_size, IMAGE_BATCH if has_images else ROW_BATCH)
    features = _match_columns(model, df)
    _check_column_types(model, df, features)
    kept = tuple(df.columns) if keep_columns is None else _kept_columns(df, keep_columns)
    names = _output_names(output.names, output_columns)
    added = names + ((error_column,) if on_error == "null" else ())
    clashes = sorted(set(kept) & set(added)) + sorted({n for n in added if added.count(n) > 1})
    if clashes:
        raise SettingsError(
            f"output column(s) {clashes} would repeat a column: rename them with output_columns "
            "(and error_column), or leave them out of keep_columns"
        )
    from pyspark.sql.pandas.types import to_arrow_schema

    error = error_column if on_error == "null" else None
    schema = _output_schema(df, kept, names, error, output)
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return _Job(
        digest=hashlib.sha256(payload).hexdigest(),
        payload=df.sparkSession.sparkContext.broadcast(payload),
        kind=model.kind,
        columns=tuple(dict.fromkeys([*kept, *features])),
        feature_columns=features,
        field_names=tuple(field.name for field in model.fields),
        kept=kept,
        output_names=names,
        error_column=error,
        batch_size=size,
        spark_schema=schema,
        schema=to_arrow_schema(schema),
    )


def _batch_size(value: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"batch_size must be a whole number >= 1, got {value!r}")
    return value


def _match_columns(model: Any, df: DataFrame) -> tuple[str, ...]:
    """The DataFrame column each model field reads, in the model's field order.

    As for a pandas frame (`sensenet.inputs.table`): by field name or id, else, when the model names
    nothing, by position (column i is the row's column i). A model of one image field also reads the
    ``content`` column of ``spark.read.format("binaryFile")``.
    """
    fields, columns = model.fields, list(df.columns)
    by_name = [
        field.name if field.name in columns else field.id if field.id in columns else None for field in fields
    ]
    if all(by_name):
        return tuple(name for name in by_name if name)
    if len(fields) == 1 and fields[0].optype == "image" and BINARY_FILE_CONTENT in columns:
        return (BINARY_FILE_CONTENT,)
    if model.names_fields:
        missing = [field.name for field, column in zip(fields, by_name) if column is None]
        raise InputDataError(
            f"the DataFrame has no column for the model's field(s) {missing} (matched by name or field "
            f"id); its columns are {columns}"
        )
    needed = max(field.index for field in fields) + 1
    if len(columns) < needed:
        raise InputDataError(
            f"the model does not name its fields and reads columns up to index {needed - 1}, but the "
            f"DataFrame has {len(columns)} column(s) ({columns}): give the row's columns in order, or "
            f"name them after the fields ({[field.name for field in fields]})"
        )
    return tuple(columns[field.index] for field in fields)


def _check_column_types(model: Any, df: DataFrame, features: Sequence[str]) -> None:
    from pyspark.sql.types import BinaryType, BooleanType, NumericType, StringType

    accepted = {
        "image": ((StringType, BinaryType), "a path (string) or the image file's bytes (binary)"),
        "numeric": ((NumericType, StringType, BooleanType), "numbers (or strings holding numbers)"),
        "categorical": ((StringType, NumericType, BooleanType), "category names (strings)"),
    }
    types = {field.name: field.dataType for field in df.schema.fields}
    for field, column in zip(model.fields, features):
        kinds, what = accepted[field.optype]
        if not isinstance(types[column], kinds):
            raise InputDataError(
                f"column {column!r} ({types[column].simpleString()}) feeds the {field.optype} field "
                f"{field.name!r}, which reads {what}"
            )


def _kept_columns(df: DataFrame, keep_columns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(keep_columns, str):
        raise SettingsError(f"keep_columns must be a list of column names, got the string {keep_columns!r}")
    unknown = [name for name in keep_columns if name not in df.columns]
    if unknown:
        raise SettingsError(f"keep_columns names {unknown}, not columns of the DataFrame ({df.columns})")
    return tuple(dict.fromkeys(keep_columns))


def _output_names(defaults: tuple[str, ...], renames: Mapping[str, str] | None) -> tuple[str, ...]:
    renames = dict(renames or {})
    unknown = sorted(set(renames) - set(defaults))
    if unknown:
        raise SettingsError(
            f"output_columns renames {unknown}; this model's output columns are {list(defaults)}"
        )
    return tuple(renames.get(name, name) for name in defaults)


def _output_schema(
    df: DataFrame, kept: Sequence[str], names: Sequence[str], error_column: str | None, output: Any
) -> Any:
    from pyspark.sql.types import StringType, StructField, StructType

    types = {field.name: field for field in df.schema.fields}
    added = [StructField(name, kind) for name, kind in zip(names, output.spark_types())]
    if error_column is not None:
        added.append(StructField(error_column, StringType()))
    return StructType([types[name] for name in kept] + added)


# --- the executor side -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What every Python worker needs to score its batches; pickled with the closure of each task."""

    digest: str
    payload: Any  # pyspark Broadcast of the pickled model
    kind: str
    columns: tuple[str, ...]  # the DataFrame columns a worker receives, in order
    feature_columns: tuple[str, ...]
    field_names: tuple[str, ...]
    kept: tuple[str, ...]
    output_names: tuple[str, ...]
    error_column: str | None  # None: a bad row fails the job
    batch_size: int
    spark_schema: Any  # the output's StructType
    schema: Any  # the same as an Arrow schema

    def score_batches(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = _worker_model(self.digest, self.payload)
        for batch in batches:
            for start in range(0, batch.num_rows, self.batch_size):
                yield self._score(model, batch.slice(start, self.batch_size))

    def _score(self, model: Any, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Carried columns pass through as Arrow; only the model's columns become a pandas frame."""
        import pyarrow as pa

        output = OUTPUTS[self.kind]
        types = [self.schema.field(name).type for name in self.output_names]
        inputs = batch.select([self.columns.index(name) for name in self.feature_columns]).to_pandas()
        inputs.columns = list(self.field_names)
        try:
            arrays, errors = output.score(model, inputs, types), None
        except SensenetError:
            arrays, errors = self._score_rows(model, batch, inputs, types)
        arrays = [batch.column(self.columns.index(name)) for name in self.kept] + arrays
        if self.error_column is not None:
            arrays.append(pa.array(errors if errors is not None else [None] * batch.num_rows, pa.string()))
        return pa.RecordBatch.from_arrays(
            [array.cast(field.type) for array, field in zip(arrays, self.schema)], schema=self.schema
        )

    def _score_rows(
        self, model: Any, batch: pa.RecordBatch, inputs: pd.DataFrame, types: Sequence[pa.DataType]
    ) -> tuple[list[pa.Array], list[str | None]]:
        """Row by row, for a batch that failed: bad rows raise (naming their columns) or get nulls."""
        import pyarrow as pa

        output = OUTPUTS[self.kind]
        rows: list[list[pa.Array]] = []
        errors: list[str | None] = []
        for r in range(len(inputs)):
            try:
                rows.append(output.score(model, inputs.iloc[[r]], types))
                errors.append(None)
            except SensenetError as problem:
                if self.error_column is None:
                    row = batch.slice(r, 1).to_pylist()[0]
                    raise InputDataError(f"{_describe_row(self.columns, row)}: {_message(problem)}") from None
                rows.append([pa.nulls(1, kind) for kind in types])
                errors.append(_message(problem))
        arrays = [pa.concat_arrays([row[k].cast(kind) for row in rows]) for k, kind in enumerate(types)]
        return arrays, errors


def _describe_row(names: Sequence[str], row: Mapping[str, Any], shown: int = 12) -> str:
    """The row's columns, short enough for an error message."""
    values = list(row.values())
    parts = [f"{name}={_short(value)}" for name, value in zip(names[:shown], values)]
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return "row with " + ", ".join(parts) + more


def _message(problem: Exception) -> str:
    """The library's message for a one-row frame, less its "row 0" (the row is named otherwise)."""
    return str(problem).removeprefix("row 0, ")


def _short(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _worker_model(digest: str, payload: Any) -> Any:
    """The shipped model, built on this worker's first batch and kept for the next ones."""
    model = _WORKER_MODELS.get(digest)
    if model is None:
        model = pickle.loads(payload.value)
        _WORKER_MODELS[digest] = model
        while len(_WORKER_MODELS) > CACHED_MODELS:
            _WORKER_MODELS.popitem(last=False)
    _WORKER_MODELS.move_to_end(digest)
    return model
