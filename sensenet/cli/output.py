"""Predictions written as CSV or JSON Lines, to stdout or to a new file."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import numpy as np
import orjson

from sensenet.exceptions import InputDataError

OUTPUT_FORMATS = ("csv", "jsonl")


def short_float(value: Any) -> float:
    """A float32 as the shortest decimal that reads back to it (0.9723452, not 0.9723451733589172)."""
    return float(str(np.float32(value)))


@contextmanager
def open_output(path: str | None, force: bool) -> Iterator[TextIO]:
    """stdout, or a file that is created (an existing one only with `force`)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    if os.path.exists(path) and not force:
        raise InputDataError(f"{path} already exists; choose another output or pass --force to overwrite it")
    with open(path, "w", encoding="utf-8", newline="") as stream:
        yield stream


class PredictionWriter:
    """Writes one record per row: the prediction and, for classifiers, every class's probability."""

    def __init__(self, stream: TextIO, output_format: str, classes: Sequence[str] | None):
        self.classes = list(classes) if classes else None
        self._stream = stream
        writers: dict[str, Callable[[np.ndarray], None]] = {"csv": self._csv, "jsonl": self._jsonl}
        self._write_batch = writers[output_format]
        if output_format == "csv":
            self._csv_writer = csv.writer(stream, lineterminator="\n")
            self._csv_writer.writerow(
                ["prediction", "probability", *self.classes] if self.classes else ["prediction"]
            )

    def write(self, outputs: np.ndarray) -> None:
        self._write_batch(outputs)

    def _records(self, outputs: np.ndarray) -> Iterator[dict]:
        if self.classes is None:
            for row in outputs:
                yield {"prediction": short_float(row[0])}
            return
        best = outputs.argmax(axis=1)
        for row, winner in zip(outputs, best):
            yield {
                "prediction": self.classes[winner],
                "probability": short_float(row[winner]),
                "probabilities": dict(zip(self.classes, (short_float(p) for p in row))),
            }

    def _csv(self, outputs: np.ndarray) -> None:
        for record in self._records(outputs):
            if self.classes is None:
                self._csv_writer.writerow([record["prediction"]])
            else:
                self._csv_writer.writerow(
                    [record["prediction"], record["probability"], *record["probabilities"].values()]
                )

    def _jsonl(self, outputs: np.ndarray) -> None:
        self._stream.write("".join(orjson.dumps(record).decode() + "\n" for record in self._records(outputs)))
