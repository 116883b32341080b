"""Emitters of BigML-format image layers, the bricks every pretrained topology is built from.

A `LayerGraph` grows a list of layer dicts exactly as BigML writes them: each
layer after the first names the layers it reads in ``inputs`` (by position),
and weights are initializer names, replaced by arrays when weights are loaded
(see `sensenet.pretrained.weights`). Each emitter appends layers and returns
the position of the last one, so blocks wire themselves with plain integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

KERNEL_INITIALIZER = "glorot_uniform"
DEFAULT_EPSILON = 0.001

Inputs = int | Sequence[int] | None


@dataclass
class LayerGraph:
    """The layers emitted so far; `add` wires a new one to the previous layer unless told otherwise."""

    layers: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, inputs: Inputs = None, **fields: Any) -> int:
        position = len(self.layers)
        layer: dict[str, Any] = {"type": kind, **fields}
        if position > 0:  # the first layer reads the image, and BigML writes no inputs for it
            if inputs is None:
                inputs = position - 1
            layer["inputs"] = [inputs] if isinstance(inputs, int) else list(inputs)
        self.layers.append(layer)
        return position


@dataclass(frozen=True)
class Conv:
    """One convolution of a group emitted side by side (see `parallel_conv_bn`)."""

    filters: int
    kernel: int
    strides: int = 1
    padding: str = "same"
    inputs: Inputs = None


def _pair(value: int) -> list[int]:
    return [value, value]


def convolution(
    graph: LayerGraph,
    filters: int,
    kernel: int,
    strides: int = 1,
    padding: str = "same",
    bias: bool = False,
    inputs: Inputs = None,
) -> int:
    return graph.add(
        "convolution_2d",
        inputs,
        kernel=KERNEL_INITIALIZER,
        bias="zeros" if bias else None,
        activation_function="linear",
        padding=padding,
        strides=_pair(strides),
        number_of_filters=filters,
        kernel_dimensions=_pair(kernel),
    )


def depthwise_convolution(
    graph: LayerGraph, kernel: int, strides: int = 1, padding: str = "same", inputs: Inputs = None
) -> int:
    return graph.add(
        "depthwise_convolution_2d",
        inputs,
        kernel=KERNEL_INITIALIZER,
        bias=None,
        activation_function="linear",
        padding=padding,
        strides=_pair(strides),
        depth_multiplier=1,
        number_of_filters=1,
        kernel_dimensions=_pair(kernel),
    )


def separable_convolution(graph: LayerGraph, filters: int, kernel: int = 3, inputs: Inputs = None) -> int:
    return graph.add(
        "separable_convolution_2d",
        inputs,
        depth_kernel=KERNEL_INITIALIZER,
        point_kernel=KERNEL_INITIALIZER,
        bias=None,
        activation_function="linear",
        padding="same",
        strides=_pair(1),
        depth_multiplier=1,
        number_of_filters=filters,
        kernel_dimensions=_pair(kernel),
    )


def batch_normalization(graph: LayerGraph, epsilon: float = DEFAULT_EPSILON, inputs: Inputs = None) -> int:
    return graph.add(
        "batch_normalization",
        inputs,
        epsilon=epsilon,
        gamma="ones",
        beta="zeros",
        mean="zeros",
        variance="ones",
    )


def activation(graph: LayerGraph, function: str, inputs: Inputs = None) -> int:
    return graph.add("activation", inputs, activation_function=function)


def padding(graph: LayerGraph, before: int, after: int | None = None, inputs: Inputs = None) -> int:
    """Zero padding of `before` rows/columns on top/left and `after` (default: the same) on bottom/right."""
    after = before if after is None else after
    return graph.add("padding_2d", inputs, padding=[[before, after], [before, after]])


def max_pool(graph: LayerGraph, size: int, strides: int, padding: str, inputs: Inputs = None) -> int:
    return graph.add("max_pool_2d", inputs, padding=padding, strides=_pair(strides), pool_size=_pair(size))


def global_average_pool(graph: LayerGraph, inputs: Inputs = None) -> int:
    return graph.add("global_average_pool_2d", inputs)


def add(graph: LayerGraph, *inputs: int) -> int:
    return graph.add("add", list(inputs))


def concatenate(graph: LayerGraph, *inputs: int) -> int:
    return graph.add("concatenate", list(inputs))


def split_channels(graph: LayerGraph, splits: int, group: int, inputs: Inputs = None) -> int:
    return graph.add("split_channels", inputs, number_of_splits=splits, group_index=group)


def upsampling(graph: LayerGraph, size: int = 2, inputs: Inputs = None) -> int:
    return graph.add("upsampling_2d", inputs, method="bilinear", size=_pair(size))


def conv_bn(
    graph: LayerGraph,
    filters: int,
    kernel: int,
    strides: int = 1,
    padding: str = "same",
    bias: bool = False,
    epsilon: float = DEFAULT_EPSILON,
    inputs: Inputs = None,
) -> int:
    convolution(graph, filters, kernel, strides, padding, bias, inputs)
    return batch_normalization(graph, epsilon)


def conv_bn_act(
    graph: LayerGraph,
    filters: int,
    kernel: int,
    function: str,
    strides: int = 1,
    padding: str = "same",
    bias: bool = False,
    epsilon: float = DEFAULT_EPSILON,
    inputs: Inputs = None,
) -> int:
    conv_bn(graph, filters, kernel, strides, padding, bias, epsilon, inputs)
    return activation(graph, function)


def parallel_conv_bn(
    graph: LayerGraph,
    convs: Sequence[Conv],
    function: str | None = None,
    bias: bool = False,
    epsilon: float = DEFAULT_EPSILON,
) -> list[int]:
    """Convolutions on separate branches, emitted as BigML lists them: every convolution first,
    then every batch normalization, then (when `function` is given) every activation.

    Returns the last layer of each branch.
    """
    conv_positions = [
        convolution(graph, c.filters, c.kernel, c.strides, c.padding, bias, c.inputs) for c in convs
    ]
    outputs = [batch_normalization(graph, epsilon, position) for position in conv_positions]
    if function is not None:
        outputs = [activation(graph, function, position) for position in outputs]
    return outputs
