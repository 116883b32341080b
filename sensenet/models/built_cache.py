"""Values built once from files and reused while those files stay as they were.

BigML's bindings call ``create_image_feature_extractor(name, None)(path)`` for every image, so
building a pretrained network's engine anew each time (its weights read, the graph parsed, an
onnxruntime session made and warmed up) would cost about ten extractions per image. A
`BuiltCache` keeps the last few values by key; a value counts only while every file it was
built from has the signature (inode, size, modification and change times) it had before the
build started, so a rewritten or replaced weights file is never answered with an old engine.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from sensenet.lazy import Lazy

T = TypeVar("T")
FileSignature = tuple[int, int, int, int] | None


def file_signature(path: str | os.PathLike) -> FileSignature:
    """What changes when a file is rewritten or replaced; None if there is no file."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class BuiltCache(Generic[T]):
    """At most `size` values, the least recently used dropped first; thread-safe.

    Threads asking for the same key at once share one build. A build that raises is not kept.
    """

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[tuple[FileSignature, ...], Lazy[T]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, files: Sequence[str | os.PathLike], build: Callable[[], T]) -> T:
        """The value for `key` built from `files` (their signatures taken before `build` runs)."""
        signatures = tuple(file_signature(path) for path in files)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != signatures:
                entry = (signatures, Lazy(build))
                self._entries.pop(key, None)
                if None not in signatures:  # a missing file is no identity to keep a value under
                    self._entries[key] = entry
                    while len(self._entries) > self.size:
                        self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        try:
            return entry[1].get()
        except BaseException:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            raise

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
