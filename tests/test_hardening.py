"""One test per class of hostile input (issue 11), each with the smallest input that triggered it.

Every case must end in our error (a `SensenetError` naming what is wrong), never a foreign
exception, a hang, a memory blow-up, a file left behind or NaN from a valid row.
"""

from __future__ import annotations

import gzip
import http.server
import io
import json
import os
import socket
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image

import sensenet.pretrained as pretrained
from sensenet.cli.model_file import open_model
from sensenet.cli.rows import RowLayout, file_rows
from sensenet.exceptions import (
    DownloadError,
    ImageError,
    InputDataError,
    ModelFormatError,
    ModelNotFoundError,
    SettingsError,
)
from sensenet.export import bundle
from sensenet.files.reading import IMAGE_FILE, MODEL_FILE, read_file
from sensenet.inputs import load_image
from sensenet.inputs.rescale import rescale
from sensenet.models.wrappers import convert, create_model
from sensenet.spec import load_spec
from tests.conftest import dense, numeric_field, regression_network
from tests.fuzz_cases import Hostile
from tests.pretrained_helpers import Reply, weights_server, with_generated_weights


def small_network(**changes) -> dict:
    """1 numeric input -> dense 1 -> regression."""
    network = regression_network([dense([[2.0]], [0.5])], [numeric_field(0, 1.0, 2.0)])
    network.update(changes)
    return network


def image_model(layers: list, shape=(8, 8, 3), outputs=None, kind="numeric") -> dict:
    metadata = {"input_image_shape": list(shape), "loading_method": "normalizing"}
    if outputs is not None:
        metadata["outputs"] = outputs
    exposition = {"type": "bounding_box", "values": ["a"]} if kind == "bounding_box" else {"type": kind}
    return {
        "preprocess": [{"type": "image", "index": 0}],
        "image_network": {"metadata": metadata, "layers": layers},
        "layers": [] if kind == "bounding_box" else [dense(np.ones((shape[2], 1)))],
        "output_exposition": exposition,
    }


def named_conv(filters, size=1, **extra) -> dict:
    return {
        "type": "convolution_2d",
        "kernel": "glorot_uniform",
        "kernel_dimensions": [size, size],
        "number_of_filters": filters,
        "padding": "same",
        **extra,
    }


POOL = {"type": "global_average_pool_2d"}


# --- numbers out of range -------------------------------------------------------------------


@pytest.mark.parametrize("value", [1e39, -1e39, 10**400])
def test_weights_beyond_float32_are_refused(value):
    with pytest.raises(ModelFormatError, match=r"layers\[0\]\.weights.*float32"):
        create_model(small_network(layers=[dense([[1.0]]) | {"weights": [[value]]}]))


@pytest.mark.parametrize("key", ["mean", "stdev"])
def test_means_and_stdevs_beyond_float32_are_refused(key):
    field = numeric_field(0) | {key: 10**400}
    with pytest.raises(ModelFormatError, match=rf"preprocess\[0\]\.{key}"):
        create_model(small_network(preprocess=[field]))


def test_tree_leaves_beyond_float32_are_refused():
    trees = [[[0, 1], [[[1e39], None]]]]
    with pytest.raises(ModelFormatError, match="float32"):
        create_model(small_network(trees=trees))


@pytest.mark.parametrize("value", [10**400, -(10**400), 1e39])
def test_huge_row_values_name_row_and_column(value):
    model = create_model(small_network())
    with pytest.raises(InputDataError, match="row 1"):
        model([[1.0], [value]])


def test_a_valid_row_that_overflows_the_network_is_our_error():
    network = small_network(layers=[dense([[3e38]]), dense([[3e38]])])
    model = create_model(network)
    with pytest.raises(InputDataError, match="row 1: the model's output is not a finite number"):
        model([[1.0], [1000.0]])


# --- declared sizes ----------------------------------------------------------------------------


