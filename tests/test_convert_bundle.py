"""The .smbundle file: its byte layout, round trips, and hostile files that must be refused."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from sensenet.exceptions import ModelFormatError, ModelNotFoundError
from sensenet.export import bundle
from sensenet.models.wrappers import convert, create_model
from tests.conftest import dense, numeric_field

GUARD = b"bigml_tensorflow_saved_model_bundle"


def classifier_network() -> dict:
    return {
        "preprocess": [
            numeric_field(0, 2.0, 3.0),
            {"type": "categorical", "index": 1, "values": ["u", "v", "w"]},
        ],
        "layers": [dense(np.arange(12).reshape(4, 3) / 10.0 - 0.5, [0.1, 0.0, -0.1], "softmax")],
        "output_exposition": {"type": "categorical", "values": ["p", "q", "r"]},
    }


ROWS = [[1.0, "u"], [7.5, "w"], [None, "v"], [0.0, None]]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple:
    model = create_model(classifier_network(), {"regression_normalize": False, "engine": "keras"})
    path = tmp_path_factory.mktemp("bundle") / "model.smbundle"
    convert(model, None, path, "smbundle")
    return model, path


def _read_layout(data: bytes) -> tuple[list, int]:
    """An independent reader of the seed's layout: header listing and where file bytes start."""
    assert data[:35] == GUARD
    blocks = data[35]
    header = data[36 : 36 + blocks * 1024]
    assert header == header.rstrip(b" ").ljust(blocks * 1024, b" ")
    return json.loads(header), 36 + blocks * 1024


def test_layout_is_the_seeds(written):
    _, path = written
    data = path.read_bytes()
    listing, start = _read_layout(data)
    assert listing[0][0] == "."
    assert {"variables", "assets"} <= set(listing[0][1])
    assert "saved_model.pb" in [name for name, _ in listing[0][2]]
    files = [(directory, name, size) for directory, _, entries in listing for name, size in entries]
    assert start + sum(size for _, _, size in files) == len(data)

    offset, contents = start, {}
    for directory, name, size in files:
        contents[f"{directory}/{name}"] = data[offset : offset + size]
        offset += size
    settings = json.loads(contents["assets/settings.json"])
    assert settings["deepnet_type"] == "Deepnet"
    assert settings["settings"] == {"engine": "keras", "regression_normalize": False}
    assert settings["preprocess"] == classifier_network()["preprocess"]


def test_walk_order_lists_subdirectories_after_their_parent(written):
    listing, _ = _read_layout(written[1].read_bytes())
    seen = {"."}
    for directory, subdirs, _ in listing:
        assert directory in seen
        seen.update(subdir if directory == "." else f"{directory}/{subdir}" for subdir in subdirs)
    assert seen == {entry[0] for entry in listing}


def test_round_trip_predicts_identically(written):
    """Bit for bit what the TensorFlow graph it was written from predicts."""
    model, path = written
    reloaded = create_model(str(path))
    assert reloaded._classes == ["p", "q", "r"]
    assert np.array_equal(reloaded(ROWS), model(ROWS))
    assert np.array_equal(reloaded(ROWS[0]), model(ROWS[:1]))
    assert np.abs(reloaded(ROWS) - create_model(classifier_network())(ROWS)).max() <= 1e-6


def test_write_and_read_functions_round_trip_a_directory(tmp_path):
    source = tmp_path / "source"
    (source / "b" / "c").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"alpha")
    (source / "b" / "c" / "empty").write_bytes(b"")
    (source / "b" / "data.bin").write_bytes(bytes(range(256)) * 9)
    bundle.write_bundle(source, tmp_path / "x.smbundle")
    destination = tmp_path / "out"
    destination.mkdir()
    bundle.read_bundle(tmp_path / "x.smbundle", destination)
    for path in source.rglob("*"):
        twin = destination / path.relative_to(source)
        assert twin.is_dir() if path.is_dir() else twin.read_bytes() == path.read_bytes()
    assert len(list(destination.rglob("*"))) == len(list(source.rglob("*")))


def test_links_are_not_bundled(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "link").symlink_to("/etc/hostname")
    with pytest.raises(ModelFormatError, match="links are not allowed"):
        bundle.write_bundle(source, tmp_path / "x.smbundle")


