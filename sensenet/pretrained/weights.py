"""Weights files of the pretrained networks: read them into a topology, write them from a network.

The format Sense/Net writes and reads (HDF5, ``format`` attribute
``"sensenet-weights"``, ``format_version`` 1)::

    /                              attrs: format, format_version, base_image_network, version
    /image_network/<i>/<key>       the arrays of image_network.layers[i]
    /layers/<i>/<key>              the arrays of the readout layers[i] (optional)

Only layers with weights have a group, and a group holds exactly the layer's
weight keys (``kernel``, ``bias``, ``depth_kernel``, ``point_kernel``,
``gamma``, ``beta``, ``mean``, ``variance``, ``weights``, ``offset``) in the
BigML layouts: convolution kernels (height, width, in, out), depthwise kernels
(height, width, in, multiplier), dense weights (in, out). A null bias is no
weight.

A Keras (2.x, or Keras 3 ``model.save("x.h5")``) HDF5 weights file of the
built model is read too: its layers with weights, in file order, are matched
to the topology's weighted layers in layer order (image network, then the
readout if the file has as many more), which is how BigML's own files list them.
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sensenet.exceptions import ModelFormatError, ModelNotFoundError
from sensenet.files.writing import new_path

FORMAT_NAME = "sensenet-weights"
FORMAT_VERSION = 1
SECTIONS = ("image_network", "layers")

# the weight keys of each layer type, in the order Keras lists a layer's weights
WEIGHT_KEYS: dict[str, tuple[str, ...]] = {
    "convolution_2d": ("kernel", "bias"),
    "depthwise_convolution_2d": ("kernel", "bias"),
    "separable_convolution_2d": ("depth_kernel", "point_kernel", "bias"),
    "batch_normalization": ("gamma", "beta", "mean", "variance"),
    "dense": ("weights", "offset"),
}

Shapes = dict[str, tuple[int, ...]]


def _given(layer: dict, field: str, key: str, axis: int) -> int:
    """A size from the layer's field, else from the array already at `key`."""
    if layer.get(field) is not None:
        return int(layer[field])
    given = layer.get(key)
    if given is None or isinstance(given, str):
        raise ModelFormatError(f"gives {key!r} as an initializer name but has no {field!r}")
    return int(np.shape(given)[axis])


def _kernel_size(layer: dict, key: str) -> tuple[int, int]:
    dims = layer.get("kernel_dimensions")
    if dims is None:
        height, width = np.shape(layer[key])[:2]
        return int(height), int(width)
    return int(dims[0]), int(dims[1])


