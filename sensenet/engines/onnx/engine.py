"""The ONNX engine: an onnxruntime session over the graph built from the spec."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime

from sensenet.engines.onnx.deepnet import INPUT_NAME, deepnet_graph, image_input_name
from sensenet.exceptions import InputDataError
from sensenet.settings import Settings
from sensenet.spec.image_layers import ImageNetwork
from sensenet.spec.model import ModelSpec
from sensenet.spec.output_names import graph_outputs


def session_threads(threads: int | None, image_network: bool) -> int:
    """The threads one call may use: the user's `threads` setting, else one for a row network (a
    row costs microseconds, less than waking a thread pool would) and every core for an image
    network (where a convolution splits well). Calls from several threads run in parallel."""
    if threads is not None:
        return threads
    return (os.cpu_count() or 1) if image_network else 1


def session_options(threads: int = 1) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


def fast_run(session: onnxruntime.InferenceSession) -> Callable[[list[str], dict], list[np.ndarray]]:
    """`session.run` without its Python-side check of the feed's names, which ours always pass:
    about 3 us of a 15 us one-row call. The public `run` if the binding ever moves."""
    binding = getattr(session, "_sess", None)
    if binding is None or not callable(getattr(binding, "run", None)):
        return session.run
    return lambda outputs, feeds: binding.run(outputs, feeds, None)


def _session(
    graph: bytes,
    threads: int,
    optimized: bool = False,
    keep_optimized: Callable[[bytes], None] | None = None,
) -> onnxruntime.InferenceSession:
    """A session on `graph`. `optimized`: the graph is onnxruntime's own optimised form, saved by
    an earlier session on this machine (`runtime_identity`), loaded without optimising it again.
    `keep_optimized` receives that form once this session has made it."""
    options = session_options(threads)
    saved = None
    if optimized:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    elif keep_optimized is not None:
        import tempfile

        descriptor, saved = tempfile.mkstemp(prefix="sensenet-", suffix=".onnx")
        os.close(descriptor)
        options.optimized_model_filepath = saved
        options.log_severity_level = 3  # its warning that the form fits this machine: the cache keys on it
    try:
        session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        if saved is not None and keep_optimized is not None:
            with open(saved, "rb") as stream:
                keep_optimized(stream.read())
    except Exception:
        if saved is None:
            raise
        return _session(graph, threads)  # the optimised form could not be saved (a full disk): none kept
    finally:
        if saved is not None:
            os.remove(saved)
    return session


@functools.cache
def runtime_identity() -> str:
    """What onnxruntime's optimised form of a graph depends on beside the graph: its version and
    this machine's processor (its instruction sets choose the kernels and their layouts)."""
    import platform

    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as stream:
            flags = next((line for line in stream if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = platform.processor()
    return f"onnxruntime {onnxruntime.__version__} {platform.machine()} {flags.strip()}"


class OnnxEngine:
    """Predicts through onnxruntime; safe to call from many threads at once.

    Called as ``engine(matrix)`` or ``engine(matrix, images)`` (see
    `sensenet.engines`); `matrix` is ignored when the model has no non-image field.
    """

    name = "onnx"

    def __init__(
        self,
        spec: ModelSpec,
        settings: Settings,
        graph: bytes | None = None,
        optimized: bool = False,
        keep_optimized: Callable[[bytes], None] | None = None,
    ):
        """`graph`: the graph `deepnet_graph` gives for this spec and settings, made earlier (then
        `spec` may be its outline, without layers); `optimized` and `keep_optimized` as `_session`'s."""
        threads = session_threads(settings.threads, spec.image_network is not None)
        if graph is None:
            graph = deepnet_graph(spec, settings).SerializeToString()
        self._session = _session(graph, threads, optimized, keep_optimized)
        del graph
        self._run = fast_run(self._session)
        self._outputs = list(graph_outputs(spec.output))
        self._has_matrix = bool(spec.numeric_inputs)
        self._image_names = [image_input_name(i) for i in range(len(spec.image_inputs))]

    def __call__(self, matrix: np.ndarray, images: Sequence[np.ndarray] = ()) -> np.ndarray:
        if len(images) != len(self._image_names):
            raise InputDataError(
                f"the model has {len(self._image_names)} image fields, but {len(images)} pixel batches "
                "were given (one float32 (rows, height, width, 3) array per image field)"
            )
        feeds = dict(zip(self._image_names, images))
        if self._has_matrix:
            feeds[INPUT_NAME] = matrix
        return self._run(self._outputs, feeds)[0]


class OnnxImageNetwork:
    """An image network's raw node outputs for a pixel batch, through onnxruntime.

    Built for given node positions (a detector's YOLO heads, for instance:
    ``OnnxImageNetwork(spec.image_network, spec.image_network.metadata.output_nodes)``);
    called with float32 (rows, height, width, 3) RGB 0-255 pixels, it returns
    one channels-last array per node, in the order given, as the Keras layers
    would compute them.
    """

    def __init__(
        self,
        network: ImageNetwork,
        nodes: Sequence[int],
        threads: int | None = None,
        graph: bytes | None = None,
        optimized: bool = False,
        keep_optimized: Callable[[bytes], None] | None = None,
    ):
        """`graph`: the graph `image_network_graph` gives for this network and nodes, made earlier
        (then `network` may be its outline, without nodes); `optimized` and `keep_optimized` as
        `_session`'s."""
        from sensenet.engines.onnx.image import PIXELS_NAME, image_network_graph, node_output_name

        if graph is None:
            count = len(network.nodes)
            if not nodes or any(not 0 <= node < count for node in nodes):
                raise InputDataError(
                    f"expected one or more node positions from 0 to {count - 1} (the network has {count} "
                    f"nodes), got {list(nodes)}"
                )
            graph = image_network_graph(network, nodes).SerializeToString()
        self._session = _session(graph, session_threads(threads, True), optimized, keep_optimized)
        del graph
        self._outputs = [node_output_name(node) for node in nodes]
        self._input = PIXELS_NAME

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        return self._session.run(self._outputs, {self._input: pixels})