def _hostile(listing, payload: bytes = b"", guard: bytes = GUARD) -> bytes:
    header = json.dumps(listing).encode()
    count = -(-len(header) // 1024)
    return guard + bytes([count]) + header.ljust(count * 1024, b" ") + payload


HOSTILE = {
    "file name climbing out": (_hostile([[".", [], [["../escaped", 4]]]], b"evil"), "plain name"),
    "directory climbing out": (_hostile([["../..", [], [["escaped", 4]]]], b"evil"), "'..' component"),
    "inner '..' component": (_hostile([["a/../../b", [], [["escaped", 4]]]], b"evil"), "'..' component"),
    "absolute directory": (
        _hostile([["/tmp/sensenet-escape", [], [["escaped", 4]]]], b"evil"),
        "absolute path",
    ),
    "separator in a name": (_hostile([[".", [], [["a/escaped", 4]]]], b"evil"), "plain name"),
    "bad guard": (_hostile([[".", [], [["f", 4]]]], b"evil", guard=b"x" * 35), "not a Sense/Net bundle"),
    "truncated content": (_hostile([[".", [], [["f", 400]]]], b"evil"), "truncated or corrupt"),
    "huge header": (GUARD + bytes([255]) + b'[[".", [], [["f", 4]]]]'.ljust(1024) + b"evil", "past the end"),
    "zero-block header": (GUARD + bytes([0]) + b"[]", "0 blocks"),
    "header not JSON": (GUARD + bytes([1]) + b"{[".ljust(1024, b" "), "not valid JSON"),
    "negative size": (_hostile([[".", [], [["f", -4], ["g", 8]]]], b"evil"), "size >= 0"),
    "file listed twice": (_hostile([[".", [], [["f", 2], ["f", 2]]]], b"evil"), "twice"),
    "file then directory": (_hostile([[".", ["f"], [["f", 4]]], ["f", [], [["g", 0]]]], b"evil"), "both"),
    "bad entry shape": (_hostile([["."]]), "expected \\[relative_dir"),
    "cut inside the guard": (GUARD[:20], "not a Sense/Net bundle"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bundles_are_refused_without_escaping(name, tmp_path, monkeypatch):
    data, message = HOSTILE[name]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    outside = tmp_path / "area"
    (outside / "a" / "b").mkdir(parents=True)
    path = outside / "a" / "b" / "hostile.smbundle"
    path.write_bytes(data)
    before = sorted(str(p) for p in tmp_path.rglob("*"))

    with pytest.raises(ModelFormatError, match=message):
        create_model(path)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # the temporary directory is gone too
    assert not Path("/tmp/sensenet-escape").exists()


def test_settings_json_must_name_a_known_deepnet_type(tmp_path):
    source = tmp_path / "source"
    (source / "assets").mkdir(parents=True)
    (source / "assets" / "settings.json").write_text(json.dumps({"deepnet_type": "Shell"}))
    bundle.write_bundle(source, tmp_path / "x.smbundle")
    with pytest.raises(ModelFormatError, match="deepnet_type"):
        create_model(tmp_path / "x.smbundle")


def test_a_bundle_without_a_saved_model_is_refused(tmp_path):
    source = tmp_path / "source"
    (source / "assets").mkdir(parents=True)
    (source / "assets" / "settings.json").write_text(json.dumps({"deepnet_type": "Deepnet"}))
    bundle.write_bundle(source, tmp_path / "x.smbundle")
    with pytest.raises(ModelFormatError, match="no loadable SavedModel"):
        create_model(tmp_path / "x.smbundle")


def test_extraction_directory_is_private_and_removed(written):
    with bundle.extracted_bundle(written[1]) as model_dir:
        assert (model_dir / "saved_model.pb").is_file()
        assert os.stat(model_dir.parent).st_mode & 0o077 == 0
    assert not model_dir.parent.exists()


def test_a_missing_bundle_is_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="bundle file not found"):
        create_model(tmp_path / "absent.smbundle")
    (tmp_path / "dir.smbundle").mkdir()
    with pytest.raises(ModelNotFoundError, match="is a directory"):
        create_model(str(tmp_path / "dir.smbundle"))
