"""Predictions written as CSV or JSON Lines, to stdout or to a new file."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO

import numpy as np
import orjson

from sensenet.files.writing import check_destination, new_file

OUTPUT_FORMATS = ("csv", "jsonl")
STDOUT = "-"
FORCE = "--force"  # the option that replaces an existing output, as refusals name it


def float32_texts(values: np.ndarray) -> np.ndarray:
    """Each float32 as the shortest decimal that reads back to it ("0.9723452", not 0.9723451733589172)."""
    return np.asarray(values, dtype=np.float32).astype(str)


def check_output(path: str | None, force: bool) -> None:
    """Refuse, before any work, an -o file that exists (without --force) or cannot be written."""
    if path is not None and path != STDOUT:
        check_destination(path, force, how_to_overwrite=FORCE)


@contextmanager
def open_output(path: str | None, force: bool) -> Iterator[IO[str]]:
    """stdout, or a new file that appears only once the block succeeds (`sensenet.files.writing`)."""
    if path is None or path == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    with new_file(path, force) as stream:
        yield stream


class PredictionWriter:
    """Writes one record per row: the prediction and, for classifiers, every class's probability.

    Each record starts with the values of the `leading` columns (the image's
    path, columns kept from the input with --keep-columns), given with each
    batch, so a record says which input it is for.
    """

    def __init__(
        self,
        stream: IO[str],
        output_format: str,
        classes: Sequence[str] | None,
        leading: Sequence[str] = (),
    ):
        self.classes = list(classes) if classes else None
        self.leading = list(leading)
        self._stream = stream
        writers: dict[str, Callable[[np.ndarray, Sequence[Sequence]], None]] = {
            "csv": self._csv,
            "jsonl": self._jsonl,
        }
        self._write_batch = writers[output_format]
        if output_format == "csv":
            self._csv_writer = csv.writer(stream, lineterminator="\n")
        self._header_pending = output_format == "csv"

    def write(self, outputs: np.ndarray, leading_values: Sequence[Sequence] | None = None) -> None:
        """One record per row of `outputs`, each after its row of `leading_values`."""
        if self._header_pending:
            header = ["prediction", "probability", *self.classes] if self.classes else ["prediction"]
            self._csv_writer.writerow([*self.leading, *header])
            self._header_pending = False
        self._write_batch(outputs, leading_values if leading_values is not None else [[]] * len(outputs))

    def _csv(self, outputs: np.ndarray, leading_values: Sequence[Sequence]) -> None:
        texts = float32_texts(outputs)
        if self.classes is None:
            lines = texts[:, :1].tolist()
        else:
            best = outputs.argmax(axis=1)
            names = np.array(self.classes, dtype=object)[best].tolist()
            probabilities = texts[np.arange(len(outputs)), best].tolist()
            lines = [[n, p, *row] for n, p, row in zip(names, probabilities, texts.tolist())]
        self._csv_writer.writerows([*lead, *line] for lead, line in zip(leading_values, lines))

    def _jsonl(self, outputs: np.ndarray, leading_values: Sequence[Sequence]) -> None:
        numbers = [[float(text) for text in row] for row in float32_texts(outputs).tolist()]
        if self.classes is None:
            records: list[dict] = [{"prediction": row[0]} for row in numbers]
        else:
            best = outputs.argmax(axis=1).tolist()
            records = [
                {
                    "prediction": self.classes[winner],
                    "probability": row[winner],
                    "probabilities": dict(zip(self.classes, row)),
                }
                for winner, row in zip(best, numbers)
            ]
        records = [
            {**dict(zip(self.leading, lead)), **record} for lead, record in zip(leading_values, records)
        ]
        self._stream.write("".join(orjson.dumps(record).decode() + "\n" for record in records))
