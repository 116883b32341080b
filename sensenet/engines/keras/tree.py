"""Tree embeddings in plain ops (gather, compare, matmul): exportable everywhere."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from sensenet.spec.trees import TreeEmbedding


class TreeEmbeddingLayer(keras.layers.Layer):
    """Evaluates every tree at once; see `sensenet.spec.trees` for the formulation."""

    def __init__(self, embedding: TreeEmbedding, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embedding = embedding

    def call(self, x: Any) -> Any:
        e = self.embedding
        trees, nodes = e.features.shape
        leaves = e.left_counts.shape[1]
        values = ops.reshape(ops.take(x, e.features.reshape(-1), axis=1), (-1, trees, nodes))
        went_left = ops.cast(ops.less_equal(values, e.thresholds), "float32")
        # (trees, rows, nodes) @ (trees, nodes, leaves): one batched matmul.
        sums = ops.matmul(ops.transpose(went_left, (1, 0, 2)), e.paths)
        hits = ops.cast(ops.equal(sums, e.left_counts[:, None, :]), "float32")
        hits = ops.reshape(ops.transpose(hits, (1, 0, 2)), (-1, trees * leaves))
        return ops.matmul(hits, e.leaf_values)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.embedding.width)
