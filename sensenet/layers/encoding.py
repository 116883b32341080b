"""In-graph preprocessing: the raw input matrix to standardised, one-hot features."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from sensenet.spec.inputs import CategoricalInput, NumericInput


def encoding_tables(fields) -> dict[str, np.ndarray]:
    """Per output feature: source column, center, scale, category code (NaN if numeric)."""
    source, center, scale, code = [], [], [], []
    for column, field in enumerate(fields):
        if isinstance(field, NumericInput):
            source.append(column), center.append(field.center), scale.append(field.scale), code.append(np.nan)
        elif isinstance(field, CategoricalInput):
            for i in range(len(field.values)):
                source.append(column), center.append(0.0), scale.append(1.0), code.append(float(i))
    return {
        "source": np.asarray(source, np.int32),
        "center": np.asarray(center, np.float32),
        "scale": np.asarray(scale, np.float32),
        "code": np.asarray(code, np.float32),
    }


class InputEncoding(keras.layers.Layer):
    """Standardise numeric columns (missing -> 0) and one-hot categorical ones."""

    def __init__(self, fields, **kwargs):
        super().__init__(**kwargs)
        self.tables = encoding_tables(fields)
        self.is_category = ~np.isnan(self.tables["code"])

    def call(self, x):
        t = self.tables
        gathered = ops.take(x, t["source"], axis=1)
        numeric = (gathered - t["center"]) / t["scale"]
        # x != x is the NaN test every runtime has as a builtin.
        numeric = ops.where(ops.not_equal(numeric, numeric), ops.zeros_like(numeric), numeric)
        one_hot = ops.cast(ops.equal(gathered, t["code"]), "float32")
        return ops.where(self.is_category, one_hot, numeric)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.tables["source"]))
