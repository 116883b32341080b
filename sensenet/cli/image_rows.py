"""Predictions of image models: images alone (a model whose only input is one image) or rows holding paths.

Images load and run in batches of `BATCH_IMAGES`, so memory stays flat
however many images there are. In rows, an image column holds a path: with
--image-prefix it is joined to that prefix (the ``image_path_prefix``
setting), otherwise relative paths are relative to the directory of the file
the row came from (the working directory for stdin and command-line rows).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sensenet.cli.images import BATCH_IMAGES
from sensenet.cli.output import PredictionWriter
from sensenet.cli.progress import Progress
from sensenet.cli.rows import Row, RowSource
from sensenet.exceptions import InputDataError
from sensenet.models.wrappers import Deepnet


def predict_images(model: Deepnet, images: Sequence[str], writer: PredictionWriter, quiet: bool) -> None:
    """One record per image: its path, then the prediction."""
    padding = [None] * model.spec.image_inputs[0].index
    with Progress(len(images), "images", enabled=not quiet) as progress:
        for start in range(0, len(images), BATCH_IMAGES):
            paths = list(images[start : start + BATCH_IMAGES])
            writer.write(model([[*padding, os.path.abspath(path)] for path in paths]), paths)
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


def _row_error(
    model: Deepnet, label: str, rows: list[Row], start: int, error: InputDataError
) -> InputDataError:
    """The error of the batch's first bad row, numbered from the source's first row."""
    for number, row in enumerate(rows, start=start):
        try:
            model.encode_inputs([row])
        except InputDataError as bad_row:
            message = str(bad_row).removeprefix("row 0, ").removeprefix("row 0: ")
            return InputDataError(f"{label}, row {number}: {message}")
    return InputDataError(f"{label}: {error}")


def predict_image_rows(
    model: Deepnet, sources: list[RowSource], writer: PredictionWriter, quiet: bool, prefixed: bool
) -> None:
    """One record per row; `prefixed` says the model's ``image_path_prefix`` already places the paths."""
    total = sum(len(source.rows) for source in sources)
    if total == 0:
        raise InputDataError("no rows to predict: the inputs hold no data rows")
    indexes = tuple(field.index for field in model.spec.image_inputs)
    with Progress(total, "rows", enabled=not quiet) as progress:
        for source in sources:
            directory = None if prefixed else _source_directory(source)
            for start in range(0, len(source.rows), BATCH_IMAGES):
                rows = source.rows[start : start + BATCH_IMAGES]
                if directory is not None:
                    rows = _resolved(rows, indexes, directory)
                try:
                    outputs = model(rows)
                except InputDataError as error:
                    raise InputDataError(
                        f"{source.label}, rows {start + 1}-{start + len(rows)}: {error}"
                    ) from None
                writer.write(outputs)
                progress.update(len(rows))
