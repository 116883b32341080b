"""The fuzz suite's cases and the worker process that runs them (see tests/test_fuzz.py).

Run as ``python -m tests.fuzz_cases WORKDIR``: the worker limits its own address space, then
reads one case per line on stdin (``{"category": ..., "seed": ...}``) and writes one JSON line
per case: ``{"outcome": "ok" | "ours" | FINDING, "detail": ...}``. A case is rebuilt from its
category and seed alone, so any finding is reproduced by running that one case again.

Findings (anything but "ok" and "ours") fail the suite: "foreign" (an exception not ours),
"memory" (MemoryError), "nan" (a valid input predicted NaN or inf, or was refused), "leftover"
(a file left in the temporary directory), "overwrite" (a user's file changed or one written
outside the case's directory). Hangs and crashes are seen by the parent process.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import math
import os
import random
import resource
import socket
import sys
import tempfile
import threading
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sensenet.exceptions import SensenetError
from tests.conftest import FIXTURES


class Finding(Exception):
    """What the suite looks for, besides foreign exceptions."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


def _load_json_gz(name: str) -> Any:
    with gzip.open(FIXTURES / name) as stream:
        return json.load(stream)


class Fixtures:
    """The fixture models, read once per worker."""

    def __init__(self) -> None:
        self.row_cases = _load_json_gz("regression.json.gz") + _load_json_gz("legacy_regression.json.gz")
        self.image_case = _load_json_gz("image_regression.json.gz")[0]
        self._detector: dict | None = None
        self.server: WeightsServer | None = None  # started by the first server case

    @property
    def detector(self) -> dict:
        if self._detector is None:
            with zipfile.ZipFile(FIXTURES / "detection" / "cats_eye_tinyyolov4.zip") as archive:
                self._detector = json.loads(archive.read(archive.namelist()[0]))
        return self._detector


# --- hostile values ----------------------------------------------------------------------------


class Hostile:
    """A value whose own conversions all raise."""

    def __float__(self):
        raise RuntimeError("no float")

    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")

    def __len__(self):
        raise RuntimeError("no len")

    def __eq__(self, other):
        raise RuntimeError("no eq")

    __hash__ = object.__hash__


def nested_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def nested_dict(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


HUGE_INTS = (2**31, 2**63, 10**9, 10**12, 10**400, -(10**400), 65_537, 100_000, 10**7)
JSON_VALUES: tuple[Callable[[random.Random], Any], ...] = (
    lambda rng: None,
    lambda rng: rng.choice((0, -1, 1, 2, 3, 7, 255, 1000)),
    lambda rng: rng.choice(HUGE_INTS),
    lambda rng: rng.choice((1e39, -1e39, 3e38, 1e-45, 1e308, -0.0, 0.5, 1e-30)),
    lambda rng: rng.choice(("", "x", "relu", "same", "\0", "\ud800", "é" * 3, "1e400", "NaN")),
    lambda rng: rng.choice(([], {}, [[]], [None], [1, "a"], {"type": "dense"})),
    lambda rng: rng.choice((True, False)),
    lambda rng: nested_list(rng.choice((50, 500, 3000))),
    lambda rng: nested_dict(rng.choice((50, 500, 3000))),
    lambda rng: [rng.random() for _ in range(rng.choice((0, 1, 3, 1000)))],
    lambda rng: "z" * rng.choice((300, 100_000)),
)


def hostile_json(rng: random.Random) -> Any:
    return rng.choice(JSON_VALUES)(rng)


# --- structural mutation of a JSON document --------------------------------------------------------


def _is_numeric_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], (int, float))


def _locations(document: Any, skip_keys: frozenset[str] = frozenset()) -> list[tuple[Any, Any]]:
    """Every (container, key) holding a value, not descending into lists of numbers."""
    found = []
    stack = [document]
    while stack:
        item = stack.pop()
        keys = [k for k in item if k not in skip_keys] if isinstance(item, dict) else range(len(item))
        for key in keys:
            found.append((item, key))
            child = item[key]
            if isinstance(child, dict) or (isinstance(child, list) and not _is_numeric_list(child)):
                stack.append(child)
    return found


