"""The ONNX engine: an onnxruntime session over the graph built from the spec."""

from __future__ import annotations

import numpy as np
import onnxruntime

from sensenet.models.settings import Settings
from sensenet.runtime.deepnet import INPUT_NAME, OUTPUT_NAME, deepnet_graph
from sensenet.spec.model import ModelSpec


def session_options() -> onnxruntime.SessionOptions:
    """One thread per call: a row costs microseconds, less than waking a thread pool would.

    Calls from several threads run in parallel on their own threads.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


class OnnxEngine:
    """Predicts through onnxruntime; safe to call from many threads at once."""

    name = "onnx"

    def __init__(self, spec: ModelSpec, settings: Settings):
        graph = deepnet_graph(spec, settings).SerializeToString()
        self._session = onnxruntime.InferenceSession(
            graph, session_options(), providers=["CPUExecutionProvider"]
        )
        self._outputs = [OUTPUT_NAME]

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        return self._session.run(self._outputs, {INPUT_NAME: matrix})[0]
