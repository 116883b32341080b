"""Predictions of image models: images alone (a model whose only input is one image) or rows holding paths.

Images load and run in batches of `BATCH_IMAGES`, so memory stays flat
however many images there are. In rows, an image column holds a path: with
--image-prefix it is joined to that prefix (the ``image_path_prefix``
setting), otherwise relative paths are relative to the directory of the file
the row came from (the working directory for stdin and command-line rows).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from sensenet.cli.images import BATCH_IMAGES
from sensenet.cli.output import PredictionWriter
from sensenet.cli.progress import Progress
from sensenet.cli.rows import Row, RowSource
from sensenet.cli.skipping import Skips, located, run_each
from sensenet.exceptions import InputDataError
from sensenet.models.deepnet import Deepnet
from sensenet.spec.inputs import CategoricalInput, NumericInput


def rows_needed(model: Deepnet, image: str, names: Sequence[str] | None) -> InputDataError:
    """The error for an image given to a model that reads other fields besides (`names`: the row's
    columns by name, when the model names them): which fields, and a row of each format with them."""
    fields = model.fields
    read = ", ".join(f"{f.name!r} ({f.optype})" for f in fields)
    example = {f.index: _example(spec, image) for f, spec in zip(fields, model.spec.inputs)}
    width = max(example) + 1
    values = [example.get(index) for index in range(width)]
    cells = ",".join("" if value is None else str(value) for value in values)
    if names is not None:
        header = ",".join(names[:width])
        line = json.dumps({f.name: example[f.index] for f in fields})
        csv = f"a CSV file (a header such as `{header}`, then rows such as `{cells}`)"
    else:
        line = json.dumps(values)
        csv = f"a CSV file (a header line, then rows in field order such as `{cells}`)"
    return InputDataError(
        f"{image} is an image, but this model reads {len(fields)} fields, {read}: give its rows in {csv} "
        f"or a JSON Lines file (lines such as `{line}`); an image alone is enough only for a model "
        "whose only input is one image"
    )


def _example(field: Any, image: str) -> Any:
    """A value a row could hold for `field`: its first category, its mean, or the image's path."""
    if isinstance(field, CategoricalInput):
        return field.values[0] if field.values else None
    if isinstance(field, NumericInput):
        return float(f"{field.center:.3g}")
    return image


def predict_images(
    model: Deepnet, images: Sequence[str], writer: PredictionWriter, quiet: bool, skips: Skips
) -> None:
    """One record per image: its path, then the prediction."""
    padding = [None] * model.outline.image_inputs[0].index
    with Progress(len(images), "images", enabled=not quiet) as progress:
        for start in range(0, len(images), BATCH_IMAGES):
            paths = list(images[start : start + BATCH_IMAGES])
            kept, outputs = run_each(
                paths,
                lambda batch: model([[*padding, os.path.abspath(path)] for path in batch]),
                located(paths.__getitem__),
                skips,
            )
            if kept:
                writer.write(np.concatenate(outputs), [[paths[i]] for i in kept])
            progress.update(len(paths))


def _source_directory(source: RowSource) -> str | None:
    """The directory of the file a source was read from; None for stdin and command-line rows."""
    return os.path.dirname(os.path.abspath(source.label)) if os.path.isfile(source.label) else None


def _resolved(rows: list[Row], indexes: tuple[int, ...], directory: str) -> list[Row]:
    """Rows whose relative image paths are joined to `directory`."""
    resolved = []
    for row in rows:
        row = list(row)
        for index in indexes:
            value = row[index] if index < len(row) else None
            if isinstance(value, str) and value and not os.path.isabs(value):
                row[index] = os.path.join(directory, value)
        resolved.append(row)
    return resolved


def predict_image_rows(
    model: Deepnet,
    sources: list[RowSource],
    writer: PredictionWriter,
    quiet: bool,
    prefixed: bool,
    skips: Skips,
    unknown: Counter[str],
) -> None:
    """One record per row; `prefixed` says the model's ``image_path_prefix`` already places the paths.
    `unknown` counts the values of the predicted rows that are no category of their field."""
    total = sum(len(source.rows) for source in sources)
    if total == 0:
        raise InputDataError("no rows to predict: the inputs hold no data rows")
    indexes = tuple(field.index for field in model.outline.image_inputs)
    with Progress(total, "rows", enabled=not quiet) as progress:
        for source in sources:
            directory = None if prefixed else _source_directory(source)
            for start in range(0, len(source.rows), BATCH_IMAGES):
                rows = source.rows[start : start + BATCH_IMAGES]
                if directory is not None:
                    rows = _resolved(rows, indexes, directory)
                kept, outputs = run_each(rows, model, source.describer(start), skips)
                if kept:
                    unknown.update(model.unknown_categories([rows[i] for i in kept]))
                    leading = [source.kept[start + i] for i in kept] if source.kept is not None else None
                    writer.write(np.concatenate(outputs), leading)
                progress.update(len(rows))