def _mutate_once(rng: random.Random, document: Any, skip_keys: frozenset[str]) -> str:
    container, key = rng.choice(_locations(document, skip_keys))
    value = container[key]
    action = rng.randrange(7)
    if action == 0 or (action == 1 and isinstance(container, list) and len(container) < 2):
        container[key] = hostile_json(rng)
        return f"replace {key!r}"
    if action == 1:
        del container[key]
        return f"delete {key!r}"
    if action == 2 and isinstance(value, int) and not isinstance(value, bool):
        container[key] = value * rng.choice((0, -1, 1000, 10**6, 10**9))
        return f"scale {key!r}"
    if action == 3 and _is_numeric_list(value):
        value[rng.randrange(len(value))] = rng.choice((1e39, 10**400, -1e39, "1", None, [1.0], math.inf))
        return f"poison number in {key!r}"
    if action == 4 and isinstance(value, list) and value:
        if rng.random() < 0.5:
            # The same object again, not a deep copy: an element may be a 3,000-deep hostile list
            # (copy.deepcopy recurses past Python's limit), and a document reads it alike.
            value.append(value[rng.randrange(len(value))])
        else:
            del value[rng.randrange(len(value)) :]
        return f"resize list {key!r}"
    if action == 5:
        container[key] = [value] if rng.random() < 0.5 else {"value": value}
        return f"wrap {key!r}"
    container[key] = hostile_json(rng)
    return f"replace {key!r}"


def mutate(rng: random.Random, document: Any, skip_keys: frozenset[str] = frozenset()) -> list[str]:
    return [_mutate_once(rng, document, skip_keys) for _ in range(rng.choice((1, 1, 2, 3)))]


# --- what each category does -------------------------------------------------------------------


def _predict_checked(model: Any, rows: list, valid: bool) -> None:
    """Predict; a valid row must give finite outputs (an error is then a finding too)."""
    try:
        outputs = np.asarray(model(rows))
    except SensenetError as error:
        if valid:
            raise Finding("nan", f"a valid row was refused: {error}") from None
        raise
    if not np.all(np.isfinite(outputs)):
        raise Finding("nan", f"non-finite outputs {outputs.ravel()[:6]}")


