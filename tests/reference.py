"""Independent numpy references, written from BigML's format rules (never calling sensenet).

- `predict`: a deepnet's ``network`` dict on rows: preprocess, tree embeddings, typed or legacy
  layers, one network or the mean of ``networks``, de-normalised regression;
- `pad_fill` and `pad`: BigML's pad rescale;
- `detect`: BigML's YOLO post-processing of raw head outputs, for one image.
"""

from __future__ import annotations

import numpy as np

from tests.activation_reference import activation

BATCH_NORM_EPSILON = 0.001


# ---------------------------------------------------------------- rows


def preprocess(network: dict, rows: list[list]) -> np.ndarray:
    """Each field's features in ``preprocess`` order: (x - mean) / stdev, missing 0; one-hot, missing
    or unknown all zeros; an image's pooled features are not handled here (see `image_features`)."""
    columns = []
    for field in network["preprocess"]:
        values = [row[field["index"]] for row in rows]
        if field["type"] == "numeric":
            if "mean" in field:
                center, scale = field["mean"], field["stdev"] or 1.0
            else:
                center, scale = field["zero_value"], (field["one_value"] - field["zero_value"]) or 1.0
            columns.append(np.array([[0.0 if v is None else (v - center) / scale] for v in values]))
        elif field["type"] == "categorical":
            columns.append(np.array([[float(v == c) for c in field["values"]] for v in values]))
        else:
            raise ValueError(f"preprocess reference: no rule for {field['type']}")
    return np.concatenate(columns, axis=1)


def _tree_leaf(node, x):
    while node[1] is not None or not isinstance(node[0], list):
        split, value, left, right = node
        node = left if x[split] <= value else right
    return np.asarray(node[0], dtype=np.float64)


def tree_features(trees: list, features: np.ndarray) -> np.ndarray:
    """Each forest's mean leaf vector, forests in order, prepended to the features."""
    out = []
    for x in features:
        parts = []
        for (start, end), forest in trees:
            parts.append(np.mean([_tree_leaf(tree, x[start:end]) for tree in forest], axis=0))
        out.append(np.concatenate(parts + [x]))
    return np.array(out)


def _typed_layer(layer: dict, x: np.ndarray) -> np.ndarray:
    kind = layer["type"]
    if kind == "dense":
        y = x @ np.asarray(layer["weights"], np.float64) + np.asarray(layer.get("offset", 0.0), np.float64)
        return activation(layer.get("activation_function", "identity"))(y)
    if kind == "activation":
        return activation(layer["activation_function"])(x)
    if kind == "batch_normalization":
        epsilon = layer.get("epsilon", BATCH_NORM_EPSILON)
        normal = (x - np.asarray(layer["mean"])) / np.sqrt(np.asarray(layer["variance"]) + epsilon)
        return normal * np.asarray(layer.get("gamma", 1.0)) + np.asarray(layer.get("beta", 0.0))
    if kind in ("dropout", "flatten"):
        return x
    if kind == "dense_residual_block":
        dense = run_typed(layer["dense_path"], x)
        identity = run_typed(layer.get("identity_path", []), x)
        return activation(layer.get("activation_function", "identity"))(dense + identity)
    raise ValueError(f"layer reference: no rule for {kind}")


def run_typed(layers: list[dict], x: np.ndarray) -> np.ndarray:
    for layer in layers:
        x = _typed_layer(layer, x)
    return x