def test_declared_nodes_are_bounded_before_allocation():
    layer = {"type": "dense", "weights": "glorot_uniform", "number_of_nodes": 10**9}
    with pytest.raises(ModelFormatError, match=r"number_of_nodes.*SENSENET_MAX_LAYER_WIDTH"):
        create_model(small_network(layers=[layer]))


@pytest.mark.parametrize(
    "layer, message",
    [
        (named_conv(10**7), "number_of_filters.*SENSENET_MAX_LAYER_WIDTH"),
        (named_conv(4, size=10**5), "kernel_dimensions.*SENSENET_MAX_KERNEL_SIZE"),
        ({"type": "padding_2d", "padding": 10**9}, "padding.*SENSENET_MAX_IMAGE_SIDE"),
        ({"type": "upsampling_2d", "size": [10**4, 10**4]}, "size.*SENSENET_MAX_KERNEL_SIZE"),
    ],
)
def test_declared_image_layer_sizes_are_bounded(layer, message):
    with pytest.raises(ModelFormatError, match=message):
        create_model(image_model([layer, POOL]))


def test_repeated_upsampling_is_bounded_by_the_output_size():
    layers = [{"type": "upsampling_2d", "size": [64, 64]}] * 3 + [POOL]
    with pytest.raises(ModelFormatError, match=r"layers\[1\].*SENSENET_MAX_IMAGE_SIDE"):
        create_model(image_model(layers))


def test_input_image_shape_is_bounded():
    with pytest.raises(ModelFormatError, match="input_image_shape.*SENSENET_MAX_IMAGE_SIDE"):
        create_model(image_model([POOL], shape=(100000, 100000, 3)))


def test_max_objects_is_bounded():
    with pytest.raises(SettingsError, match="max_objects.*SENSENET_MAX_OBJECTS"):
        create_model(small_network(), {"max_objects": 10**8})


def test_tree_embedding_expansion_is_bounded(monkeypatch):
    # a full tree of depth 12: 4095 nodes, 4096 leaves of width 1 -> 16.8 million compiled values
    def tree(depth):
        return [[1.0], None] if depth == 0 else [0, 0.0, tree(depth - 1), tree(depth - 1)]

    monkeypatch.setenv("SENSENET_MAX_TREE_ELEMENTS", "1000000")
    trees = [[[0, 1], [tree(12)]]]
    with pytest.raises(ModelFormatError, match="trees.*SENSENET_MAX_TREE_ELEMENTS"):
        create_model(small_network(trees=trees, layers=[dense([[1.0], [1.0]])]))


def test_the_parameter_limit_counts_the_whole_model_and_can_be_raised(monkeypatch):
    layers = [{"type": "dense", "weights": "glorot_uniform", "number_of_nodes": 60}] + [
        {"type": "dense", "weights": "glorot_uniform", "number_of_nodes": 60} for _ in range(2)
    ]
    layers.append({"type": "dense", "weights": "glorot_uniform", "number_of_nodes": 1})
    monkeypatch.setenv("SENSENET_MAX_PARAMETERS", "5000")
    with pytest.raises(ModelFormatError, match=r"layers\[2\]\.weights.*SENSENET_MAX_PARAMETERS"):
        create_model(small_network(layers=layers))
    monkeypatch.setenv("SENSENET_MAX_PARAMETERS", "10000")
    assert create_model(small_network(layers=layers))([[1.0]]).shape == (1, 1)


def test_a_malformed_limit_variable_is_a_settings_error(monkeypatch):
    monkeypatch.setenv("SENSENET_MAX_PARAMETERS", "lots")
    with pytest.raises(SettingsError, match="SENSENET_MAX_PARAMETERS"):
        create_model(small_network())


# --- structure ------------------------------------------------------------------------------


def detector(anchors, filters) -> dict:
    head = {"input": 0, "anchors": anchors, "strides": 8, "xyscale": 1.0}
    return image_model([named_conv(filters)], shape=(16, 16, 3), outputs=[head], kind="bounding_box")