def case_model(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """A fixture model with structural mutations: our error, or a model that predicts finite numbers."""
    from sensenet.models.wrappers import create_model

    case = copy.deepcopy(rng.choice(fixtures.row_cases))
    changes = mutate(rng, case["model"])
    model = create_model(case["model"])
    rows = [item["input"] for item in case["validation"][:3]]
    _predict_checked(model, rows, valid=False)
    return ", ".join(changes)


WEIGHT_KEYS = frozenset({"kernel", "weights", "mean_image", "depth_kernel", "point_kernel"})


def case_image_model(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """The image fixture model with mutations of its image network (not its weights' values)."""
    from sensenet.models.wrappers import create_model

    case = copy.deepcopy(fixtures.image_case)
    changes = mutate(rng, case["model"]["image_network"], WEIGHT_KEYS)
    model = create_model(case["model"], {"image_path_prefix": str(FIXTURES)})
    row = [
        value.replace("tests/data/", "") if isinstance(value, str) else value
        for value in case["validation"][0]["input"]
    ]
    _predict_checked(model, [row], valid=False)
    return ", ".join(changes)


def case_detector(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """The eye detector with mutations of its metadata and output only (its weights are large)."""
    from sensenet.models.wrappers import create_model

    resource_copy = dict(fixtures.detector)
    deepnet = dict(resource_copy["object"]["deepnet"])
    network = dict(deepnet["network"])
    network["image_network"] = dict(network["image_network"])
    editable = {
        "metadata": copy.deepcopy(network["image_network"]["metadata"]),
        "output_exposition": copy.deepcopy(network["output_exposition"]),
        "preprocess": copy.deepcopy(network["preprocess"]),
    }
    changes = mutate(rng, editable)
    network["image_network"]["metadata"] = editable.get("metadata")
    network["output_exposition"] = editable.get("output_exposition")
    network["preprocess"] = editable.get("preprocess")
    model = create_model(network, {"max_objects": 5})
    found = model(np.full((40, 60, 3), 128, np.uint8))
    if not isinstance(found, list):
        raise Finding("nan", f"a detector returned {type(found).__name__}")
    for item in found:
        if not all(math.isfinite(v) for v in item["box"]) or not math.isfinite(item["score"]):
            raise Finding("nan", f"non-finite detection {item}")
    return ", ".join(changes)


ROW_VALUES: tuple[Callable[[random.Random], Any], ...] = (
    lambda rng: rng.choice((10**400, -(10**400), 1e39, -1e39, math.inf, math.nan, 2**63)),
    lambda rng: Hostile(),
    lambda rng: nested_list(rng.choice((3, 1000, 5000))),
    lambda rng: np.array(rng.random()),
    lambda rng: np.zeros((2, 2)),
    lambda rng: rng.choice((b"\xff", bytearray(b"1"), {"a": 1}, {1, 2}, object(), 1j, Fraction(1, 3))),
    lambda rng: rng.choice(("", "1e400", "nan", "x" * 100_000, "\0", "\ud800")),
    lambda rng: rng.choice((True, np.float64(1e300), np.int64(2**62), np.float16(1))),
)
ROW_SHAPES: tuple[Callable[[random.Random, list], Any], ...] = (
    lambda rng, row: np.array(1.0),
    lambda rng, row: [np.array(1.0)],
    lambda rng, row: row[: rng.randrange(len(row))],
    lambda rng, row: [row, 5],
    lambda rng, row: iter([row]),
    lambda rng, row: {"a": row},
    lambda rng, row: "1,2,3",
    lambda rng, row: [],
    lambda rng, row: [[]],
    lambda rng, row: np.zeros((1, 2, 3)),
    lambda rng, row: np.array([row], dtype=object),
    lambda rng, row: None,
)


def case_rows(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """A fixture model and rows: valid ones must predict finite numbers, hostile ones give our error."""
    from sensenet.models.wrappers import create_model

    case = rng.choice(fixtures.row_cases)
    model = create_model(case["model"])
    row = list(rng.choice(case["validation"])["input"])
    choice = rng.random()
    if choice < 0.2:
        _predict_checked(model, [row], valid=True)
        return "valid row"
    if choice < 0.4:
        shaped = rng.choice(ROW_SHAPES)(rng, row)
        _predict_checked(model, shaped, valid=False)
        return f"row shaped {type(shaped).__name__}"
    column = rng.randrange(len(row))
    row[column] = rng.choice(ROW_VALUES)(rng)
    _predict_checked(model, [list(row)], valid=False)
    return f"column {column} = {type(row[column]).__name__}"


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (the chunks after it are a 1x1 image's)."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = bytes(data[12:16]) + width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes(data[24:29])
    data[16:29] = ihdr[4:]
    data[29:33] = zlib.crc32(ihdr).to_bytes(4, "big")
    return bytes(data)


def _encoded(rng: random.Random, image: Image.Image) -> bytes:
    """The image in a random format (converted to RGB when that format cannot hold its mode)."""
    out = io.BytesIO()
    file_format = rng.choice(("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"))
    try:
        image.save(out, file_format)
    except (OSError, KeyError, ValueError):
        out = io.BytesIO()
        image.convert("RGB").save(out, file_format)
    return out.getvalue()


IMAGE_VALUES: tuple[Callable[[random.Random], Any], ...] = (
    lambda rng: _png_with_size(
        rng.choice((1, 13_300, 100_000, 2**31 - 1)), rng.choice((1, 13_300, 10_000_000))
    ),
    lambda rng: _encoded(rng, Image.new("RGB", (rng.randrange(1, 40), rng.randrange(1, 40))))[
        : rng.randrange(1, 60)
    ],
    lambda rng: bytes(
        b ^ (rng.randrange(256) if rng.random() < 0.02 else 0)
        for b in _encoded(rng, Image.new("RGB", (24, 16), (200, 10, 10)))
    ),
    lambda rng: _encoded(rng, Image.new(rng.choice(("1", "L", "P", "RGBA", "I;16", "CMYK", "LA")), (9, 7))),
    lambda rng: rng.choice((b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff", b"BM" + b"\0" * 60)),
    lambda rng: np.zeros(rng.choice(((0, 5, 3), (5, 5, 5), (5,), (2, 2, 2, 2), (1, 1, 1))), np.uint8),
    lambda rng: np.full((4, 4, 3), rng.choice((math.nan, -1.0, 300.0, math.inf, 2.0**70))),
    lambda rng: np.zeros((4, 4, 3), rng.choice((object, complex, bool, np.int64, np.float16, "U1"))),
    lambda rng: rng.choice((Hostile(), 5, 1.5, {"a": 1}, [[1, [2]]], nested_list(3000))),
    lambda rng: np.zeros(rng.choice(((1, 10_000_000, 3), (10_000_000, 1, 3))), np.uint8),
)


def case_image(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """Hostile image bytes and pixel arrays through loading and every rescale type."""
    from sensenet.inputs import load_image
    from sensenet.inputs.rescale import placement, rescale

    make = rng.choice(IMAGE_VALUES)
    value = make(rng)
    pixels = load_image(value, color_space=rng.choice(("rgb", "bgra")))
    size = (rng.choice((1, 3, 224, 416)), rng.choice((1, 5, 224, 608)))
    kind = rng.choice(("warp", "pad", "crop"))
    fitted = rescale(pixels, *size, kind)
    placement(pixels, *size, kind)
    if fitted.shape != (*size, 3):
        raise Finding("foreign", f"rescale gave {fitted.shape} for {size}")
    return f"image {IMAGE_VALUES.index(make)}"


BUNDLE_NAMES = (
    "a",
    "saved_model.pb",
    "x" * 300,
    "..",
    "/etc",
    "\\x",
    "a\0b",
    "\udc80",
    "é",
    ".",
    "",
    "d/e",
)


def _bundle_listing(rng: random.Random) -> Any:
    entries = []
    for _ in range(rng.randrange(1, 4)):
        depth = rng.choice((0, 1, 2, 40, 2000))
        directory = "/".join(rng.choice(("d", "e" * 200, "..", ".")) for _ in range(depth)) or "."
        files = [
            [rng.choice(BUNDLE_NAMES), rng.choice((0, 1, 3, -1, 10**12))] for _ in range(rng.randrange(3))
        ]
        entries.append([directory, [rng.choice(BUNDLE_NAMES) for _ in range(rng.randrange(2))], files])
    if rng.random() < 0.3:
        mutate(rng, entries)
    return entries


def _bundle_bytes(rng: random.Random) -> bytes:
    from sensenet.export.bundle import GUARD

    choice = rng.random()
    if choice < 0.1:
        header = b"[" * 100_000 + b"]" * 100_000
    elif choice < 0.2:
        header = b'[[".", [], [["\xff\xfe", 1]]]]'
    elif choice < 0.4:  # a well-formed bundle, whose files must land inside the bundle's directory
        listing = [[".", ["a"], [["f", 3], ["saved_model.pb", 2]]], ["a", [], [["g", 1]]]]
        header = json.dumps(listing).encode()
        body = b"abcdef"
    else:
        try:
            header = json.dumps(_bundle_listing(rng)).encode()
        except RecursionError:  # a mutation nested it deeper than json writes
            header = b"[" * 5000 + b"]" * 5000
    blocks = min(255, max(1, -(-len(header) // 1024)))
    if choice >= 0.4 or choice < 0.2:
        body = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 3, 7))))
    if rng.random() < 0.1:
        blocks = rng.choice((0, 255))
    return GUARD + bytes([blocks]) + header[: blocks * 1024].ljust(blocks * 1024, b" ") + body


def case_bundle(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """Hostile .smbundle files: extraction gives our error or files inside the bundle's own directory."""
    from sensenet.export.bundle import extracted_bundle

    path = work / "inputs" / "x.smbundle"
    path.write_bytes(_bundle_bytes(rng))
    with extracted_bundle(path) as model_dir:
        for current, _, files in os.walk(model_dir):
            for name in files:
                if not Path(current, name).resolve().is_relative_to(model_dir.resolve()):
                    raise Finding("overwrite", f"{name} extracted outside the bundle directory")
    return "bundle"


def _hostile_path(rng: random.Random, inputs: Path) -> Any:
    choice = rng.randrange(16)
    if choice == 0:
        os.mkfifo(inputs / "fifo")
        return inputs / "fifo"
    if choice == 1:
        return rng.choice(("/dev/zero", "/dev/null", "/dev/urandom", "/proc/self/mem", "/proc/self/status"))
    if choice == 2:
        (inputs / "loop1").symlink_to(inputs / "loop2")
        (inputs / "loop2").symlink_to(inputs / "loop1")
        return inputs / "loop1"
    if choice == 3:
        (inputs / "dangling").symlink_to(inputs / "nowhere")
        return inputs / "dangling"
    if choice == 4:
        return str(inputs / "a\0b")
    if choice == 5:
        return str(inputs / ("n" * rng.choice((256, 5000))))
    if choice == 6:
        return str(inputs / "\ud800")
    if choice == 7:
        return inputs
    if choice == 8:
        (inputs / "file").write_text("x")
        return inputs / "file" / "below"
    if choice == 9:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(inputs / "sock"))
        return inputs / "sock"
    if choice == 10:
        (inputs / "bomb.json.gz").write_bytes(gzip.compress(b"[" + b" " * 40_000_000 + b"]"))
        return inputs / "bomb.json.gz"
    if choice == 11:
        (inputs / "bad.gz").write_bytes(gzip.compress(b"{}")[:-3] + b"\x1f\x8b garbage")
        return inputs / "bad.gz"
    if choice == 12:
        return os.fsencode(inputs / "bytes.json")
    if choice == 13:
        (inputs / "empty").write_bytes(b"")
        return inputs / "empty"
    if choice == 14:
        (inputs / "deep.json").write_text("[" * 1000 + "]" * 1000)
        return inputs / "deep.json"
    return str(inputs / "\udcff.json")


def case_path(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """Paths that are not regular files, or no usable path, through every reader of a user's file."""
    from sensenet.cli.rows import RowLayout, file_rows
    from sensenet.export.bundle import extracted_bundle
    from sensenet.inputs import load_image
    from sensenet.models.wrappers import create_model

    path = _hostile_path(rng, work / "inputs")
    reader = rng.randrange(4)
    if reader == 0:
        create_model(path)
    elif reader == 1:
        load_image(path)
    elif reader == 2:
        with extracted_bundle(path):
            pass
    else:
        file_rows(os.fsdecode(path) if isinstance(path, bytes) else str(path), RowLayout(None))
    return f"path reader {reader}"


# --- the weights server ----------------------------------------------------------------------------

TINY = {
    "image_network": {
        "metadata": {"input_image_shape": [8, 8, 3], "base_image_network": "tiny", "version": "1"},
        "layers": [
            {
                "type": "convolution_2d",
                "kernel": "glorot_uniform",
                "kernel_dimensions": [1, 1],
                "number_of_filters": 4,
            },
            {"type": "global_average_pool_2d"},
        ],
    },
    "layers": [],
}


def _weights_bytes(network: dict, work: Path, poison: bool = False) -> bytes:
    """A weights file of `network`; `poison` puts a NaN in its first kernel."""
    import h5py

    from sensenet.pretrained import write_weights
    from tests.pretrained_helpers import with_generated_weights

    path = work / "w.h5"
    write_weights(with_generated_weights(network), path, overwrite=True)
    if poison:
        with h5py.File(path, "r+") as stream:
            kernel = stream["image_network/0/kernel"]
            values = kernel[()]
            values.flat[0] = np.nan
            kernel[...] = values
    data = path.read_bytes()
    path.unlink()
    return data


class WeightsServer:
    """A server on 127.0.0.1 whose path says how it misbehaves: /<behaviour>/tiny_weights_1.h5."""

    def __init__(self, work: Path):
        wrong = copy.deepcopy(TINY)
        wrong["image_network"]["layers"][0]["number_of_filters"] = 5
        self.bodies = {
            "good": _weights_bytes(TINY, work),
            "wrong_shapes": _weights_bytes(wrong, work),
            "nan_values": _weights_bytes(TINY, work, poison=True),
        }
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                behaviour = self.path.strip("/").split("/")[0]
                try:
                    BEHAVIOURS.get(behaviour, BEHAVIOURS["missing"])(self, bodies)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args) -> None:
                pass

        return Handler


def _send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, length: int | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


def _trickle(handler: BaseHTTPRequestHandler, bodies: dict) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(bodies["good"])))
    handler.end_headers()
    for byte in bodies["good"][:40]:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.25)


def _redirect_loop(handler: BaseHTTPRequestHandler, bodies: dict) -> None:
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _no_length(handler: BaseHTTPRequestHandler, bodies: dict) -> None:
    handler.send_response(200)
    handler.end_headers()
    handler.wfile.write(bodies["good"][:1000])
    handler.close_connection = True


BEHAVIOURS: dict[str, Callable[[BaseHTTPRequestHandler, dict], None]] = {
    "good": lambda h, b: _send(h, b["good"]),
    "missing": lambda h, b: _send(h, b"not found", 404),
    "error": lambda h, b: _send(h, b"oops", 500),
    "truncated": lambda h, b: _send(h, b["good"][: len(b["good"]) // 2], length=len(b["good"])),
    "html": lambda h, b: _send(h, b"<html>denied</html>"),
    "empty": lambda h, b: _send(h, b""),
    "wrong_shapes": lambda h, b: _send(h, b["wrong_shapes"]),
    "nan_values": lambda h, b: _send(h, b["nan_values"]),
    "garbage_hdf5": lambda h, b: _send(h, b["good"][:2000] + bytes(3000)),
    "trickle": _trickle,
    "redirect_loop": _redirect_loop,
    "no_length": _no_length,
    "hang_up": lambda h, b: h.connection.shutdown(socket.SHUT_RDWR),
}


def case_server(rng: random.Random, work: Path, fixtures: Fixtures) -> str:
    """Weights downloads from a misbehaving server (or a malformed URL): our error, and no partial file."""
    from sensenet.pretrained import get_weights

    if fixtures.server is None:
        fixtures.server = WeightsServer(work.parent)
    server = fixtures.server
    cache = work / "cache"
    os.environ["BIGML_SENSENET_CACHE_PATH"] = str(cache)
    if rng.random() < 0.15:
        url = rng.choice(("nonsense", "http://", "http://h:99999/", "ftp://x/", "http://a b/", "://", "\0"))
    else:
        url = server.url + rng.choice(sorted(BEHAVIOURS)) + "/"
    try:
        path = get_weights("tiny", "1", url, topology=TINY)
    finally:
        leftovers = [p.name for p in cache.glob(".*.part")] if cache.exists() else []
        if leftovers:
            raise Finding("leftover", f"partial downloads left in the cache: {leftovers}")
    if not url.startswith(server.url + "good"):
        raise Finding("foreign", f"{url} was accepted as weights")
    return f"download {url.rsplit('/', 2)[-2]} -> {path.name}"


CATEGORIES: dict[str, Callable[[random.Random, Path, Fixtures], str]] = {
    "model": case_model,
    "image_model": case_image_model,
    "detector": case_detector,
    "rows": case_rows,
    "image": case_image,
    "bundle": case_bundle,
    "path": case_path,
    "server": case_server,
}


# --- running cases ------------------------------------------------------------------------------


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file under `directory` (not following links) and a digest of its bytes."""
    found = {}
    for current, _, files in os.walk(directory):
        for name in files:
            path = Path(current, name)
            if path.is_file() and not path.is_symlink():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run_case(case: dict, root: Path, fixtures: Fixtures) -> dict:
    from sensenet.export.bundle import remove_tree

    work = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    (work / "inputs").mkdir()
    (work / "tmp").mkdir()
    tempfile.tempdir = str(work / "tmp")
    user_file = work / "inputs" / "user.txt"
    user_file.write_text("the user's own file")
    before = set(os.listdir(root))
    rng = random.Random(f"{case['category']}:{case['seed']}")
    result: dict[str, Any] = {"id": case["id"]}
    try:
        result["detail"] = CATEGORIES[case["category"]](rng, work, fixtures)
        result["outcome"] = "ok"
    except SensenetError as error:
        result["outcome"], result["detail"] = "ours", f"{type(error).__name__}: {str(error)[:160]}"
    except Finding as finding:
        result["outcome"], result["detail"] = finding.kind, str(finding)[:400]
    except MemoryError:
        result["outcome"], result["detail"] = "memory", traceback.format_exc(limit=-3)[-600:]
    except BaseException as error:  # anything else is a finding, whatever it is
        result["outcome"] = "foreign"
        result["detail"] = f"{type(error).__name__}: {traceback.format_exc(limit=-4)[-900:]}"
    finally:
        tempfile.tempdir = None
    if result["outcome"] in ("ok", "ours"):
        result.update(_check_files(work, root, before, user_file))
    remove_tree(work)
    return result


def _check_files(work: Path, root: Path, before: set[str], user_file: Path) -> dict:
    if user_file.read_text() != "the user's own file":
        return {"outcome": "overwrite", "detail": "the user's file changed"}
    left = sorted(os.listdir(work / "tmp"))
    if left:
        return {"outcome": "leftover", "detail": f"temporary files left: {left[:5]}"}
    new = sorted(set(os.listdir(root)) - before - {work.name})
    if new:
        return {"outcome": "overwrite", "detail": f"written outside the case directory: {new[:5]}"}
    return {}


def main() -> None:
    root = Path(sys.argv[1])
    limit = int(os.environ.get("FUZZ_ADDRESS_SPACE_BYTES", str(3 << 30)))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.chdir(root)
    fixtures = Fixtures()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        print(json.dumps(run_case(case, root, fixtures)), flush=True)


if __name__ == "__main__":
    main()
