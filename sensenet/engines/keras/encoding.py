"""In-graph preprocessing: the raw input matrix to standardised, one-hot features."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from sensenet.inputs.rows import encoding_tables


class InputEncoding(keras.layers.Layer):
    """Standardise numeric columns (missing -> 0) and one-hot categorical ones."""

    def __init__(self, fields: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tables = encoding_tables(fields)
        self.is_category = ~np.isnan(self.tables["code"])

    def call(self, x: Any) -> Any:
        t = self.tables
        gathered = ops.take(x, t["source"], axis=1)
        numeric = (gathered - t["center"]) / t["scale"]
        # x != x is the NaN test every runtime has as a builtin.
        numeric = ops.where(ops.not_equal(numeric, numeric), ops.zeros_like(numeric), numeric)
        one_hot = ops.cast(ops.equal(gathered, t["code"]), "float32")
        return ops.where(self.is_category, one_hot, numeric)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], len(self.tables["source"]))
