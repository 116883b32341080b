"""In-graph preprocessing: the raw input matrix to standardised, one-hot features.

The same computation as `sensenet.engines.keras.encoding.InputEncoding`, from the
same tables, with the branches a model does not need left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto

from sensenet.engines.onnx.graph import GraphBuilder, Tensor
from sensenet.inputs.rows import encoding_tables
from sensenet.spec.inputs import CategoricalInput, NumericInput

NumericField = NumericInput | CategoricalInput


def input_encoding(g: GraphBuilder, fields: Sequence[NumericField], x: Tensor) -> Tensor:
    """Numeric columns: (x - center) / scale, missing -> 0. Categorical: one-hot of the code."""
    t = encoding_tables(fields)
    is_category = ~np.isnan(t["code"])
    gathered = x.name
    if not np.array_equal(t["source"], np.arange(x.width)):
        gathered = g.op("Gather", x.name, g.constant(t["source"], np.int32), axis=1)

    numeric = None
    if not is_category.all():
        numeric = g.op("Div", g.op("Sub", gathered, g.constant(t["center"])), g.constant(t["scale"]))
        numeric = g.op("Where", g.op("IsNaN", numeric), g.constant(0.0), numeric)
    one_hot = None
    if is_category.any():
        one_hot = g.op("Cast", g.op("Equal", gathered, g.constant(t["code"])), to=TensorProto.FLOAT)

    if numeric is None or one_hot is None:
        return Tensor(numeric or one_hot or gathered, (len(t["source"]),))
    return Tensor(g.op("Where", g.constant(is_category, np.bool_), one_hot, numeric), (len(t["source"]),))