def run_legacy(layers: list[dict], x: np.ndarray) -> np.ndarray:
    """Legacy layers: x W^T, then scale * (y - mean) / stdev + offset (or + offset), a residual
    layer adding the last residual point's output tiled or cut to its width, then the activation.
    The first residual point is the input, or the first layer's output when residual layers exist
    but neither of the first two layers has the flag."""
    flags = [bool(layer.get("residuals")) for layer in layers]
    start_after_first = any(flags) and not any(flags[:2])
    residual = x
    for i, layer in enumerate(layers):
        y = x @ np.asarray(layer["weights"], np.float64).T
        if layer.get("mean") is not None and layer.get("stdev") is not None:
            y = np.asarray(layer["scale"]) * (y - np.asarray(layer["mean"])) / np.asarray(layer["stdev"])
        y = y + np.asarray(layer["offset"])
        if flags[i]:
            width = y.shape[1]
            y = y + np.tile(residual, (1, -(-width // residual.shape[1])))[:, :width]
        x = activation(layer.get("activation_function", "identity"))(y)
        if flags[i] or (start_after_first and i == 0):
            residual = x
    return x


def _run_layers(layers: list[dict], x: np.ndarray) -> np.ndarray:
    if layers and all("type" not in layer for layer in layers):
        return run_legacy(layers, x)
    return run_typed(layers, x)


def _output_exposition(network: dict) -> dict:
    return network.get("output_exposition") or network["networks"][0]["output_exposition"]


def predict(network: dict, rows: list[list], features: np.ndarray | None = None) -> np.ndarray:
    """What BigML predicts for ``rows``: class probabilities, or the de-normalised regression.

    ``features`` replaces `preprocess` (for image models, whose features the caller computes).
    A ``networks`` list averages its members' outputs (each regression de-normalised first); a
    member's ``trees: true`` uses the model's forests.
    """
    x = preprocess(network, rows) if features is None else features
    exposition = _output_exposition(network)
    members = network.get("networks") or [network]
    outputs = []
    for member in members:
        trees = member.get("trees")
        if trees is True:
            trees = network.get("trees")
        y = _run_layers(member["layers"], tree_features(trees, x) if trees else x)
        if exposition["type"] == "numeric":
            y = y * exposition.get("stdev", 1.0) + exposition.get("mean", 0.0)
        outputs.append(y)
    return np.mean(outputs, axis=0)


# ---------------------------------------------------------------- images


def nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """TensorFlow 2's nearest resize: source index floor((i + 0.5) * in / out) in float32."""

    def source(size_in, size_out):
        centres = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * (
            np.float32(size_in) / np.float32(size_out)
        )
        return np.minimum(np.floor(centres).astype(int), size_in - 1)

    return image[source(image.shape[0], height)][:, source(image.shape[1], width)]


def pad(image: np.ndarray, height: int, width: int, fill: float) -> np.ndarray:
    """BigML's pad: scale by the smaller ratio (float32), round the sides, resize, fill bottom/right."""
    ratio = min(
        np.float32(height) / np.float32(image.shape[0]), np.float32(width) / np.float32(image.shape[1])
    )
    sides = np.maximum(np.round(np.float32(image.shape[:2]) * ratio), 1).astype(int)
    out = np.full((height, width, 3), np.float32(fill), np.float32)
    out[: sides[0], : sides[1]] = nearest(image, *sides)
    return out


def pad_scaled(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The resized image pad fills around (whose mean is the fill)."""
    ratio = min(
        np.float32(height) / np.float32(image.shape[0]), np.float32(width) / np.float32(image.shape[1])
    )
    sides = np.maximum(np.round(np.float32(image.shape[:2]) * ratio), 1).astype(int)
    return nearest(image, *sides)


# ---------------------------------------------------------------- detection


def _sigmoid32(x):
    return (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32)


def yolo_candidates(raw_heads: list[np.ndarray], heads: list[dict], class_count: int):
    """Every candidate of one image: corners in network pixels, best class, its score (float32).

    centre = (sigmoid(t_xy) * xyscale - 0.5 * (xyscale - 1) + cell) * stride, size = exp(t_wh) *
    anchor; class = argmax of objectness x class probability, score = that product.
    """
    boxes, scores, classes = [], [], []
    for raw, head in zip(raw_heads, heads):
        anchors = np.asarray(head["anchors"], np.float32)
        gh, gw = raw.shape[:2]
        cells = raw.reshape(gh, gw, len(anchors), 5 + class_count).astype(np.float32)
        for y in range(gh):
            for x in range(gw):
                for a in range(len(anchors)):
                    t = cells[y, x, a]
                    scale = np.float32(head["xyscale"])
                    shift = np.float32(0.5 * (head["xyscale"] - 1))
                    grid = np.array([x, y], np.float32)
                    centre = (_sigmoid32(t[0:2]) * scale - shift + grid) * np.float32(head["strides"])
                    size = np.exp(t[2:4]) * anchors[a]
                    products = _sigmoid32(t[4:5]) * _sigmoid32(t[5:])
                    best = int(np.argmax(products))
                    boxes.append(
                        np.concatenate([centre - size / np.float32(2), centre + size / np.float32(2)])
                    )
                    scores.append(products[best])
                    classes.append(best)
    return np.array(boxes, np.float32), np.array(scores, np.float32), np.array(classes)


def to_pixels_pad(boxes: np.ndarray, network_size: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """BigML: corners / network side (x by width, y by height) x the longer original side, rounded."""
    height, width = network_size
    relative = boxes / np.array([width, height, width, height], np.float32)
    return np.round(relative * np.float32(max(shape))).astype(np.float32)


def to_pixels_warp(boxes: np.ndarray, network_size: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Warp: divide by the float32 resize ratio of each axis, rounded."""
    ratios = np.float32(network_size) / np.float32(shape)  # (y, x)
    return np.round(boxes / np.array([ratios[1], ratios[0], ratios[1], ratios[0]], np.float32))


def _iou(a: np.ndarray, b: np.ndarray) -> np.float32:
    inter_w = max(np.float32(0), min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(np.float32(0), min(a[3], b[3]) - max(a[1], b[1]))
    inter = np.float32(inter_w * inter_h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + np.float32(1e-8)
    return np.float32(inter / np.float32(union))


def suppress(boxes, scores, classes, score_threshold, iou_threshold, max_objects) -> list[dict]:
    """ONE class-agnostic greedy NMS: best score first (ties: earlier candidate), scores above the
    threshold, a box is dropped when its IoU with a kept box is at least the threshold; kept boxes
    with no positive coordinate are not returned; at most max_objects."""
    order = sorted(
        (i for i in range(len(scores)) if scores[i] > np.float32(score_threshold)),
        key=lambda i: (-scores[i], i),
    )
    kept, out = [], []
    for i in order:
        if len(out) == max_objects:
            break
        if any(_iou(boxes[k], boxes[i]) >= np.float32(iou_threshold) for k in kept):
            continue
        kept.append(i)
        if (boxes[i] > 0).any():
            out.append(
                {"box": [int(v) for v in boxes[i]], "class": int(classes[i]), "score": float(scores[i])}
            )
    return out