def test_yolo_heads_must_fit_their_layer():
    model = create_model(detector([[4, 4]], 6))  # one anchor x (5 + 1 class)
    assert model(np.zeros((16, 16, 3), np.uint8)) == []
    with pytest.raises(ModelFormatError, match=r"outputs\[0\]: layer 0 gives shape \(16, 16, 6\)"):
        create_model(detector([[4, 4], [8, 8]], 6))
    with pytest.raises(ModelFormatError, match=r"outputs\[0\]\.anchors"):
        create_model(detector([[-4, 4]], 6))


def nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_dicts_nested_deep_are_our_error():
    deep: dict = {}
    for _ in range(100_000):
        deep = {"a": deep}
    with pytest.raises(ModelFormatError, match="nesting depth.*SENSENET_MAX_NESTING"):
        create_model(small_network(extra=deep))


def test_json_files_nested_deep_are_our_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"layers": ' + "[" * 900 + "]" * 900 + "}")
    with pytest.raises(ModelFormatError, match="nesting depth"):
        create_model(str(path))
    path.write_text('{"layers": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        create_model(str(path))


# --- files that are not regular files -------------------------------------------------------


def test_a_fifo_never_blocks(tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ModelFormatError, match="FIFO"):
        create_model(str(fifo))
    with pytest.raises(ImageError, match="FIFO"):
        load_image(str(fifo))
    with pytest.raises(ModelFormatError, match="FIFO"):
        bundle.read_bundle(fifo, tmp_path)
    with pytest.raises(InputDataError, match="FIFO"):
        file_rows(str(fifo), RowLayout(None))
    with pytest.raises(ModelFormatError, match="FIFO"):
        open_model(str(fifo))  # the command line's model reader, which sniffs the file's kind first
    assert time.monotonic() - started < 5


def test_devices_are_refused():
    with pytest.raises(ModelFormatError, match="character device"):
        create_model("/dev/zero")
    with pytest.raises(ImageError, match="character device"):
        load_image("/dev/zero")


def test_gzip_inflation_is_capped(tmp_path):
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b" " * 50_000_000))  # 1000 x
    with pytest.raises(ModelFormatError, match="inflates past.*SENSENET_MAX_GZIP_RATIO"):
        create_model(str(path))


def test_file_size_is_capped(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(b"\0" * 2000)
    monkeypatch.setenv("SENSENET_MAX_IMAGE_FILE_BYTES", "1000")
    with pytest.raises(ImageError, match="SENSENET_MAX_IMAGE_FILE_BYTES"):
        read_file(path, IMAGE_FILE)


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("a\0b.json", ModelFormatError, "NUL"),
        ("x" * 300 + ".json", ModelFormatError, "too long"),
        ("dir/" * 2000 + "m.json", ModelFormatError, "too long"),
        ("\ud800.json", ModelFormatError, "cannot be encoded"),
    ],
)
def test_unusable_paths_are_our_errors(name, error, message, tmp_path):
    with pytest.raises(error, match=message):
        create_model(str(tmp_path / name) if "\0" not in name else name)


def test_symlink_loops_and_permissions_are_our_errors(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ModelFormatError, match="symbolic links"):
        create_model(str(tmp_path / "a"))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        read_file(tmp_path / "absent", MODEL_FILE)


# --- decompression bombs -------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


def test_images_over_the_pixel_budget_are_refused_before_decoding():
    data = png(10_000, 5_001)  # 50,005,000 pixels, 8 KB of PNG
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match="10000 x 5001.*SENSENET_MAX_IMAGE_PIXELS"):
            load_image(data)
        assert tracemalloc.get_traced_memory()[1] < 20_000_000
    finally:
        tracemalloc.stop()


def test_the_pixel_budget_can_be_raised(monkeypatch):
    monkeypatch.setenv("SENSENET_MAX_IMAGE_PIXELS", "10")
    with pytest.raises(ImageError, match="pixel count"):
        load_image(png(4, 3))
    monkeypatch.setenv("SENSENET_MAX_IMAGE_PIXELS", "12")
    assert load_image(png(4, 3)).shape == (3, 4, 3)


