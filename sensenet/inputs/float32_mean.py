"""The float32 mean of an image's levels, summed in the order TensorFlow's CPU kernel sums them.

BigML pads an image with ``tf.reduce_mean`` of the resized float32 image. Once the levels add up
past 2**24 a float32 sum rounds, so its last bit depends on the order of the additions. This is
Eigen's full sum reduction (what ``tf.reduce_mean`` runs on CPU), step for step:

- the thread pool's cost model splits many values into two equal blocks (the odd value left over
  is summed first);
- each block is split in halves, at a multiple of 8, until a piece holds at most 8 * 1024 values;
- a piece is summed by two 8-lane accumulators taking alternate 8-value packets, a last whole
  packet going to the first; the accumulators are added, then the leftover values one by one
  into a scalar, to which the 8 lanes are added pairwise ((0+4)+(2+6)) + ((1+5)+(3+7));
- the total is divided by the count, in float32.

TensorFlow's pool has one thread per core and gives large sums to more threads on bigger
machines, so its last bit can vary with the machine; this is its order on two cores.
"""

from __future__ import annotations

import numpy as np

PACKET = 8  # float32 lanes of an AVX packet
LEAF = 1024  # packets summed in one piece before the tree splits it
# TensorFlow's cost model gives a sum of more values than this to two threads (measured with TF
# 2.21 on 2 cores: every sum of 150,000 values or more is split; below 2**17 levels of at most 255,
# each half sums exactly, so where exactly the split starts cannot change the result).
TWO_SHARDS_FROM = 2**17


def _shard_count(size: int) -> int:
    return 2 if size >= TWO_SHARDS_FROM else 1


def _piece_sum(values: np.ndarray) -> np.float32:
    size = len(values)
    paired = (size // (2 * PACKET)) * 2 * PACKET
    packed = (size // PACKET) * PACKET
    lanes = values[:paired].reshape(-1, 2 * PACKET).sum(axis=0, dtype=np.float32)  # row by row
    first, second = lanes[:PACKET], lanes[PACKET:]
    if packed > paired:
        first = first + values[paired:packed]
    first = first + second
    scalar = np.float32(0)
    for value in values[packed:]:
        scalar = np.float32(scalar + value)
    low = first[:4] + first[4:]
    return np.float32(scalar + np.float32(np.float32(low[0] + low[2]) + np.float32(low[1] + low[3])))


def _tree_sum(values: np.ndarray, first: int) -> np.float32:
    size = len(values)
    if size <= PACKET * LEAF:
        return _piece_sum(values)
    half = -(-size // 2)
    split = PACKET * -(-(first + half) // PACKET)
    left = min(split - first, size)
    total = _tree_sum(values[:left], first)
    if left < size:
        total = np.float32(total + _tree_sum(values[left:], split))
    return total


def float32_mean(image: np.ndarray) -> np.float32:
    """``tf.reduce_mean(tf.cast(image, tf.float32))`` as TensorFlow computes it on two CPU cores."""
    values = np.ascontiguousarray(image, dtype=np.float32).ravel()
    size = len(values)
    shards = _shard_count(size)
    block = int(np.floor(np.float32(size) / np.float32(shards)))
    blocks = size // block
    total = _tree_sum(values[blocks * block :], blocks * block) if blocks * block < size else np.float32(0)
    for k in range(blocks):
        total = np.float32(total + _tree_sum(values[k * block : (k + 1) * block], k * block))
    return np.float32(total / np.float32(size))
