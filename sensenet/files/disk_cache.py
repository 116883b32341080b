"""A per-user directory of cache entries: written atomically, checked on every read, bounded in size.

An entry is one file holding named parts (``SNC1``, a JSON header of part names, lengths and
CRC-32s, then the parts): written to a temporary file beside it and renamed into place, so a
reader sees a whole entry or none, and two processes filling one entry both succeed (the last
rename wins; both wrote the same bytes). A truncated or corrupt entry fails its checks, is
removed and counts as a miss. Entries are evicted least recently used first (a hit touches its
entry's modification time) when the directory outgrows its limit.

The directory is used only when it is ours: owned by this user, not writable by group or
others (an entry is trusted as code is). Otherwise, or when it cannot be created or written, the
cache is off for the process, said by one warning; a full disk or any other write failure only
means the entry is not kept. Nothing here ever fails the caller's work.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sensenet.limits import Limit

DIRECTORY_VARIABLE = "SENSENET_CACHE_DIR"
SWITCH_VARIABLE = "SENSENET_CACHE"
MAX_CACHE_BYTES = Limit("SENSENET_CACHE_MAX_BYTES", 2 * 1024**3, "bytes of compiled models kept on disk")
ENTRY_SUFFIX = ".entry"
_MAGIC = b"SNC1"
_LENGTH = struct.Struct("<I")
_OFF = ("0", "off", "false", "no")
_ON = ("1", "on", "true", "yes")


class CacheWarning(UserWarning):
    """The model cache is not used in this process (its directory is not ours, or not writable)."""


def switched(default: bool) -> bool:
    """Whether the cache is on: ``SENSENET_CACHE`` (0/off/false/no, 1/on/true/yes) if set, else `default`."""
    value = os.environ.get(SWITCH_VARIABLE, "").strip().lower()
    return False if value in _OFF else True if value in _ON else default


def switched_off() -> bool:
    """``SENSENET_CACHE`` turns the cache off everywhere, whatever a caller asks."""
    return os.environ.get(SWITCH_VARIABLE, "").strip().lower() in _OFF


def cache_directory() -> Path:
    """``SENSENET_CACHE_DIR``, else ``$XDG_CACHE_HOME/sensenet`` (when absolute), else
    ``~/.cache/sensenet``."""
    chosen = os.environ.get(DIRECTORY_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "sensenet"


def untrusted_reason(directory: Path) -> str | None:
    """Why `directory` must not be used (not ours, writable by others, not a directory), or None."""
    try:
        status = os.stat(directory)
    except OSError as error:
        return f"cannot read it ({error.strerror or error})"
    if not stat.S_ISDIR(status.st_mode):
        return "it is not a directory"
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        return f"it belongs to another user (uid {status.st_uid})"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"its group or other users may write in it (mode {stat.S_IMODE(status.st_mode):o})"
    if not os.access(directory, os.W_OK | os.X_OK):
        return "it is not writable"
    return None


@dataclass(frozen=True)
class CacheInfo:
    directory: Path
    entries: int
    total_bytes: int
    limit_bytes: int
    problem: str | None  # why the cache is not used, None when it is usable


class DiskCache:
    """The entries of one cache directory (see the module docstring)."""

    def __init__(self, directory: Path | None = None, parent: DiskCache | None = None):
        self.directory = directory if directory is not None else cache_directory()
        self._parent = parent
        self._usable: bool | None = None

    def usable(self) -> bool:
        """Whether the directory is ours (created, mode 700, when missing), and so is the cache it
        is a part of; warns once when not."""
        if self._parent is not None and not self._parent.usable():
            return False
        if self._usable is None:
            problem = self._prepare()
            self._usable = problem is None
            if problem is not None:
                _warn_once(
                    f"not using the model cache {self.directory}: {problem} (set {SWITCH_VARIABLE}=0 "
                    f"to turn it off, or {DIRECTORY_VARIABLE} to move it)"
                )
        return self._usable

    def _prepare(self) -> str | None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # parents: mode 777 & ~umask
        except OSError as error:
            return f"cannot create it ({error.strerror or error})"
        return untrusted_reason(self.directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{ENTRY_SUFFIX}"

    def get(self, key: str) -> dict[str, bytes] | None:
        """The parts of entry `key`, None when there is none or it fails its checks (then removed)."""
        if not self.usable():
            return None
        path = self._path(key)
        try:
            with open(path, "rb") as stream:
                parts = _read_entry(stream)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            parts = None
        if parts is None:
            _remove(path)
            return None
        try:
            os.utime(path)  # most recently used
        except OSError:
            pass
        return parts

    def put(self, key: str, parts: Mapping[str, bytes]) -> bool:
        """Keep `parts` as entry `key`; False (and nothing left behind) when it cannot be written."""
        if not self.usable():
            return False
        import tempfile  # with its random and shutil: only when an entry is written

        header = json.dumps({name: [len(data), zlib.crc32(data)] for name, data in parts.items()}).encode()
        temporary = None
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(_MAGIC + _LENGTH.pack(len(header)) + header)
                for data in parts.values():
                    stream.write(data)
            os.replace(temporary, self._path(key))
        except OSError:
            if temporary is not None:
                _remove(Path(temporary))
            return False
        self.evict(MAX_CACHE_BYTES.value(), keep=key)
        return True

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every entry, and of temporary files left by a killed writer."""
        found = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        for name in names:
            if not (name.endswith(ENTRY_SUFFIX) or name.startswith(".tmp-")):
                continue
            path = self.directory / name
            try:
                status = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(status.st_mode):
                found.append((status.st_mtime, status.st_size, path))
        return found

    def evict(self, limit: int, keep: str | None = None) -> None:
        """Remove least recently used entries until the entries take at most `limit` bytes."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        kept = self._path(keep) if keep is not None else None
        for _, size, path in entries:
            if total <= limit:
                break
            if path != kept:
                _remove(path)
                total -= size

    def info(self) -> CacheInfo:
        problem = untrusted_reason(self.directory) if self.directory.exists() else None
        entries = [entry for entry in self._entries() if entry[2].name.endswith(ENTRY_SUFFIX)]
        total = sum(size for _, size, _ in entries)
        return CacheInfo(self.directory, len(entries), total, MAX_CACHE_BYTES.value(), problem)

    def clear(self) -> tuple[int, int]:
        """Remove every entry, and those of the caches in its subdirectories (`part`); the count
        and bytes of this cache's entries removed."""
        entries = self._entries()
        for _, _, path in entries:
            _remove(path)
        for name in os.listdir(self.directory) if self.directory.is_dir() else ():
            if (self.directory / name).is_dir() and not (self.directory / name).is_symlink():
                DiskCache(self.directory / name).clear()
        return len(entries), sum(size for _, size, _ in entries)

    def part(self, name: str) -> DiskCache:
        """The cache in subdirectory `name`: entries of another kind, evicted and counted apart."""
        return DiskCache(self.directory / name, parent=self)


def _read_entry(stream: BinaryIO) -> dict[str, bytes] | None:
    """The parts of an entry file, None if it is truncated or corrupt."""
    read = stream.read
    start = read(len(_MAGIC) + _LENGTH.size)
    if len(start) != len(_MAGIC) + _LENGTH.size or start[: len(_MAGIC)] != _MAGIC:
        return None
    (length,) = _LENGTH.unpack(start[len(_MAGIC) :])
    header = json.loads(read(length))
    if not isinstance(header, dict):
        return None
    parts = {}
    for name, (size, checksum) in header.items():
        data = read(size)
        if len(data) != size or zlib.crc32(data) != checksum:
            return None
        parts[name] = data
    return parts if not read(1) else None


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


_warned = False


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message, CacheWarning, stacklevel=2)
