"""Helpers of the pretrained-network tests: generated weights, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from sensenet.pretrained import weight_shapes


def _random(rng: np.random.Generator, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key in ("gamma", "variance"):
        values = rng.uniform(0.5, 1.5, shape)  # positive, so batch normalization is defined
    elif len(shape) > 1:
        values = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)  # moderate activations
    else:
        values = rng.normal(0.0, 0.1, shape)
    return values.astype(np.float32)


def with_generated_weights(network: dict, seed: int = 0) -> dict:
    """A copy of `network` with random arrays for every weight its topology names."""
    rng = np.random.default_rng(seed)
    image_layers = [dict(layer) for layer in network["image_network"]["layers"]]
    readout = [dict(layer) for layer in network["layers"]]
    sections = {"image_network": image_layers, "layers": readout}
    for section, shapes in weight_shapes(network).items():
        for layer, layer_shapes in zip(sections[section], shapes):
            for key, shape in layer_shapes.items():
                layer[key] = _random(rng, key, shape)
    return {
        **network,
        "image_network": {**network["image_network"], "layers": image_layers},
        "layers": readout,
    }


@dataclass
class Reply:
    """What the server answers for one path."""

    body: bytes
    status: int = 200
    announced: int | None = None  # the Content-Length sent; more than len(body) gives a truncated reply


@dataclass
class WeightsServer:
    url: str
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


def _handler(server: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            reply = server.replies.get(self.path, Reply(b"not found", status=404))
            self.send_response(reply.status)
            announced = len(reply.body) if reply.announced is None else reply.announced
            self.send_header("Content-Length", str(announced))
            self.end_headers()
            self.wfile.write(reply.body)
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    return Handler


@contextmanager
def weights_server() -> Iterator[WeightsServer]:
    state = WeightsServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/weights/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def closed_port_url() -> str:
    """A URL on a local port nothing listens on: connecting fails at once, as when offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/weights/"
