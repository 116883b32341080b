"""Pretrained extractors built once and reused, never stale (`sensenet.models.built_cache`).

BigML's bindings call ``create_image_feature_extractor(name, None)(image)`` for every image: the
network and engine must be reused while the weights file and the engine settings stay the same,
and rebuilt when either changes. Weights are generated (tests/pretrained_helpers.py) into a
temporary cache directory; nothing is downloaded.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson
import pytest

from sensenet import pretrained
from sensenet.models import extractor
from sensenet.models.built_cache import BuiltCache, file_signature
from sensenet.models.wrappers import create_image_feature_extractor
from tests.conftest import fixture_path
from tests.pretrained_helpers import with_generated_weights

NAME = "mobilenetv2"
TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def empty_cache():
    extractor._BUILT.clear()
    yield
    extractor._BUILT.clear()


@pytest.fixture(scope="module")
def networks() -> dict[int, dict]:
    topology = pretrained.get_network(NAME)
    return {seed: with_generated_weights(topology, seed=seed) for seed in (1, 2)}


@pytest.fixture
def weights_cache(tmp_path, monkeypatch, networks):
    """A weights cache directory holding generated weights (seed 1) for NAME."""
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "cache"))
    pretrained.write_weights(networks[1], pretrained.weights_path(NAME))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    from sensenet.inputs import load_image

    return load_image(fixture_path("images/dog.jpg"))


def _engine(built) -> object:
    return built._engine.get()


def test_the_bindings_pattern_reuses_one_engine(weights_cache, networks, image):
    first = create_image_feature_extractor(NAME, None)
    features = first(image)
    second = create_image_feature_extractor(NAME, None)
    assert second is not first and _engine(second) is _engine(first)
    assert np.array_equal(second(image), features)
    inline = create_image_feature_extractor(networks[1], None)(image)  # built from the dict, uncached
    assert np.abs(features - inline).max() <= TOLERANCE


def test_a_rewritten_weights_file_gives_a_new_engine(weights_cache, networks, image):
    before = create_image_feature_extractor(NAME, None)
    old_features = before(image)
    pretrained.write_weights(networks[2], pretrained.weights_path(NAME), overwrite=True)
    after = create_image_feature_extractor(NAME, None)
    assert _engine(after) is not _engine(before)
    new_features = after(image)
    inline = create_image_feature_extractor(networks[2], None)(image)
    assert np.abs(new_features - inline).max() <= TOLERANCE
    assert np.abs(new_features - old_features).max() > 1e-3


def test_another_cache_directory_gives_its_own_weights(weights_cache, networks, image, tmp_path, monkeypatch):
    first = create_image_feature_extractor(NAME, None)
    (tmp_path / "other").mkdir()
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "other"))
    pretrained.write_weights(networks[2], pretrained.weights_path(NAME))
    other = create_image_feature_extractor(NAME, None)
    assert _engine(other) is not _engine(first)
    inline = create_image_feature_extractor(networks[2], None)(image)
    assert np.abs(other(image) - inline).max() <= TOLERANCE


def test_engine_settings_and_weights_choice_are_part_of_the_key(weights_cache, image):
    default = create_image_feature_extractor(NAME, None)
    one_thread = create_image_feature_extractor(NAME, {"threads": 1})
    initializers = create_image_feature_extractor(NAME, {"load_pretrained_weights": False})
    engines = {id(_engine(default)), id(_engine(one_thread)), id(_engine(initializers))}
    assert len(engines) == 3
    assert np.abs(one_thread(image) - default(image)).max() <= TOLERANCE
    assert np.abs(initializers(image) - default(image)).max() > 1e-3
    assert _engine(create_image_feature_extractor(NAME, {"threads": 1})) is _engine(one_thread)


def test_image_settings_are_each_calls_own(weights_cache, image):
    warped = create_image_feature_extractor(NAME, {"rescale_type": "warp"})
    padded = create_image_feature_extractor(NAME, {"rescale_type": "pad"})
    assert _engine(padded) is _engine(warped)  # the same network: only the images differ
    extractor._BUILT.clear()
    fresh_padded = create_image_feature_extractor(NAME, {"rescale_type": "pad"})
    assert np.array_equal(padded(image), fresh_padded(image))
    assert not np.array_equal(padded.encode(image), warped.encode(image))


def test_threads_share_one_build(weights_cache, image):
    def extract(_):
        built = create_image_feature_extractor(NAME, None)
        return _engine(built), built(image)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(extract, range(16)))
    assert len({id(engine) for engine, _ in results}) == 1
    for _, features in results[1:]:
        assert np.array_equal(features, results[0][1])


def test_a_missing_weights_file_is_our_error_and_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_PATH_VARIABLE, str(tmp_path / "empty"))
    monkeypatch.setenv(pretrained.BASE_URL_VARIABLE, (tmp_path / "nowhere").as_uri() + "/")
    with pytest.raises(Exception) as raised:
        create_image_feature_extractor(NAME, None)
    assert type(raised.value).__module__ == "sensenet.exceptions"
    assert len(extractor._BUILT) == 0


def test_a_model_file_is_reused_until_it_changes(networks, image, tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(orjson.dumps(networks[1], option=orjson.OPT_SERIALIZE_NUMPY))
    first = create_image_feature_extractor(path, None)
    again = create_image_feature_extractor(str(path), None)  # a str or a path object: one file
    assert _engine(again) is _engine(first)
    assert np.abs(first(image) - create_image_feature_extractor(networks[1], None)(image)).max() <= TOLERANCE
    replacement = tmp_path / "replacement.json"
    replacement.write_bytes(orjson.dumps(networks[2], option=orjson.OPT_SERIALIZE_NUMPY))
    os.replace(replacement, path)
    changed = create_image_feature_extractor(path, None)
    assert _engine(changed) is not _engine(first)
    assert (
        np.abs(changed(image) - create_image_feature_extractor(networks[2], None)(image)).max() <= TOLERANCE
    )


def test_a_model_dict_is_never_reused(networks):
    """A dict can change in place between two calls, and hashing it costs what building does."""
    first = create_image_feature_extractor(networks[1], None)
    assert _engine(create_image_feature_extractor(networks[1], None)) is not _engine(first)


# BuiltCache on its own, with real files.


def _files(tmp_path, count: int) -> list:
    paths = [tmp_path / f"file{i}" for i in range(count)]
    for path in paths:
        path.write_text("weights")
    return paths


def test_the_least_recently_used_value_goes_first(tmp_path):
    cache: BuiltCache[str] = BuiltCache(2)
    a, b, c = _files(tmp_path, 3)
    builds: list[str] = []

    def build(name):
        builds.append(name)
        return name

    cache.get("a", [a], lambda: build("a"))
    cache.get("b", [b], lambda: build("b"))
    cache.get("a", [a], lambda: build("a"))  # a is now the most recent
    cache.get("c", [c], lambda: build("c"))  # b goes
    assert len(cache) == 2
    cache.get("a", [a], lambda: build("a"))
    cache.get("b", [b], lambda: build("b"))
    assert builds == ["a", "b", "c", "b"]


def test_a_changed_or_missing_file_is_never_answered_from_the_cache(tmp_path):
    cache: BuiltCache[int] = BuiltCache(4)
    (path,) = _files(tmp_path, 1)
    counter = iter(range(100))
    first = cache.get("k", [path], lambda: next(counter))
    assert cache.get("k", [path], lambda: next(counter)) == first
    replacement = tmp_path / "replacement"
    replacement.write_text("weights")  # same size and content, another file
    os.replace(replacement, path)
    assert cache.get("k", [path], lambda: next(counter)) != first
    path.unlink()
    assert file_signature(path) is None
    missing = cache.get("k", [path], lambda: next(counter))
    assert cache.get("k", [path], lambda: next(counter)) != missing
    assert len(cache) == 0


def test_a_failed_build_is_not_kept_and_threads_share_a_build(tmp_path):
    cache: BuiltCache[int] = BuiltCache(4)
    (path,) = _files(tmp_path, 1)

    def fail():
        raise ValueError("broken weights")

    with pytest.raises(ValueError):
        cache.get("k", [path], fail)
    assert len(cache) == 0
    builds = []
    gate = threading.Event()

    def slow_build():
        builds.append(1)
        gate.wait(10)
        return 7

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(cache.get, "k", [path], slow_build) for _ in range(6)]
        gate.set()
        assert [future.result(timeout=30) for future in futures] == [7] * 6
    assert builds == [1]
