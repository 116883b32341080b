"""The compiled-model cache: a model file built once, then started from what it compiled into.

Building a large deepnet costs far more than running it once: parsing its JSON (55 MB for
BigML's TinyYOLOv4), validating the description, writing the ONNX graph. An entry
(`sensenet.files.disk_cache`) keeps the result: the description without weights (the wrapper's
`outline`: fields, classes, image settings) and the graph. A hit builds the wrapper from
those two and never parses the JSON; the whole spec is read again from the file only when asked
(the Keras engine, an export), and only if the file still holds the same bytes.

The graph kept is onnxruntime's own optimised form of it, saved by the first session (loading
it again skips the optimisation, the larger part of a session's start): it fits this
onnxruntime release and this processor. An entry is keyed by the SHA-256 of the model file's
bytes, the Sense/Net version, the entry format, onnxruntime's version and the processor
(`runtime_identity`), and every setting but ``threads`` and ``cache`` (which shape no graph): it
cannot answer for another model, release, machine or setting. It is written when the model's
engine is first built (the first prediction). The file's digest is remembered under its path with its
identity (device, inode, size, modification and change times) and reused while that identity
holds, unless the file changed less than `RACY_SECONDS` before it was hashed (timestamps are
coarse; as git does, such a file is hashed again).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sensenet._version import __version__
from sensenet.engines import engine_name
from sensenet.exceptions import ModelFormatError
from sensenet.files.disk_cache import DiskCache, switched, switched_off
from sensenet.files.reading import MODEL_FILE, read_file
from sensenet.models.deepnet import Deepnet
from sensenet.models.detector import ObjectDetector
from sensenet.models.model_wrapper import ModelWrapper
from sensenet.settings import Settings
from sensenet.spec import ModelSpec, find_network, parse_network
from sensenet.spec.source import read_model_bytes

ENTRY_FORMAT = 1
RACY_SECONDS = 2.0
DESCRIPTION, GRAPH = "description", "graph"  # an entry's parts
DIGESTS = "digests"  # the cache's part remembering model files' digests by path and identity
NOT_IN_KEY = ("cache", "threads")  # settings that shape neither the description nor the graph
WRAPPERS: dict[str, type[Deepnet] | type[ObjectDetector]] = {
    "Deepnet": Deepnet,
    "ObjectDetector": ObjectDetector,
}
Builder = Callable[[Any], Any]  # a model's document -> what create_model builds of it


def cache_wanted(settings: Settings, default: bool) -> bool:
    """Whether to use the cache: never when ``SENSENET_CACHE`` is off; else the ``cache`` setting
    when given; else ``SENSENET_CACHE`` when on; else `default` (the entry point's choice)."""
    if switched_off():
        return False
    if settings.cache is not None:
        return settings.cache
    return switched(default)


def cacheable(settings: Settings) -> bool:
    """Settings whose model the cache can hold: the onnx engine, weights inline in the file."""
    return (
        engine_name(settings.engine) == "onnx"
        and not settings.load_pretrained_weights
        and not settings.extract_image_features
    )


def cached_model(path: str | os.PathLike, settings: Settings, build: Builder) -> Any:
    """The model in the file at `path`, from the cache when it holds it; else built by `build` (from
    the file's document) and kept. Whatever the cache's state, the model is the one `build` makes."""
    cache = DiskCache()
    name = os.fspath(path)
    digest, data = _digest(name, cache.part(DIGESTS))
    key = _entry_key(digest, settings)
    parts = cache.get(key)
    if parts is not None:
        model = _from_entry(parts, name, digest, settings)
        if model is not None:
            return model
    if data is None:
        data = read_file(name, MODEL_FILE)
        digest = hashlib.sha256(data).hexdigest()
        key = _entry_key(digest, settings)
    document = read_model_bytes(data, name)
    del data
    model = build(document)
    if isinstance(model, (Deepnet, ObjectDetector)):
        description = _description(model)
        model.compile_with(
            keep_optimized=lambda graph: cache.put(key, {DESCRIPTION: description, GRAPH: graph})
        )
    return model


def _entry_key(digest: str, settings: Settings) -> str:
    from sensenet.engines.onnx.engine import runtime_identity  # onnxruntime: what the model runs on

    shaping = {key: value for key, value in settings.to_dict().items() if key not in NOT_IN_KEY}
    described = {
        "format": ENTRY_FORMAT,
        "version": __version__,
        "runtime": runtime_identity(),
        "model": digest,
        "settings": shaping,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def outline(spec: ModelSpec) -> ModelSpec:
    """`spec` without its weights: no readout layers, an image network without nodes."""
    network = spec.image_network
    return replace(spec, networks=(), image_network=replace(network, nodes=()) if network else None)


def _description(model: Deepnet | ObjectDetector) -> bytes:
    return pickle.dumps(
        (model.deepnet_type, outline(model.spec), model.preprocessors, model._names), protocol=5
    )


def _from_entry(parts: dict[str, bytes], path: str, digest: str, settings: Settings) -> ModelWrapper | None:
    """The wrapper an entry describes; None when the entry is not one this release reads."""
    try:
        kind, spec, preprocessors, names = pickle.loads(parts[DESCRIPTION])
        wrapper = WRAPPERS[kind]
        compiled = {"graph": parts[GRAPH], "optimized": True}
    except Exception:  # an entry that passed its checksums but does not unpickle: rebuilt
        return None
    return wrapper(
        spec, settings, preprocessors, names, compiled=compiled, full_spec=lambda: _full_spec(path, digest)
    )


def _full_spec(path: str, digest: str) -> ModelSpec:
    """The whole spec, read again from the model file, which must still hold the bytes cached."""
    data = read_file(path, MODEL_FILE)
    if hashlib.sha256(data).hexdigest() != digest:
        raise ModelFormatError(
            f"{path}: the model file changed since this model was loaded from it; load it again"
        )
    source = find_network(read_model_bytes(data, path))
    return parse_network(source.network, source.origin)


def _identity(status: os.stat_result) -> list[int]:
    return [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns]


def _digest(path: str, cache: DiskCache) -> tuple[str, bytes | None]:
    """The SHA-256 of the file's bytes, with the bytes when they had to be read (None when the
    digest remembered for the file's identity still holds)."""
    memo_key = hashlib.sha256(os.path.abspath(path).encode(errors="surrogateescape")).hexdigest()
    try:
        identity = _identity(os.stat(path))
    except (OSError, ValueError):
        identity = None
    memo = cache.get(memo_key) if identity is not None else None
    if memo is not None:
        try:
            remembered = json.loads(memo["identity"])
            if remembered == identity:
                return memo["digest"].decode(), None
        except (KeyError, ValueError, UnicodeDecodeError):
            pass
    hashed_at = time.time_ns()
    data = read_file(path, MODEL_FILE)
    digest = hashlib.sha256(data).hexdigest()
    stable = identity is not None and hashed_at - max(identity[3], identity[4]) > RACY_SECONDS * 1e9
    if stable and identity == _identity_now(path):
        cache.put(memo_key, {"identity": json.dumps(identity).encode(), "digest": digest.encode()})
    return digest, data


def _identity_now(path: str) -> list[int] | None:
    try:
        return _identity(os.stat(path))
    except OSError:
        return None
