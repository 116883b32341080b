"""The models a server answers for: files found from the command line, each loaded once.

A model is named by its file name less ``.json``, ``.json.gz``, ``.zip`` or ``.smbundle``; a
directory stands for the model files directly inside it (those with one of these suffixes).
`ServedModel.run` is what a batch of requests becomes in the worker thread: one engine call for
all of them, each request's bad input answered on its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensenet.exceptions import FieldValueError, ModelNotFoundError, SensenetError
from sensenet.models.doors import create_model
from sensenet.models.model_wrapper import ModelWrapper

MODEL_SUFFIXES = (".json.gz", ".json", ".zip", ".smbundle")
DETECTION = "detection"  # `model.kind` of an object detector
VERSION = "1"  # the one version of every model served
# A model file and the settings to build it with -> the model (the CLI reads every form it knows).
ModelReader = Callable[[Path, dict[str, Any]], Any]

# What one request asks of the worker: rows (lists indexed like BigML's fields), an encoded
# matrix, or for a detector a list of images (bytes or None).
Item = Any
Outcome = Any  # an (rows, outputs) array, a list of object lists, or the SensenetError of that item


def model_name(path: Path) -> str | None:
    """The name a model file is served under, None when the file is no model file."""
    for suffix in MODEL_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return None


def find_model_files(arguments: Sequence[str]) -> dict[str, Path]:
    """Model name -> file, from files and directories; names must not repeat."""
    found: dict[str, Path] = {}
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files = [p for p in sorted(path.iterdir()) if p.is_file() and model_name(p)]
            if not files:
                raise ModelNotFoundError(f"{argument}: the directory holds no model files ({_suffixes()})")
        elif path.is_file():
            if model_name(path) is None:
                raise ModelNotFoundError(f"{argument}: not a model file (expected {_suffixes()})")
            files = [path]
        else:
            raise ModelNotFoundError(f"model file or directory not found: {argument}")
        for file in files:
            name = model_name(file) or file.name
            if name in found:
                raise ModelNotFoundError(f"two models would be served as {name!r}: {found[name]} and {file}")
            found[name] = file
    if not found:
        raise ModelNotFoundError("no model given: name one or more model files or directories")
    return found


def _suffixes() -> str:
    return ", ".join(MODEL_SUFFIXES)


@dataclass
class ServedModel:
    """One loaded model and what the protocols need to know of it."""

    name: str
    path: Path
    model: Any
    kind: str
    fields: tuple[Any, ...]
    classes: list[str] | None
    # The same model built to use every core, for a batch that runs alone (`run_alone`); None: none.
    alone: Any = None
    row_length: int = field(init=False)
    fields_by_name: dict[str, Any] = field(init=False)
    # Per categorical field, values not among its categories (predicted as missing) so far:
    # its keys fixed, so /metrics reads it safely; workers add to it under the lock.
    unknown_categories: dict[str, int] = field(init=False)
    _counting: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.row_length = max(f.index for f in self.fields) + 1
        self.fields_by_name = {f.name: f for f in self.fields}
        self.unknown_categories = {f.name: 0 for f in self.fields if f.optype == "categorical"}

    @property
    def has_images(self) -> bool:
        return any(f.optype == "image" for f in self.fields)

    @property
    def matrix_width(self) -> int:
        """Columns of the encoded matrix: one per non-image field."""
        return sum(1 for f in self.fields if f.optype != "image")

    def run(self, items: list[Item]) -> list[Outcome]:
        """Predict a batch of requests in one go; called in the worker thread."""
        return self._run(items, self.model)

    def run_alone(self, items: list[Item]) -> list[Outcome]:
        """`run` on the build that uses every core (`alone`), its unknown categories counted as
        `run`'s are."""
        return self._run(items, self.alone)

    def _run(self, items: list[Item], model: Any) -> list[Outcome]:
        if self.kind == DETECTION:
            return [_each_image(model, images) for images in items]
        outcomes = self._run_image_rows(items, model) if self.has_images else self._run_matrix(items, model)
        self._count_unknown(items, outcomes)
        return outcomes

    def _count_unknown(self, items: list[Item], outcomes: list[Outcome]) -> None:
        """Add the unknown categories of the requests that were predicted."""
        if not self.unknown_categories:
            return
        predicted = [item for item, outcome in zip(items, outcomes) if not isinstance(outcome, SensenetError)]
        matrices = [item for item in predicted if isinstance(item, np.ndarray)]
        rows = [row for item in predicted if not isinstance(item, np.ndarray) for row in item]
        for data in (np.concatenate(matrices) if matrices else None, rows or None):
            if data is not None:
                counts = self.model.unknown_categories(data)
                with self._counting:
                    for name, count in counts.items():
                        self.unknown_categories[name] += count

    def _run_matrix(self, items: list[Item], model: Any) -> list[Outcome]:
        matrices = self._encode_each(items)
        outcomes: list[Outcome] = [m if isinstance(m, SensenetError) else None for m in matrices]
        kept = {position: m for position, m in enumerate(matrices) if not isinstance(m, SensenetError)}
        if kept:
            outputs = model(np.concatenate(list(kept.values())))
            _split(outputs, [len(m) for m in kept.values()], list(kept), outcomes)
        return outcomes

    def _encode_each(self, items: list[Item]) -> Sequence[np.ndarray | SensenetError]:
        """Each item's matrix: the rows of all items encoded in one go, unless some are bad."""
        if len(items) > 1 and not any(isinstance(item, np.ndarray) for item in items):
            try:
                return np.split(self.model.encode([row for rows in items for row in rows]), _ends(items))
            except SensenetError:
                pass  # some request is bad: encode each alone, each error naming its own rows
        return [_guarded(self.model.encode, item) for item in items]

    def _run_image_rows(self, items: list[Item], model: Any) -> list[Outcome]:
        """All rows in one call; when some request is bad, each request on its own."""
        try:
            outputs = model([row for rows in items for row in rows])
        except SensenetError:
            return [_guarded(model, rows) for rows in items]
        outcomes: list[Outcome] = [None] * len(items)
        _split(outputs, [len(rows) for rows in items], list(range(len(items))), outcomes)
        return outcomes

    def warm_up(self) -> None:
        """Build the engines and predict once, so the first request pays for neither."""
        for model in filter(None, (self.model, self.alone)):
            if self.kind == DETECTION:
                model(None)
            else:
                model([[None] * self.row_length])


