"""Shared test helpers: where the BigML fixtures are, and small model builders."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"fixture {path} not found: set SENSENET_FIXTURES to the shared fixtures directory")
    return path


def load_cases(name: str) -> list:
    with gzip.open(fixture_path(name)) as stream:
        return json.load(stream)


def dense(weights, bias=None, activation="identity") -> dict:
    weights = np.asarray(weights, dtype=float)
    bias = np.zeros(weights.shape[1]) if bias is None else np.asarray(bias, dtype=float)
    return {
        "type": "dense",
        "weights": weights.tolist(),
        "offset": bias.tolist(),
        "activation_function": activation,
    }


def numeric_field(index: int, mean: float = 0.0, stdev: float = 1.0) -> dict:
    return {"type": "numeric", "index": index, "mean": mean, "stdev": stdev}


def regression_network(layers: list, preprocess: list, mean: float = 0.0, stdev: float = 1.0) -> dict:
    return {
        "preprocess": preprocess,
        "layers": layers,
        "output_exposition": {"type": "numeric", "mean": mean, "stdev": stdev},
        "trees": None,
    }


def identity_network(preprocess: list, width: int, layers: list | None = None, trees=None) -> dict:
    """A 'classifier' whose outputs are its layers' raw outputs (no softmax): to observe features."""
    return {
        "preprocess": preprocess,
        "layers": layers if layers is not None else [dense(np.eye(width))],
        "output_exposition": {"type": "categorical", "values": [f"c{i}" for i in range(width)]},
        "trees": trees,
    }