@pytest.mark.parametrize("rescale_type", ["warp", "pad", "crop"])
@pytest.mark.parametrize("shape", [(1, 10_000_000, 3), (10_000_000, 1, 3)])
def test_resizing_a_long_thin_image_needs_no_big_intermediate(shape, rescale_type):
    image = np.zeros(shape, np.uint8)
    tracemalloc.start()
    try:
        assert rescale(image, 224, 224, rescale_type).shape == (224, 224, 3)
        assert tracemalloc.get_traced_memory()[1] < 5_000_000
    finally:
        tracemalloc.stop()


# --- rows -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows, message",
    [
        ([[1.0], np.array(2.0)], "row 1: expected a list of values"),
        ([[Hostile()]], r"row 0, column 0: "),
        ([[nested(5000)]], r"row 0, column 0: "),
    ],
)
def test_hostile_numeric_rows_name_row_and_column(rows, message):
    with pytest.raises(InputDataError, match=message):
        create_model(small_network())(rows)


def test_hostile_categorical_values_name_row_and_column():
    network = small_network(preprocess=[{"type": "categorical", "index": 0, "values": ["a", "b"]}])
    network["layers"] = [dense([[1.0], [1.0]])]
    model = create_model(network)
    for value in (Hostile(), nested(5000)):
        with pytest.raises(InputDataError, match=r"row 0, column 0: .*category name"):
            model([[value]])


# --- bundles ----------------------------------------------------------------------------------


def hostile_bundle(path: Path, listing, payload: bytes = b"") -> Path:
    header = orjson.dumps(listing) if not isinstance(listing, bytes) else listing
    blocks = -(-len(header) // 1024)
    path.write_bytes(bundle.GUARD + bytes([blocks]) + header.ljust(blocks * 1024, b" ") + payload)
    return path


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Where bundles are extracted during the test: must be empty again afterwards."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.mark.parametrize(
    "listing, message",
    [
        ([[".", [], [["x" * 300, 1]]]], "name too long|too long"),
        ([["/".join(["d"] * 2000), [], []]], "nest 2000 deep"),
        ([["/".join(["d" * 200] * 30), [], [["f", 1]]]], "too long"),
        (b'[[".", [], [["\\udc80", 1]]]]', "not valid JSON|cannot extract"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'[[".", [], [["\xff", 1]]]]', "not valid JSON"),
    ],
)
def test_hostile_bundles_are_our_errors_and_leave_nothing(listing, message, tmp_path, private_tmp):
    path = hostile_bundle(tmp_path / "x.smbundle", listing, b"z")
    with pytest.raises(ModelFormatError, match=message):
        with bundle.extracted_bundle(path):
            pass
    assert list(private_tmp.iterdir()) == []


def test_a_tree_2000_deep_is_removed_without_recursion(tmp_path):
    root = tmp_path / "deep"
    descriptor = os.open(tmp_path, os.O_RDONLY)
    os.mkdir("deep", dir_fd=descriptor)
    current = os.open("deep", os.O_RDONLY, dir_fd=descriptor)
    os.close(descriptor)
    for _ in range(2000):
        os.mkdir("d", dir_fd=current)
        following = os.open("d", os.O_RDONLY, dir_fd=current)
        os.close(current)
        current = following
    os.close(current)
    bundle.remove_tree(root)
    assert not root.exists()


@pytest.fixture(scope="module")
def written_bundle(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "model.smbundle"
    convert(create_model(small_network()), None, path, "smbundle")
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"deepnet_type": "ObjectDetector"}, "'ObjectDetector'"),
        ({"preprocess": [numeric_field(0), numeric_field(1)]}, r"inputs \[\(None, 2\)\]"),
        ({"output_exposition": {"type": "categorical", "values": ["a", "b", "c"]}}, "with 3 outputs"),
        ({"settings": {"max_objects": 0}}, "settings.*max_objects"),
    ],
)
def test_settings_that_contradict_the_graph_are_refused_at_load(change, message, written_bundle, tmp_path):
    with bundle.extracted_bundle(written_bundle) as model_dir:
        settings = model_dir / bundle.SETTINGS_PATH
        settings.write_text(json.dumps({**json.loads(settings.read_text()), **change}))
        bundle.write_bundle(model_dir, tmp_path / "changed.smbundle")
    with pytest.raises(ModelFormatError, match=message):
        create_model(tmp_path / "changed.smbundle")