def _split(outputs: np.ndarray, lengths: list[int], positions: list[int], outcomes: list[Outcome]) -> None:
    start = 0
    for position, length in zip(positions, lengths):
        outcomes[position] = outputs[start : start + length]
        start += length


def _ends(groups: list[Any]) -> list[int]:
    """Where each group ends in their concatenation (all but the last)."""
    return np.cumsum([len(group) for group in groups])[:-1].tolist()


class KeyedRows(list):
    """Rows made from records keyed by field name: an error about one of their values names the
    field by its key, as the request did ("row 0, field 'photo'", not the row's "column 2")."""

    def __init__(self, labels: dict[int, str]):
        super().__init__()
        self.labels = labels  # field index -> how the records name it

    def said(self, error: SensenetError) -> SensenetError:
        if not isinstance(error, FieldValueError) or error.index not in self.labels:
            return error
        return type(error)(error.row, error.index, self.labels[error.index], error.problem)


def _guarded(call: Any, data: Any) -> Outcome:
    """`call(data)`, or the error it raises for bad input, said as `data`'s request form says it."""
    try:
        return call(data)
    except SensenetError as error:
        return data.said(error) if isinstance(data, KeyedRows) else error


def _each_image(model: Any, images: list[Any]) -> Outcome:
    try:
        return [model(image) for image in images]
    except SensenetError as error:
        return error


def read_model(path: Path, settings: dict[str, Any]) -> Any:
    """A deepnet's JSON file (gzipped or not, or BigML's .zip) or an .smbundle, as `create_model`
    reads them, from the compiled-model cache unless the settings or SENSENET_CACHE say no."""
    return create_model(os.fspath(path), settings, cache_default=True)


def load_model(
    name: str,
    path: Path,
    settings: dict[str, Any],
    read: ModelReader = read_model,
    alone_threads: Callable[[bool], int | None] = lambda reads_images: None,
) -> ServedModel:
    """Read, build and warm up one model, and a second build on `alone_threads(reads images)`
    threads when that is not None; errors are the library's, naming the file."""
    try:
        model = read(path, settings)
        assert isinstance(model, ModelWrapper), "a served model is never built as a feature extractor"
        served = ServedModel(name, path, model, model.kind, model.fields, model.classes)
        threads = alone_threads(served.has_images)
        if threads is not None:
            served.alone = read(path, {**settings, "threads": threads})
        served.warm_up()
    except SensenetError as error:
        raise type(error)(f"{path}: {error}") from None
    return served
