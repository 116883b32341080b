"""Predictions as records people can use: the label, its probability, one entry per class.

The array call stays the seed's (float32 (rows, outputs)); `predict` gives these records,
or a pandas DataFrame of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sensenet.extras import require_extra


def classification_records(outputs: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """{"prediction": label, "probability": p, <class>: p, ...} per row; ties go to the first class."""
    best = outputs.argmax(axis=1)
    probabilities = outputs.astype(float).tolist()
    return [
        {"prediction": classes[b], "probability": row[b], **dict(zip(classes, row))}
        for b, row in zip(best.tolist(), probabilities)
    ]


def regression_records(outputs: np.ndarray) -> list[dict[str, Any]]:
    return [{"prediction": value} for value in outputs[:, 0].astype(float).tolist()]


def as_frame(records: list[dict[str, Any]]) -> Any:
    """The records as a pandas DataFrame (pandas is imported only here)."""
    require_extra("pandas", "predict(..., as_frame=True)")
    import pandas

    return pandas.DataFrame.from_records(records)


def is_frame(value: Any) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")
