"""The weights cache: where it lives, and downloads from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import sensenet.pretrained as pretrained
from sensenet.exceptions import DownloadError, ModelFormatError
from tests.conftest import dense, numeric_field, regression_network
from tests.pretrained_helpers import Reply, closed_port_url, weights_server, with_generated_weights

NAME = "mobilenet"
FILENAME = "mobilenet_weights_208b4ec4.h5"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(directory))
    monkeypatch.delenv(pretrained.BASE_URL_VARIABLE, raising=False)
    return directory


@pytest.fixture(scope="module")
def served_network(tmp_path_factory) -> tuple[dict, bytes]:
    """Generated MobileNet weights and the bytes of their weights file (17 MB)."""
    network = with_generated_weights(pretrained.get_network(NAME), seed=5)
    path = tmp_path_factory.mktemp("served") / FILENAME
    pretrained.write_weights(network, path)
    return network, path.read_bytes()


@pytest.fixture
def server():
    with weights_server() as running:
        yield running


def cache_files(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def test_the_cache_is_the_environment_variable_else_home(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "elsewhere"))
    assert pretrained.cache_directory() == tmp_path / "elsewhere"
    assert pretrained.weights_path("resnet50") == tmp_path / "elsewhere" / "resnet50_weights_8705001b.h5"
    assert pretrained.weights_path("yolov4", "abc") == tmp_path / "elsewhere" / "yolov4_weights_abc.h5"
    monkeypatch.delenv(pretrained.CACHE_PATH_VARIABLE)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pretrained.cache_directory() == tmp_path / "home" / ".bigml_sensenet"


def test_the_base_url_is_the_argument_else_the_environment_else_bigml(monkeypatch):
    from sensenet.pretrained.cache import resolve_base_url

    monkeypatch.delenv(pretrained.BASE_URL_VARIABLE, raising=False)
    assert resolve_base_url() == pretrained.DEFAULT_BASE_URL == "https://s3.amazonaws.com/bigml-cnns/"
    monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, "http://mirror.example/weights")
    assert resolve_base_url() == "http://mirror.example/weights/"
    assert resolve_base_url("http://other.example/w/") == "http://other.example/w/"


def test_topologies_need_no_weights_and_touch_no_cache(cache):
    for name in pretrained.NETWORKS:
        pretrained.get_network(name)
    assert not cache.exists()


def test_the_setting_on_a_model_without_an_image_network_is_refused(cache):
    from sensenet.models.wrappers import create_model

    network = regression_network([dense([[1.0]])], [numeric_field(0)])
    with pytest.raises(ModelFormatError, match="need an image network.*load_pretrained_weights"):
        create_model(network, {"load_pretrained_weights": True})
    assert not cache.exists()


def test_weights_are_downloaded_once_then_read_from_the_cache(cache, server, served_network):
    network, body = served_network
    server.replies[f"/weights/{FILENAME}"] = Reply(body)
    path = pretrained.get_weights(NAME, base_url=server.url)
    assert path == cache / FILENAME
    assert path.read_bytes() == body
    assert cache_files(cache) == [FILENAME, FILENAME + ".sha256"]
    assert pretrained.get_weights(NAME, base_url=server.url) == path
    assert server.requests == [f"/weights/{FILENAME}"]


def test_a_model_gets_its_weights_through_the_cache(cache, server, served_network, monkeypatch):
    network, body = served_network
    server.replies[f"/weights/{FILENAME}"] = Reply(body)
    monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, server.url)
    loaded = pretrained.with_pretrained_weights(pretrained.get_network(NAME))
    for section in ("image_network", "layers"):
        shapes = pretrained.weight_shapes(network)[section]
        ours = loaded["image_network"]["layers"] if section == "image_network" else loaded["layers"]
        theirs = network["image_network"]["layers"] if section == "image_network" else network["layers"]
        for position, layer_shapes in enumerate(shapes):
            for key in layer_shapes:
                np.testing.assert_array_equal(ours[position][key], theirs[position][key])
    assert cache_files(cache) == [FILENAME, FILENAME + ".sha256"]


def test_a_cached_file_that_is_not_hdf5_is_downloaded_again(cache, server, served_network):
    _, body = served_network
    cache.mkdir()
    (cache / FILENAME).write_bytes(b"garbage")
    server.replies[f"/weights/{FILENAME}"] = Reply(body)
    assert pretrained.get_weights(NAME, base_url=server.url).read_bytes() == body


def test_a_failed_download_keeps_what_the_cache_held(cache, server):
    cache.mkdir()
    (cache / FILENAME).write_bytes(b"garbage")
    with pytest.raises(DownloadError, match="HTTP 404"):
        pretrained.get_weights(NAME, base_url=server.url)
    assert cache_files(cache) == [FILENAME]
    assert (cache / FILENAME).read_bytes() == b"garbage"


def not_weights_hdf5(tmp_path: Path) -> bytes:
    with h5py.File(tmp_path / "other.h5", "w") as stream:
        stream["data"] = np.arange(100000.0)
    return (tmp_path / "other.h5").read_bytes()


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", r"HTTP 404"),
        ("truncated", r"got \d+ of \d+ bytes"),
        ("html", r"gave no HDF5 weights file"),
        ("other_hdf5", r"gave no HDF5 weights file"),
    ],
)
def test_a_failed_download_raises_and_leaves_no_file(case, message, cache, server, served_network, tmp_path):
    _, body = served_network
    replies = {
        "truncated": Reply(body[: len(body) // 2], announced=len(body)),
        "html": Reply(b"<html><body>Access denied</body></html>"),
        "other_hdf5": Reply(not_weights_hdf5(tmp_path)),
    }
    if case in replies:
        server.replies[f"/weights/{FILENAME}"] = replies[case]
    with pytest.raises(DownloadError, match=message) as caught:
        pretrained.get_weights(NAME, base_url=server.url)
    assert f"{server.url}{FILENAME}" in str(caught.value)
    assert str(cache / FILENAME) in str(caught.value)
    assert cache_files(cache) == []


def test_offline_raises_a_clear_error_and_leaves_no_file(cache):
    url = closed_port_url()
    with pytest.raises(DownloadError, match="could not download .* Check the network connection") as caught:
        pretrained.get_weights(NAME, base_url=url)
    assert f"{url}{FILENAME}" in str(caught.value) and str(cache / FILENAME) in str(caught.value)
    assert isinstance(caught.value, OSError)
    assert cache_files(cache) == []


def test_an_unwritable_cache_names_the_variable(tmp_path, monkeypatch, server):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "a_file" / "cache"))
    with pytest.raises(
        DownloadError, match=f"cannot write to the weights cache.*{pretrained.CACHE_PATH_VARIABLE}"
    ):
        pretrained.get_weights(NAME, base_url=server.url)
    assert server.requests == []
