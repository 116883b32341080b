"""Tree embeddings: forests whose leaf vectors are prepended to a network's input.

``trees`` is a list of ``[[start, end], [tree, ...]]``; each forest reads the
preprocessed columns ``start:end``, a node is ``[split_index, split_value,
left, right]`` (left when ``x <= split_value``, index relative to ``start``),
a leaf ``[[v0, v1, ...], null]``, and a forest outputs the mean of its trees'
leaves.

The forests are compiled into dense arrays so that every engine evaluates
them with a handful of portable ops (gather, compare, batched matmul), the
"GEMM" formulation: leaf j of a tree is reached exactly when the sum over its
ancestors of ``went_left * (+1 left child side, -1 right side)`` equals the
number of its ancestors it lies to the left of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sensenet.exceptions import ModelFormatError
from sensenet.limits import MAX_TREE_ELEMENTS
from sensenet.spec.fields import float32_number, shown


@dataclass(frozen=True, eq=False)
class TreeEmbedding:
    features: np.ndarray  # (trees, nodes) int32: input column each split reads
    thresholds: np.ndarray  # (trees, nodes) float32
    paths: np.ndarray  # (trees, nodes, leaves) float32 in {-1, 0, 1}
    left_counts: np.ndarray  # (trees, leaves) float32; -1 marks padding
    leaf_values: np.ndarray  # (trees * leaves, outputs) float32, pre-divided by forest size

    @property
    def width(self) -> int:
        return self.leaf_values.shape[1]


@dataclass
class _Tree:
    features: list[int]
    thresholds: list[float]
    # per leaf: its value and its ancestors as (node, +1 if leaf is left of it else -1)
    leaves: list[tuple[list[float], list[tuple[int, int]]]]


def _is_leaf(node: Any) -> bool:
    return isinstance(node, list) and len(node) == 2 and isinstance(node[0], list) and node[1] is None


def _walk_tree(root: Any, start: int, end: int, path: str) -> _Tree:
    tree = _Tree([], [], [])
    stack: list[tuple[Any, list[tuple[int, int]], str]] = [(root, [], path)]
    while stack:
        node, ancestors, where = stack.pop()
        if _is_leaf(node):
            values = [number for number in map(float32_number, node[0]) if number is not None]
            if not values or len(values) < len(node[0]):
                raise ModelFormatError(f"{where}: a leaf needs a non-empty list of numbers float32 holds")
            tree.leaves.append((values, ancestors))
            continue
        if not (isinstance(node, list) and len(node) == 4):
            raise ModelFormatError(
                f"{where}: expected a node [split_index, split_value, left, right] or a leaf [[values], null]"
            )
        split, value, left, right = node
        if isinstance(split, bool) or not isinstance(split, int) or not 0 <= split < end - start:
            raise ModelFormatError(
                f"{where}[0]: split index {shown(split)} outside the forest's {end - start} columns"
            )
        threshold = float32_number(value)
        if threshold is None:
            raise ModelFormatError(
                f"{where}[1]: split value must be a number float32 holds, got {shown(value)}"
            )
        index = len(tree.features)
        tree.features.append(start + split)
        tree.thresholds.append(threshold)
        # Right first so leaves come out left to right (only cosmetic).
        stack.append((right, ancestors + [(index, -1)], f"{where}[3]"))
        stack.append((left, ancestors + [(index, 1)], f"{where}[2]"))
    return tree


def parse_trees(value: Any, input_width: int, path: str) -> TreeEmbedding:
    """Validate BigML's ``trees`` list against an input of `input_width` columns."""
    if not isinstance(value, list) or not value:
        raise ModelFormatError(f"{path}: expected a non-empty list of [[start, end], [trees]] forests")
    trees: list[_Tree] = []
    columns: list[int] = []  # first output column of each tree's forest
    scales: list[float] = []
    offset = 0
    for f, forest in enumerate(value):
        where = f"{path}[{f}]"
        if not (isinstance(forest, list) and len(forest) == 2 and isinstance(forest[1], list) and forest[1]):
            raise ModelFormatError(f"{where}: expected [[start, end], [tree, ...]] with at least one tree")
        bounds = forest[0]
        if not (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
            and 0 <= bounds[0] < bounds[1] <= input_width
        ):
            raise ModelFormatError(
                f"{where}[0]: expected [start, end] within the {input_width} input columns"
            )
        forest_trees = [
            _walk_tree(t, bounds[0], bounds[1], f"{where}[1][{i}]") for i, t in enumerate(forest[1])
        ]
        widths = {len(values) for tree in forest_trees for values, _ in tree.leaves}
        if len(widths) != 1:
            raise ModelFormatError(f"{where}: leaves have different lengths {sorted(widths)}")
        trees += forest_trees
        columns += [offset] * len(forest_trees)
        scales += [1.0 / len(forest_trees)] * len(forest_trees)
        offset += widths.pop()
    return _compile(trees, columns, scales, offset, path)


def _check_size(count: int, nodes: int, leaves: int, width: int, path: str) -> None:
    """The compiled arrays grow as trees x nodes x leaves and trees x leaves x width: bound them."""
    elements = count * leaves * (nodes + width)
    if elements > MAX_TREE_ELEMENTS.value():
        raise ModelFormatError(
            f"{path}: {count} trees of up to {nodes} nodes and {leaves} leaves, {width} outputs wide: "
            + MAX_TREE_ELEMENTS.exceeded("the compiled embedding size", elements)
        )


def _compile(
    trees: list[_Tree], columns: list[int], scales: list[float], width: int, path: str
) -> TreeEmbedding:
    count = len(trees)
    nodes = max(1, max(len(t.features) for t in trees))
    leaves = max(len(t.leaves) for t in trees)
    _check_size(count, nodes, leaves, width, path)
    features = np.zeros((count, nodes), np.int32)
    thresholds = np.zeros((count, nodes), np.float32)
    paths = np.zeros((count, nodes, leaves), np.float32)
    left_counts = np.full((count, leaves), -1.0, np.float32)
    leaf_values = np.zeros((count * leaves, width), np.float32)
    for t, (tree, column, scale) in enumerate(zip(trees, columns, scales)):
        features[t, : len(tree.features)] = tree.features
        thresholds[t, : len(tree.thresholds)] = tree.thresholds
        for j, (values, ancestors) in enumerate(tree.leaves):
            for node, side in ancestors:
                paths[t, node, j] = side
            left_counts[t, j] = sum(1 for _, side in ancestors if side > 0)
            leaf_values[t * leaves + j, column : column + len(values)] = np.asarray(values) * scale
    return TreeEmbedding(features, thresholds, paths, left_counts, leaf_values)
