"""The messages and the service of inference.proto, built in a descriptor pool of their own.

Every module generated from the protocol's proto (tritonclient.grpc's, KServe's) registers messages
named ``inference.*`` in protobuf's default pool, and a second registration of one name with other
contents is refused. Ours never enter that pool, so sensenet's server and tritonclient.grpc import
in one process, in either order; the wire format is the same.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory

from sensenet.serve.grpc_descriptor import SERIALIZED

PACKAGE = "inference"
_POOL = descriptor_pool.DescriptorPool()
_POOL.AddSerializedFile(SERIALIZED)
SERVICE = _POOL.FindServiceByName(f"{PACKAGE}.GRPCInferenceService")


def message(name: str) -> Any:
    """The class of the message `name` (e.g. "ModelInferRequest", "ModelInferResponse")."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


def message_classes(method: Any) -> tuple[Any, Any]:
    """The classes of an RPC's request and response (`method`: one of SERVICE.methods)."""
    return message_factory.GetMessageClass(method.input_type), message_factory.GetMessageClass(
        method.output_type
    )


ServerLiveResponse = message("ServerLiveResponse")
ServerReadyResponse = message("ServerReadyResponse")
ModelReadyResponse = message("ModelReadyResponse")
ServerMetadataResponse = message("ServerMetadataResponse")
ModelMetadataResponse = message("ModelMetadataResponse")
ModelInferResponse = message("ModelInferResponse")
ModelStatistics = message("ModelStatistics")
ModelStatisticsResponse = message("ModelStatisticsResponse")