def _convolution(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    channels = inputs[0]
    filters = _given(layer, "number_of_filters", "kernel", 3)
    return {"kernel": (*_kernel_size(layer, "kernel"), channels, filters), "bias": (filters,)}, filters


def _depthwise(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    channels = inputs[0]
    multiplier = int(layer.get("depth_multiplier") or 1)
    out = channels * multiplier
    return {"kernel": (*_kernel_size(layer, "kernel"), channels, multiplier), "bias": (out,)}, out


def _separable(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    channels = inputs[0]
    multiplier = int(layer.get("depth_multiplier") or 1)
    filters = _given(layer, "number_of_filters", "point_kernel", 3)
    shapes = {
        "depth_kernel": (*_kernel_size(layer, "depth_kernel"), channels, multiplier),
        "point_kernel": (1, 1, channels * multiplier, filters),
        "bias": (filters,),
    }
    return shapes, filters


def _dense(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    channels = inputs[0]
    nodes = _given(layer, "number_of_nodes", "weights", 1)
    return {"weights": (channels, nodes), "offset": (nodes,)}, nodes


def _batch_normalization(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    channels = inputs[0]
    return dict.fromkeys(WEIGHT_KEYS["batch_normalization"], (channels,)), channels


def _split(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    return {}, inputs[0] // int(layer["number_of_splits"])


def _concatenate(layer: dict, inputs: list[int]) -> tuple[Shapes, int]:
    return {}, sum(inputs)


# weight shapes and output channels of a layer given the channels of its inputs;
# layers not listed have no weights and keep their first input's channels
LAYER_SHAPES: dict[str, Callable[[dict, list[int]], tuple[Shapes, int]]] = {
    "convolution_2d": _convolution,
    "depthwise_convolution_2d": _depthwise,
    "separable_convolution_2d": _separable,
    "batch_normalization": _batch_normalization,
    "dense": _dense,
    "split_channels": _split,
    "concatenate": _concatenate,
}


def _section_shapes(section: str, layers: list[dict], in_channels: int) -> tuple[list[Shapes], int]:
    """Each layer's weight shapes (only keys that are weights) and the section's output channels."""
    outputs: list[int] = []
    result: list[Shapes] = []
    for position, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
            raise ModelFormatError(f"{_location(section, position)}: expected a layer object with a 'type'")
        wired = layer.get("inputs")
        sources = [position - 1] if wired is None else list(wired)
        if not all(isinstance(source, int) and source < position for source in sources):
            raise ModelFormatError(f"{_location(section, position)}.inputs: {wired} must name earlier layers")
        channels = [in_channels if source < 0 else outputs[source] for source in sources]
        if layer["type"] in LAYER_SHAPES:
            try:
                shapes, out = LAYER_SHAPES[layer["type"]](layer, channels)
            except ModelFormatError as error:
                raise ModelFormatError(f"{_location(section, position)} ({layer['type']}): {error}") from None
        else:
            shapes, out = {}, channels[0]
        result.append({key: shape for key, shape in shapes.items() if layer.get(key) is not None})
        outputs.append(out)
    return result, outputs[-1] if outputs else in_channels


def weight_shapes(network: dict) -> dict[str, list[Shapes]]:
    """Per section, per layer: {weight key: the array shape the topology needs}."""
    image = network.get("image_network") if isinstance(network, dict) else None
    if not isinstance(image, dict) or "layers" not in image or "metadata" not in image:
        raise ModelFormatError(
            "expected a network dict with an 'image_network' holding 'layers' and 'metadata'"
        )
    image_channels = int(image["metadata"]["input_image_shape"][-1])
    image_shapes, features = _section_shapes("image_network", image["layers"], image_channels)
    readout_shapes, _ = _section_shapes("layers", network.get("layers") or [], features)
    return {"image_network": image_shapes, "layers": readout_shapes}


def _layers(network: dict, section: str) -> list[dict]:
    return network["image_network"]["layers"] if section == "image_network" else network.get("layers") or []


def _weighted(
    shapes: dict[str, list[Shapes]], sections: tuple[str, ...]
) -> Iterator[tuple[str, int, Shapes]]:
    for section in sections:
        for position, layer_shapes in enumerate(shapes[section]):
            if layer_shapes:
                yield section, position, layer_shapes


def _copy(network: dict) -> dict:
    """A copy deep enough that filling weights never touches the caller's dicts."""
    copied = dict(network)
    copied["image_network"] = dict(network["image_network"])
    copied["image_network"]["layers"] = [dict(layer) for layer in network["image_network"]["layers"]]
    copied["layers"] = [dict(layer) for layer in network.get("layers") or []]
    return copied


def _checked(array: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """An array of the layer's shape, finite; a file's dataset is checked before it is read,
    so a huge or highly compressed one is never inflated into memory."""
    if hasattr(array, "dtype"):
        if tuple(array.shape) != shape:
            raise ModelFormatError(f"{where}: expected shape {shape}, got {tuple(array.shape)}")
        if np.dtype(array.dtype).kind not in "biuf":
            raise ModelFormatError(f"{where}: not an array of numbers (dtype {array.dtype})")
    try:
        array = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError, OSError) as error:
        raise ModelFormatError(f"{where}: not an array of numbers ({error})") from None
    if array.shape != shape:
        raise ModelFormatError(f"{where}: expected shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ModelFormatError(f"{where}: contains NaN or infinite values")
    return array


def _location(section: str, position: int) -> str:
    """Where a layer sits in the network dict, e.g. ``image_network.layers[3]``."""
    return f"{'image_network.layers' if section == 'image_network' else 'layers'}[{position}]"


def _where(path: str, section: str, position: int) -> str:
    return f"{path}: {_location(section, position)}"


def _read_sensenet(root: Any, network: dict, shapes: dict, path: str) -> dict[tuple[str, int], list]:
    meta = network["image_network"]["metadata"]
    for attribute in ("base_image_network", "version"):
        stored = root.attrs.get(attribute)
        if stored is not None and str(stored) != str(meta.get(attribute)):
            raise ModelFormatError(
                f"{path}: weights are for {attribute} {stored!r}, the network has {meta.get(attribute)!r}"
            )
    sections = tuple(section for section in SECTIONS if section in root)
    if "image_network" not in sections:
        raise ModelFormatError(f"{path}: no 'image_network' group; not a {FORMAT_NAME} file")
    found: dict[tuple[str, int], list] = {}
    for section in sections:
        expected = {str(position) for _, position, _ in _weighted(shapes, (section,))}
        extra = sorted(set(root[section]) - expected)
        if extra:
            raise ModelFormatError(
                f"{path}: {section} layers {extra} have weights in the file but none in the network"
            )
    for section, position, layer_shapes in _weighted(shapes, sections):
        group = root[section].get(str(position))
        where = _where(path, section, position)
        if group is None:
            raise ModelFormatError(
                f"{where} ({_layers(network, section)[position]['type']}): weights missing"
            )
        keys = set(group)
        if keys != set(layer_shapes):
            raise ModelFormatError(
                f"{where}: file has weights {sorted(keys)}, the layer needs {sorted(layer_shapes)}"
            )
        found[(section, position)] = [group[key] for key in layer_shapes]
    return found


def _names(value: Any, where: str) -> list[str]:
    """An HDF5 attribute holding a list of names (bytes or str), as strings."""
    names = np.asarray(value)
    if names.ndim != 1 or not all(isinstance(name, (bytes, str)) for name in names.tolist()):
        raise ModelFormatError(f"{where} must be a list of names, got {reprlib.repr(names.tolist())}")
    return [name.decode(errors="replace") if isinstance(name, bytes) else name for name in names.tolist()]


def _keras_layers(root: Any, path: str) -> list[list]:
    """The weight datasets of each layer that has weights, in the order of the file's `layer_names`."""
    import h5py

    stored = []
    for name in _names(root.attrs["layer_names"], f"{path}: layer_names"):
        group = root.get(name) if name else None
        if not isinstance(group, h5py.Group):
            raise ModelFormatError(f"{path}: layer_names lists {name!r}, which is not a group in the file")
        if "weight_names" not in group.attrs:
            raise ModelFormatError(f"{path}: layer {name!r} has no weight_names attribute")
        names = _names(group.attrs["weight_names"], f"{path}: layer {name!r}: weight_names")
        arrays = [group.get(key) if key else None for key in names]
        missing = [key for key, array in zip(names, arrays) if not isinstance(array, h5py.Dataset)]
        if missing:
            raise ModelFormatError(f"{path}: layer {name!r} lists weights {missing} the file does not hold")
        if arrays:
            stored.append(arrays)
    return stored


def _read_keras(root: Any, network: dict, shapes: dict, path: str) -> dict[tuple[str, int], list]:
    stored = _keras_layers(root, path)
    image_only = list(_weighted(shapes, ("image_network",)))
    everything = list(_weighted(shapes, SECTIONS))
    targets = image_only if len(stored) == len(image_only) else everything
    if len(stored) != len(targets):
        raise ModelFormatError(
            f"{path}: the Keras file has {len(stored)} layers with weights; the network has "
            f"{len(image_only)} in its image network and {len(everything)} with its readout"
        )
    found: dict[tuple[str, int], list] = {}
    for arrays, (section, position, layer_shapes) in zip(stored, targets):
        if len(arrays) != len(layer_shapes):
            raise ModelFormatError(
                f"{_where(path, section, position)}: needs {list(layer_shapes)}, "
                f"the file has {len(arrays)} arrays"
            )
        found[(section, position)] = arrays
    return found


def _keras_root(stream: Any) -> Any:
    return stream["model_weights"] if "model_weights" in stream else stream


def weights_file_format(path: str | os.PathLike) -> str | None:
    """``"sensenet"`` or ``"keras"`` for a weights file this module reads, else None (also for non-HDF5)."""
    import h5py

    name = os.fspath(path)
    if not Path(name).is_file() or not h5py.is_hdf5(name):
        return None
    try:
        with h5py.File(name, "r") as stream:
            if stream.attrs.get("format") == FORMAT_NAME:
                return "sensenet"
            return "keras" if "layer_names" in _keras_root(stream).attrs else None
    except OSError:  # an HDF5 signature over a damaged file
        return None


def load_weights(topology: dict, path: str | os.PathLike) -> dict:
    """The network `topology` with the arrays of weights file `path` in place of its initializer names.

    Every array is checked against the shape the topology needs; the error names
    the layer and key. The input dict is not modified.
    """
    import h5py

    name = os.fspath(path)
    if not Path(name).is_file():
        raise ModelNotFoundError(f"weights file not found: {name}")
    kind = weights_file_format(name)
    if kind is None:
        raise ModelFormatError(f"{name}: neither a {FORMAT_NAME} file nor a Keras HDF5 weights file")
    shapes = weight_shapes(topology)
    network = _copy(topology)
    with h5py.File(name, "r") as stream:
        if kind == "sensenet":
            found = _read_sensenet(stream, topology, shapes, name)
        else:
            found = _read_keras(_keras_root(stream), topology, shapes, name)
        for (section, position), datasets in found.items():
            layer = _layers(network, section)[position]
            layer_shapes = shapes[section][position]
            for key, dataset in zip(layer_shapes, datasets):
                where = f"{_where(name, section, position)} ({layer['type']}).{key}"
                layer[key] = _checked(dataset, layer_shapes[key], where)
    return network


def _arrays_to_write(network: dict) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Every weight array of `network`, checked, by (section, position) and key."""
    shapes = weight_shapes(network)
    arrays: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for section, position, layer_shapes in _weighted(shapes, SECTIONS):
        layer = _layers(network, section)[position]
        for key, shape in layer_shapes.items():
            where = f"{_location(section, position)} ({layer['type']}).{key}"
            if isinstance(layer[key], str):
                raise ModelFormatError(
                    f"{where}: is the initializer {layer[key]!r}; write_weights needs arrays"
                )
            arrays.setdefault((section, position), {})[key] = _checked(layer[key], shape, where)
    return arrays


def write_weights(network: dict, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write the arrays of `network` (every weight key an array) as a weights file `load_weights` reads.

    Written as every output is (`sensenet.files.writing`): whole or not at all, an existing
    file replaced only with `overwrite` (the destination is checked before the arrays)."""
    import h5py

    with new_path(path, overwrite) as temporary:
        arrays = _arrays_to_write(network)
        meta = network["image_network"]["metadata"]
        with h5py.File(temporary, "w") as stream:
            stream.attrs["format"] = FORMAT_NAME
            stream.attrs["format_version"] = FORMAT_VERSION
            for attribute in ("base_image_network", "version"):
                if meta.get(attribute) is not None:
                    stream.attrs[attribute] = str(meta[attribute])
            for section in SECTIONS:
                stream.create_group(section)
            for (section, position), layer_arrays in arrays.items():
                group = stream[section].create_group(str(position))
                for key, array in layer_arrays.items():
                    group.create_dataset(key, data=array)