# --- downloads ----------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(directory))
    monkeypatch.delenv(pretrained.BASE_URL_VARIABLE, raising=False)
    return directory


@pytest.mark.parametrize("url", ["nonsense", "http://", "ftp://x/", "http://host:99999/", "http://a b/"])
def test_malformed_weights_urls_are_our_error(url, cache, monkeypatch):
    monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, url)
    with pytest.raises(DownloadError, match="BIGML_SENSENET_WEIGHTS_URL"):
        pretrained.get_weights("resnet18")


class Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(20):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:  # the client gave up, as it should
            pass

    def log_message(self, *args):
        pass


def test_a_trickling_server_meets_the_deadline(cache, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("SENSENET_DOWNLOAD_DEADLINE", "2")
    started = time.monotonic()
    try:
        with pytest.raises(DownloadError, match="longer than 2 seconds.*SENSENET_DOWNLOAD_DEADLINE"):
            pretrained.get_weights("resnet18", base_url=f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 6
    assert [p.name for p in cache.iterdir()] == []


TINY = {
    "image_network": {
        "metadata": {"input_image_shape": [8, 8, 3], "base_image_network": "tiny", "version": "1"},
        "layers": [named_conv(4), POOL],
    },
    "layers": [],
}


def weights_file(tmp_path: Path, network: dict, name: str) -> bytes:
    pretrained.write_weights(network, tmp_path / name)
    return (tmp_path / name).read_bytes()


def test_downloads_are_checked_against_the_topology_and_their_digest(cache, tmp_path):
    good = weights_file(tmp_path, with_generated_weights(TINY), "good.h5")
    wrong = json.loads(json.dumps(TINY))
    wrong["image_network"]["layers"][0]["number_of_filters"] = 5
    bad = weights_file(tmp_path, with_generated_weights(wrong), "bad.h5")
    with weights_server() as server:
        server.replies["/weights/tiny_weights_1.h5"] = Reply(bad)
        with pytest.raises(DownloadError, match="do not fit the network"):
            pretrained.get_weights("tiny", "1", server.url, topology=TINY)
        assert not cache.exists() or list(cache.iterdir()) == []

        server.replies["/weights/tiny_weights_1.h5"] = Reply(good)
        path = pretrained.get_weights("tiny", "1", server.url, topology=TINY)
        digest = Path(str(path) + ".sha256").read_text().split()[0]
        assert len(digest) == 64 and len(server.requests) == 2
        pretrained.get_weights("tiny", "1", server.url, topology=TINY)
        assert len(server.requests) == 2  # the digest matched: no download

        data = bytearray(path.read_bytes())
        data[-1] ^= 1  # one flipped bit
        path.write_bytes(bytes(data))
        pretrained.get_weights("tiny", "1", server.url, topology=TINY)
        assert len(server.requests) == 3 and path.read_bytes() == good


def test_stale_part_files_are_removed_by_the_next_download(cache, tmp_path):
    cache.mkdir()
    stale, fresh = cache / ".tiny_weights_1.h5.old.part", cache / ".tiny_weights_1.h5.new.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    with weights_server() as server:
        server.replies["/weights/tiny_weights_1.h5"] = Reply(
            weights_file(tmp_path, with_generated_weights(TINY), "good.h5")
        )
        pretrained.get_weights("tiny", "1", server.url, topology=TINY)
    assert not stale.exists() and fresh.exists()


def test_model_files_read_through_the_rules_still_load(tmp_path):
    path = tmp_path / "model.json.gz"
    path.write_bytes(gzip.compress(json.dumps(small_network()).encode()))
    assert load_spec(str(path)).output.kind == "regression"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock"))
        with pytest.raises(ModelFormatError, match="socket"):
            create_model(str(tmp_path / "sock"))
