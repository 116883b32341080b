"""`sensenet serve --grpc-port` answering NVIDIA's reference client over gRPC, `tritonclient.grpc`
(sync and aio), unchanged.

A real server on 127.0.0.1 serves the shipped iris example, a classifier with categorical fields
(`.json.gz`), the image model of the fixtures and the eye detector from BigML's own `.zip`; its
gRPC answers must equal the Python API's, its failures be status codes a client acts on. The
compiled descriptor must match inference.proto, and our messages import beside tritonclient's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("grpc")


def test_the_committed_descriptor_is_inference_proto_compiled():
    pytest.importorskip("grpc_tools")
    from sensenet.serve.grpc_descriptor import SERIALIZED
    from tools.generate_grpc_descriptor import compiled, module_text

    assert SERIALIZED == compiled(), "run python3 tools/generate_grpc_descriptor.py"
    module = REPO_ROOT / "sensenet" / "serve" / "grpc_descriptor.py"
    assert module.read_text() == module_text(SERIALIZED)


COEXIST = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from tritonclient.grpc import service_pb2
from sensenet.serve.grpc_messages import SERVICE, message

theirs = service_pb2.ModelInferRequest(model_name="iris", id="r1")
theirs.inputs.add(name="matrix", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend([1, 2, 3, 4])
theirs.parameters["priority"].uint64_param = 3
ours = message("ModelInferRequest").FromString(theirs.SerializeToString())
assert ours.model_name == "iris" and ours.id == "r1", ours
assert list(ours.inputs[0].contents.fp32_contents) == [1, 2, 3, 4]
assert ours.parameters["priority"].uint64_param == 3
back = service_pb2.ModelInferRequest.FromString(ours.SerializeToString())
assert back == theirs
assert [m.name for m in SERVICE.methods] == [
    "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer",
    "ModelStatistics",
]
print("ok")
"""


@pytest.mark.parametrize(
    "order",
    [
        ["tritonclient.grpc", "sensenet.serve.grpc_transport"],
        ["sensenet.serve.grpc_transport", "tritonclient.grpc"],
    ],
    ids=["tritonclient-first", "sensenet-first"],
)
def test_our_messages_import_beside_tritonclient_grpc_in_either_order(order):
    """Both define messages named inference.*: ours live in a pool of their own, so neither
    import is refused and the two speak the same wire format."""
    pytest.importorskip("tritonclient.grpc")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(COEXIST), *order],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr
