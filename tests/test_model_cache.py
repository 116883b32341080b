"""The compiled-model cache (issue 29): keyed so it never answers for another model, safe on disk,
bounded, on by default where start-up repeats, and outputs identical to the bit with or without it."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

import pytest

import sensenet.files.disk_cache as disk_cache
import sensenet.models.compiled as compiled
from sensenet import ModelFormatError
from sensenet.examples import example_path
from sensenet.files.disk_cache import ENTRY_SUFFIX, CacheWarning, DiskCache
from sensenet.models.wrappers import create_model
from sensenet.settings import Settings
from tests.conftest import FIXTURES, REPO_ROOT, fixture_path, load_cases

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
CACHED = {"cache": True}
EYES = "detection/cats_eye_tinyyolov4.zip"
PHOTO = "detection/pexels-pixabay-33358.jpg"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh cache directory of this test's own, and the once-per-process warning re-armed."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SENSENET_CACHE_DIR", str(directory))
    monkeypatch.delenv("SENSENET_CACHE", raising=False)
    monkeypatch.setattr(disk_cache, "_warned", False)
    return directory


def _entries(directory: Path) -> list[Path]:
    """The model entries (not the remembered file digests, in a subdirectory)."""
    return sorted(directory.glob(f"*{ENTRY_SUFFIX}"))


def _iris_variant(path: Path, digit: str) -> Path:
    """The iris example with the leading digit of its last layer's first bias set to `digit`: a
    different model (other outputs) of the same size."""
    text = example_path("iris").read_text()
    start = text.rindex('"offset"')
    at = next(i for i in range(start, len(text)) if text[i].isdigit())
    path.write_text(text[:at] + digit + text[at + 1 :])
    return path


def _never_parsed(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the model's JSON was parsed on a cache hit")

    monkeypatch.setattr("sensenet.spec.source.orjson.loads", refuse)


# --- a hit starts from the entry, and predicts exactly as the model built from its file --------------


def test_a_hit_never_parses_the_json_and_predicts_the_same(cache_dir, monkeypatch):
    path = str(example_path("iris"))
    built = create_model(path, {"cache": False})(IRIS_ROW)
    assert create_model(path, CACHED)(IRIS_ROW).tobytes() == built.tobytes()  # the miss fills it
    assert len(_entries(cache_dir)) == 1
    with monkeypatch.context() as patched:
        _never_parsed(patched)
        hit = create_model(path, CACHED)
        assert hit(IRIS_ROW).tobytes() == built.tobytes()
        assert hit.row_names and hit.classes == ["setosa", "versicolor", "virginica"]
    assert hit.spec.networks  # the whole spec, read again from the file when asked


def _fixture_models(tmp_path: Path) -> list[tuple[str, Path, list]]:
    """Every BigML fixture model with rows, as the JSON file a user holds."""
    models = []
    for name in ("regression.json.gz", "legacy_regression.json.gz", "image_regression.json.gz"):
        for position, case in enumerate(load_cases(name)):
            path = tmp_path / f"{name.split('.')[0]}-{position}.json"
            path.write_text(json.dumps(case["model"]))
            rows = [[_located(value) for value in row["input"]] for row in case["validation"][:4]]
            models.append((f"{name}[{position}]", path, rows))
    return models


def _located(value):
    """An image path of the fixtures' rows (written from BigML's repository) where FIXTURES has it."""
    return value.replace("tests/data/", f"{FIXTURES}/") if isinstance(value, str) else value


@pytest.mark.parametrize("engine", ["onnx", "keras"])
def test_every_fixture_model_predicts_to_the_bit_with_and_without_the_cache(cache_dir, tmp_path, engine):
    if engine == "keras":
        pytest.importorskip("tensorflow")
    for name, path, rows in _fixture_models(tmp_path):
        settings = {"engine": engine}
        without = create_model(str(path), {**settings, "cache": False})(rows)
        miss = create_model(str(path), {**settings, "cache": True})(rows)
        hit = create_model(str(path), {**settings, "cache": True})
        assert miss.tobytes() == without.tobytes(), name
        assert hit(rows).tobytes() == without.tobytes(), name
        assert hit._model is not None  # the Keras model of a hit: built from the spec read again


def test_the_eye_detector_detects_to_the_bit_from_the_cache(cache_dir):
    path, photo = str(fixture_path(EYES)), str(fixture_path(PHOTO))
    without = create_model(path, {"cache": False, "output_unfiltered_boxes": True})(photo)
    for _ in ("miss", "hit"):
        cached = create_model(path, {"cache": True, "output_unfiltered_boxes": True})(photo)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(cached, without))
    assert create_model(path, CACHED)(photo) == create_model(path, {"cache": False})(photo)


# --- keyed so that it never answers for another model ------------------------------------------------


def test_a_rewrite_in_place_with_size_and_mtime_put_back_is_another_model(cache_dir, tmp_path):
    path = _iris_variant(tmp_path / "m.json", "1")
    time.sleep(compiled.RACY_SECONDS + 0.2)  # old enough for its digest to be remembered
    first = create_model(str(path), CACHED)(IRIS_ROW)
    assert create_model(str(path), CACHED)(IRIS_ROW).tobytes() == first.tobytes()
    before = path.stat()
    _iris_variant(path, "9")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    expected = create_model(str(path), {"cache": False})(IRIS_ROW)
    assert expected.tobytes() != first.tobytes()
    assert create_model(str(path), CACHED)(IRIS_ROW).tobytes() == expected.tobytes()


def test_a_file_renamed_over_the_model_is_another_model(cache_dir, tmp_path):
    path = _iris_variant(tmp_path / "m.json", "1")
    time.sleep(compiled.RACY_SECONDS + 0.2)
    first = create_model(str(path), CACHED)(IRIS_ROW)
    create_model(str(path), CACHED)
    other = _iris_variant(tmp_path / "other.json", "9")
    os.utime(other, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(other, path)
    expected = create_model(str(path), {"cache": False})(IRIS_ROW)
    assert expected.tobytes() != first.tobytes()
    assert create_model(str(path), CACHED)(IRIS_ROW).tobytes() == expected.tobytes()


def test_the_key_holds_the_version_and_every_setting_that_shapes_the_graph(monkeypatch):
    base = Settings()
    key = compiled._entry_key("d" * 64, base)
    assert compiled._entry_key("e" * 64, base) != key
    samples = {
        "bounding_box_threshold": 0.3,
        "clip_boxes": True,
        "color_space": "bgr",
        "engine": "keras",
        "extract_image_features": True,
        "image_path_prefix": "/images",
        "input_image_format": "pixel_values",
        "iou_threshold": 0.3,
        "load_pretrained_weights": True,
        "max_objects": 3,
        "output_unfiltered_boxes": True,
        "pad_bounding_box_output": True,
        "regression_normalize": True,
        "rescale_type": "pad",
        "cache": False,
        "threads": 3,
    }
    assert set(samples) == {field.name for field in fields(Settings)}, (
        "a new setting: say if it shapes graphs"
    )
    for name, value in samples.items():
        changed = compiled._entry_key("d" * 64, Settings({name: value})) != key
        assert changed == (name not in compiled.NOT_IN_KEY), name
    monkeypatch.setattr(compiled, "__version__", "0.0.0-other")
    assert compiled._entry_key("d" * 64, base) != key


def test_the_settings_left_out_of_the_key_shape_no_graph():
    from sensenet.engines.onnx.deepnet import deepnet_graph

    spec = create_model(str(example_path("iris"))).spec
    graphs = {
        deepnet_graph(spec, Settings(threads=t, cache=c)).SerializeToString()
        for t in (1, 3)
        for c in (True, False)
    }
    assert len(graphs) == 1


def test_a_setting_that_shapes_the_graph_gets_its_own_entry(cache_dir, tmp_path):
    case = load_cases("image_regression.json.gz")[0]
    path = tmp_path / "image.json"
    path.write_text(json.dumps(case["model"]))
    bus = str(fixture_path("images/bus.jpg"))  # not square: each rescale type fits it otherwise
    row = [bus if _located(value) != value else value for value in case["validation"][0]["input"]]
    for rescale in ("warp", "pad", "crop"):
        expected = create_model(str(path), {"rescale_type": rescale, "cache": False})([row])
        for _ in ("miss", "hit"):
            got = create_model(str(path), {"rescale_type": rescale, "cache": True})([row])
            assert got.tobytes() == expected.tobytes(), rescale
    assert len(_entries(cache_dir)) == 3


def test_the_whole_spec_is_refused_when_the_file_changed_after_a_hit(cache_dir, tmp_path):
    path = _iris_variant(tmp_path / "m.json", "1")
    create_model(str(path), CACHED)(IRIS_ROW)  # the first prediction fills the entry
    hit = create_model(str(path), CACHED)
    _iris_variant(path, "9")
    with pytest.raises(ModelFormatError, match="changed since this model was loaded"):
        hit.spec  # noqa: B018


# --- safe on disk ------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "empty", "garbage"])
def test_a_corrupt_or_truncated_entry_is_rebuilt_never_used(cache_dir, damage):
    path = str(example_path("iris"))
    expected = create_model(path, {"cache": False})(IRIS_ROW)
    create_model(path, CACHED)(IRIS_ROW)
    (entry,) = _entries(cache_dir)
    data = bytearray(entry.read_bytes())
    damaged = {
        "flip a byte": lambda: data[:-40] + bytes([data[-40] ^ 0x10]) + data[-39:],
        "truncate": lambda: data[: len(data) // 2],
        "empty": lambda: b"",
        "garbage": lambda: b"SNC1\xff\xff\xff\xff" + bytes(100),
    }[damage]()
    entry.write_bytes(bytes(damaged))
    assert create_model(path, CACHED)(IRIS_ROW).tobytes() == expected.tobytes()
    assert entry.read_bytes() == bytes(data)  # rebuilt whole
    assert create_model(path, CACHED)(IRIS_ROW).tobytes() == expected.tobytes()


def _cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "sensenet", *args],
        env=environment,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def test_two_processes_filling_one_entry_at_once_both_succeed(cache_dir):
    eyes, photo = str(fixture_path(EYES)), str(fixture_path(PHOTO))
    expected = _finished(_cli("detect", "-q", "--no-cache", eyes, photo))
    assert expected[0] == 0, expected[2]
    results = [_finished(p) for p in [_cli("detect", "-q", eyes, photo) for _ in range(2)]]
    assert results == [expected, expected]
    assert len(_entries(cache_dir)) == 1 and not list(cache_dir.glob(".tmp-*"))
    assert _finished(_cli("detect", "-q", eyes, photo)) == expected  # and the entry they left is whole


def test_a_directory_others_may_write_in_is_not_used_with_one_warning(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chmod(cache_dir, 0o777)
    path = str(example_path("iris"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert create_model(path, CACHED)(IRIS_ROW).shape == (1, 3)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(messages) == 1 and "group or other users may write in it (mode 777)" in messages[0]
    assert list(cache_dir.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_a_directory_of_another_owner_is_not_used(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chown(cache_dir, 4242, 4242)
    with pytest.warns(CacheWarning, match="belongs to another user"):
        assert create_model(str(example_path("iris")), CACHED)(IRIS_ROW).shape == (1, 3)
    assert list(cache_dir.iterdir()) == []


def test_a_cache_that_cannot_be_created_warns_once_on_the_command_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _finished(
        _cli(
            "predict",
            "--example",
            "iris",
            "5.1,3.5,1.4,0.2",
            env={"SENSENET_CACHE_DIR": str(blocker / "cache")},
        )
    )
    assert result[0] == 0 and result[1].startswith("prediction,")
    assert result[2].count("\n") == 1 and result[2].startswith(
        "sensenet predict: warning: not using the model cache"
    )


def test_a_full_disk_never_fails_a_prediction(cache_dir):
    """Writes past one megabyte fail in the child (RLIMIT_FSIZE, as a full disk fails them)."""
    eyes, photo = str(fixture_path(EYES)), str(fixture_path(PHOTO))
    expected = _finished(_cli("detect", "-q", "--no-cache", eyes, photo))

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    assert _finished(_cli("detect", "-q", eyes, photo, preexec_fn=small_files)) == expected
    assert _entries(cache_dir) == [] and not list(cache_dir.glob(".tmp-*"))


def test_the_size_limit_evicts_the_least_recently_used(cache_dir, tmp_path, monkeypatch):
    paths = [_iris_variant(tmp_path / f"m{digit}.json", digit) for digit in "123"]
    create_model(str(paths[0]), CACHED)(IRIS_ROW)
    entry_size = _entries(cache_dir)[0].stat().st_size
    monkeypatch.setenv("SENSENET_CACHE_MAX_BYTES", str(int(entry_size * 2.5)))
    create_model(str(paths[1]), CACHED)(IRIS_ROW)
    first, second = sorted(_entries(cache_dir), key=lambda p: p.stat().st_mtime)
    os.utime(first, (time.time() - 100, time.time() - 100))
    os.utime(second, (time.time() - 200, time.time() - 200))
    create_model(str(paths[0]), CACHED)  # a hit: now the most recently used
    create_model(str(paths[2]), CACHED)(IRIS_ROW)  # over the limit: the least recently used goes
    remaining = _entries(cache_dir)
    assert first in remaining and second not in remaining and len(remaining) == 2


# --- where it is on, and how to turn it off ---------------------------------------------------------


def test_the_command_line_caches_by_default_and_opts_out_by_flag_or_variable(cache_dir):
    row = "5.1,3.5,1.4,0.2"
    for opt_out in ({"args": ["--no-cache"]}, {"env": {"SENSENET_CACHE": "0"}}):
        result = _finished(
            _cli("predict", "--example", "iris", row, *opt_out.get("args", []), env=opt_out.get("env"))
        )
        assert result[0] == 0 and (not cache_dir.exists() or _entries(cache_dir) == [])
    assert _finished(_cli("predict", "--example", "iris", row))[0] == 0
    assert len(_entries(cache_dir)) == 1


def test_the_api_caches_only_when_asked(cache_dir, monkeypatch):
    path = str(example_path("iris"))
    create_model(path)(IRIS_ROW)
    assert not cache_dir.exists() or _entries(cache_dir) == []
    monkeypatch.setenv("SENSENET_CACHE", "1")
    create_model(path)(IRIS_ROW)
    assert len(_entries(cache_dir)) == 1
    monkeypatch.setenv("SENSENET_CACHE", "0")
    DiskCache().clear()
    create_model(path, CACHED)(IRIS_ROW)  # the variable's "off" wins over the setting
    assert _entries(cache_dir) == []


def test_cache_info_and_clear(cache_dir):
    assert _finished(_cli("predict", "--example", "iris", "5.1,3.5,1.4,0.2"))[0] == 0
    status, out, _ = _finished(_cli("cache", "info"))
    assert status == 0 and f"directory: {cache_dir}\n" in out and "compiled models: 1 (" in out
    status, out, _ = _finished(_cli("cache", "clear"))
    assert status == 0 and re.fullmatch(rf"{cache_dir}: removed 1 compiled model \(\d+\.\d KiB\)\n", out)
    assert _entries(cache_dir) == [] and list(cache_dir.rglob("*.entry")) == []


def test_mlflow_loading_and_serve_use_the_cache(cache_dir, tmp_path):
    pytest.importorskip("mlflow")
    import sensenet.mlflow
    from sensenet.serve.catalog import read_model

    sensenet.mlflow.save_model(str(example_path("iris")), tmp_path / "m")
    assert _entries(cache_dir) == []
    expected = sensenet.mlflow.load_model(tmp_path / "m")(IRIS_ROW)
    assert len(_entries(cache_dir)) == 1
    assert sensenet.mlflow.load_model(tmp_path / "m")(IRIS_ROW).tobytes() == expected.tobytes()
    read_model(example_path("iris"), {})(IRIS_ROW)
    assert len(_entries(cache_dir)) == 2


def test_the_test_session_never_writes_the_users_cache():
    directory = Path(os.environ["SENSENET_CACHE_DIR"])
    assert not directory.is_relative_to(Path.home() / ".cache")
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sensenet.files.disk_cache import cache_directory; print(cache_directory())",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.stdout.strip() == str(directory)


def test_how_a_model_was_loaded_is_not_written_into_its_bundle(cache_dir):
    from sensenet.export.smbundle import bundle_settings

    model = create_model(str(example_path("iris")), {"cache": True, "threads": 2})
    assert bundle_settings(model)["settings"] == {"threads": 2}
