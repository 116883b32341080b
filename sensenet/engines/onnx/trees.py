"""Tree embeddings in plain ONNX ops (gather, compare, batched matmul).

The arrays and the computation are those of `sensenet.engines.keras.tree` (see
`sensenet.spec.trees` for the formulation), so both engines agree bit for bit
on which leaf each row reaches.
"""

from __future__ import annotations

from sensenet.engines.onnx.graph import GraphBuilder, Tensor
from sensenet.engines.onnx.proto import TensorProto
from sensenet.spec.trees import TreeEmbedding


def tree_embedding(g: GraphBuilder, embedding: TreeEmbedding, x: Tensor) -> Tensor:
    """The forests' mean leaf vectors for each row: shape (rows, embedding.width)."""
    e = embedding
    trees = e.features.shape[0]
    leaves = e.left_counts.shape[1]
    # (trees, nodes) indices on axis 1: values come out as (rows, trees, nodes).
    values = g.op("Gather", x.name, g.constant(e.features, e.features.dtype), axis=1)
    went_left = g.op("Cast", g.op("LessOrEqual", values, g.constant(e.thresholds)), to=TensorProto.FLOAT)
    # (trees, rows, nodes) @ (trees, nodes, leaves): one batched matmul.
    sums = g.op("MatMul", g.op("Transpose", went_left, perm=[1, 0, 2]), g.constant(e.paths))
    hits = g.op("Equal", sums, g.constant(e.left_counts[:, None, :]))
    hits = g.op("Transpose", g.op("Cast", hits, to=TensorProto.FLOAT), perm=[1, 0, 2])
    hits = g.op("Reshape", hits, g.constant([-1, trees * leaves], "int64"))
    return Tensor(g.op("MatMul", hits, g.constant(e.leaf_values)), (e.width,))
