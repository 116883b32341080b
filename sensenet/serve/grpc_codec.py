"""The gRPC service's messages <-> what every transport shares (`sensenet.serve.protocol`).

A ModelInferRequest decodes into the same `InputTensor` list the REST path decodes its JSON and
binary data into, and `protocol.infer_request` checks and assembles both: what a tensor may be is
written once. Inputs travel as ``raw_input_contents`` (laid out as the binary tensor data
extension lays them out: tritonclient's way) or as typed ``contents``; BYTES elements are bytes
(an image file's bytes, or UTF-8 text; empty is missing), like REST's binary data. Outputs go back
as ``raw_output_contents``, the form tritonclient reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format

from sensenet.exceptions import InputDataError
from sensenet.serve import binary
from sensenet.serve.catalog import VERSION, ServedModel
from sensenet.serve.grpc_messages import (
    ModelInferResponse,
    ModelMetadataResponse,
    ModelStatisticsResponse,
    ServerMetadataResponse,
)
from sensenet.serve.protocol import (
    InferRequest,
    InputTensor,
    check_count,
    check_header,
    check_outputs,
    check_parameters,
    infer_request,
    model_metadata,
    output_tensors,
    request_timeout,
    server_metadata,
)
from sensenet.serve.statistics import ModelStatistics

RAW = "raw_input_contents"
# datatype -> the InferTensorContents field its elements travel in, and their numpy type; FP16
# has no such field (raw contents only).
CONTENTS: dict[str, tuple[str, Any]] = {
    "FP32": ("fp32_contents", np.float32),
    "FP64": ("fp64_contents", np.float64),
    "INT8": ("int_contents", np.int32),
    "INT16": ("int_contents", np.int32),
    "INT32": ("int_contents", np.int32),
    "INT64": ("int64_contents", np.int64),
    "UINT8": ("uint_contents", np.uint32),
    "UINT16": ("uint_contents", np.uint32),
    "UINT32": ("uint_contents", np.uint32),
    "UINT64": ("uint64_contents", np.uint64),
    "BYTES": ("bytes_contents", None),
}


def parameters(entries: Mapping[str, Any]) -> dict[str, Any]:
    """A map of InferParameter as plain values (one not set is None)."""
    values = {}
    for key, parameter in entries.items():
        kind = parameter.WhichOneof("parameter_choice")
        values[key] = None if kind is None else getattr(parameter, kind)
    return values


def parse_infer(request: Any, served: ServedModel) -> InferRequest:
    """A ModelInferRequest -> what the worker predicts on; InputDataError names what is wrong."""
    timeout = request_timeout(check_parameters(parameters(request.parameters), "the request", "request"))
    outputs = None
    if request.outputs:
        check_outputs(served, [output.name for output in request.outputs])
        for output in request.outputs:
            check_parameters(parameters(output.parameters), f"output {output.name!r}", "output")
        outputs = {output.name: True for output in request.outputs}
    if not request.inputs:
        raise InputDataError("'inputs' must be a non-empty list of tensors")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InputDataError(
            f"{RAW} has {len(raw)} entries for {len(request.inputs)} inputs: one per input, in order"
        )
    tensors = [_input(tensor, raw[i] if raw else None) for i, tensor in enumerate(request.inputs)]
    return infer_request(served, tensors, outputs, request.id or None, timeout=timeout)


def _input(tensor: Any, raw: bytes | None) -> InputTensor:
    name = tensor.name
    datatype, shape = check_header(name, tensor.datatype, list(tensor.shape))
    check_parameters(parameters(tensor.parameters), f"input {name!r}", "input")
    if raw is not None:
        if tensor.HasField("contents"):
            raise InputDataError(f"input {name!r}: both contents and {RAW}; a request sends one or the other")
        return InputTensor(name, datatype, shape, binary.decode(name, datatype, shape, raw, RAW))
    if datatype not in CONTENTS:
        raise InputDataError(f"input {name!r}: {datatype} has no typed contents; send it in {RAW}")
    field, dtype = CONTENTS[datatype]
    values = getattr(tensor.contents, field)
    check_count(name, shape, len(values), f"contents.{field}")
    return InputTensor(name, datatype, shape, list(values) if dtype is None else np.array(values, dtype))


def infer_response(served: ServedModel, request: InferRequest, outcome: Any) -> Any:
    """The ModelInferResponse: every output's elements in raw_output_contents."""
    response = ModelInferResponse(model_name=served.name, model_version=VERSION, id=request.id or "")
    for tensor in output_tensors(served, request, outcome):
        response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.array.shape)
        response.raw_output_contents.append(binary.encode(tensor.datatype, tensor.array))
    return response


def _message(data: dict[str, Any], kind: Any) -> Any:
    """The REST answer's JSON as the gRPC message of the same fields (the others dropped)."""
    return json_format.ParseDict(data, kind(), ignore_unknown_fields=True)


def server_metadata_response() -> Any:
    return _message(server_metadata(), ServerMetadataResponse)


def model_metadata_response(served: ServedModel) -> Any:
    """The metadata REST gives, less the parameters the protocol's message has no field for."""
    return _message(model_metadata(served), ModelMetadataResponse)


def statistics_response(statistics: dict[str, ModelStatistics]) -> Any:
    """The statistics extension's answer: the same figures as REST's /stats."""
    entries = [stats.as_json(name) for name, stats in statistics.items()]
    return _message({"model_stats": entries}, ModelStatisticsResponse)
