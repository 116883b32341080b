"""Predictions written as CSV or JSON Lines, to stdout or to a new file."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import numpy as np
import orjson

from sensenet.exceptions import InputDataError

OUTPUT_FORMATS = ("csv", "jsonl")


def float32_texts(values: np.ndarray) -> np.ndarray:
    """Each float32 as the shortest decimal that reads back to it ("0.9723452", not 0.9723451733589172)."""
    return np.asarray(values, dtype=np.float32).astype(str)


@contextmanager
def open_output(path: str | None, force: bool) -> Iterator[TextIO]:
    """stdout, or a file that is created (an existing file is replaced only with `force`)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    if os.path.isfile(path) and not force:
        raise InputDataError(f"{path} already exists; choose another output or pass --force to overwrite it")
    with open(path, "w", encoding="utf-8", newline="") as stream:
        yield stream


class PredictionWriter:
    """Writes one record per row: the prediction and, for classifiers, every class's probability.

    With a `key` name (e.g. "image") each record starts with that key's value,
    given with each batch, so a record says which input it is for.
    """

    def __init__(
        self, stream: TextIO, output_format: str, classes: Sequence[str] | None, key: str | None = None
    ):
        self.classes = list(classes) if classes else None
        self.key = key
        self._stream = stream
        writers: dict[str, Callable[[np.ndarray, Sequence[str] | None], None]] = {
            "csv": self._csv,
            "jsonl": self._jsonl,
        }
        self._write_batch = writers[output_format]
        if output_format == "csv":
            self._csv_writer = csv.writer(stream, lineterminator="\n")
        self._header_pending = output_format == "csv"

    def write(self, outputs: np.ndarray, keys: Sequence[str] | None = None) -> None:
        if self._header_pending:
            header = ["prediction", "probability", *self.classes] if self.classes else ["prediction"]
            self._csv_writer.writerow([self.key, *header] if self.key else header)
            self._header_pending = False
        self._write_batch(outputs, keys)

    def _csv(self, outputs: np.ndarray, keys: Sequence[str] | None) -> None:
        texts = float32_texts(outputs)
        if self.classes is None:
            lines = texts[:, :1].tolist()
        else:
            best = outputs.argmax(axis=1)
            names = np.array(self.classes, dtype=object)[best].tolist()
            probabilities = texts[np.arange(len(outputs)), best].tolist()
            lines = [[n, p, *row] for n, p, row in zip(names, probabilities, texts.tolist())]
        self._csv_writer.writerows(lines if keys is None else ([k, *line] for k, line in zip(keys, lines)))

    def _jsonl(self, outputs: np.ndarray, keys: Sequence[str] | None) -> None:
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
        if keys is not None:
            records = [{self.key: key, **record} for key, record in zip(keys, records)]
        self._stream.write("".join(orjson.dumps(record).decode() + "\n" for record in records))
