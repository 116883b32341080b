"""The ``.smbundle`` format: a TensorFlow SavedModel directory packed into one file.

Layout (the seed library's): the 35 guard bytes ``GUARD``, one byte giving the
number of 1024-byte header blocks, a JSON header padded with spaces to that
many blocks, then every file's bytes. The header lists the directory tree in
walk order as ``[relative_dir, [subdirs], [[file, size], ...]]`` entries, and
the files' bytes follow in exactly that order.

A bundle is a file a user may have been sent, so reading trusts nothing in
it: paths must be relative names inside the bundle (no absolute paths, no
``..``, no separators inside a name), sizes must add up to the bytes the file
holds, and extraction only ever creates new files and directories inside a
private temporary directory, which `extracted_bundle` always removes. The
SavedModel inside is itself a TensorFlow program: those checks make reading a
bundle safe, not running one from an untrusted source.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from sensenet.exceptions import ModelFormatError
from sensenet.files.reading import BUNDLE_FILE, SETTINGS_FILE, open_regular, read_file, read_head
from sensenet.files.sniffing import BUNDLE_MAGIC
from sensenet.spec.fields import check_nesting
from sensenet.spec.fields import shown as shown_value

if TYPE_CHECKING:  # pathlib, shutil and tempfile load where used: `create_model` imports this module
    from pathlib import Path

SETTINGS_PATH = "assets/settings.json"
DEEPNET_TYPES = ("Deepnet", "ObjectDetector")
GUARD = BUNDLE_MAGIC
BUNDLE_EXTENSION = ".smbundle"
BLOCK_SIZE = 1024
MAX_BLOCKS = 255
ROOT = "."
MAX_DEPTH = 32  # directory levels a bundle may hold (a SavedModel uses 2)
_CHUNK = 1 << 20


def _walk(model_dir: Path) -> list[list[Any]]:
    """The header listing, in walk order (sorted, so bundles are reproducible)."""
    listing = []
    for current, subdirs, files in os.walk(model_dir):
        subdirs.sort()
        entries = []
        for name in sorted(files) + subdirs:
            if os.path.islink(os.path.join(current, name)):
                raise ModelFormatError(f"cannot bundle {os.path.join(current, name)}: links are not allowed")
        for name in sorted(files):
            entries.append([name, os.path.getsize(os.path.join(current, name))])
        relative = os.path.relpath(current, model_dir)
        listing.append([relative.replace(os.sep, "/"), list(subdirs), entries])
    return listing


def write_bundle(model_dir: str | os.PathLike, bundle_path: str | os.PathLike) -> None:
    """Pack the directory `model_dir` (a SavedModel) into the file `bundle_path`."""
    import shutil
    from pathlib import Path

    model_dir = Path(model_dir)
    listing = _walk(model_dir)
    header = json.dumps(listing).encode("utf-8")
    blocks = -(-len(header) // BLOCK_SIZE)
    if blocks > MAX_BLOCKS:
        raise ModelFormatError(
            f"{model_dir} has too many files for a bundle header ({len(header)} bytes; "
            f"at most {MAX_BLOCKS * BLOCK_SIZE})"
        )
    with open(bundle_path, "wb") as out:
        out.write(GUARD + bytes([blocks]) + header.ljust(blocks * BLOCK_SIZE, b" "))
        for relative, _, files in listing:
            for name, _ in files:
                with open(model_dir / relative / name, "rb") as source:
                    shutil.copyfileobj(source, out, _CHUNK)


def _is_plain_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def _safe_relative_dir(value: Any, where: str) -> tuple[str, ...]:
    """The components of a header directory, refusing anything that could leave the bundle."""
    if not isinstance(value, str) or "\0" in value or "\\" in value:
        raise ModelFormatError(f"{where}: directory {value!r} is not a relative path")
    if value in (ROOT, ""):
        return ()
    if value.startswith("/") or os.path.isabs(value):
        raise ModelFormatError(f"{where}: absolute path {value!r} is not allowed in a bundle")
    parts = tuple(part for part in value.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ModelFormatError(f"{where}: path {value!r} has a '..' component, not allowed in a bundle")
    if len(parts) > MAX_DEPTH:
        raise ModelFormatError(
            f"{where}: directories nest {len(parts)} deep, more than a bundle's {MAX_DEPTH}"
        )
    return parts


Listing = list[tuple[tuple[str, ...], list[str], list[tuple[str, int]]]]


def _parse_header(header: bytes, where: str) -> Listing:
    try:
        listing = orjson.loads(header.rstrip(b" "))
    except orjson.JSONDecodeError as error:  # also invalid UTF-8 and nesting over 1024 levels
        raise ModelFormatError(f"{where}: the bundle header is not valid JSON ({error})") from None
    check_nesting(listing, f"{where}: the bundle header")
    if not isinstance(listing, list) or not listing:
        raise ModelFormatError(f"{where}: the bundle header must be a non-empty list of directories")
    parsed = []
    for i, entry in enumerate(listing):
        at = f"{where}: header entry {i}"
        if not (isinstance(entry, list) and len(entry) == 3 and all(isinstance(e, list) for e in entry[1:])):
            raise ModelFormatError(f"{at}: expected [relative_dir, [subdirs], [[file, size], ...]]")
        parts = _safe_relative_dir(entry[0], at)
        if not all(_is_plain_name(name) for name in entry[1]):
            raise ModelFormatError(
                f"{at}: subdirectory names must be plain names, got {shown_value(entry[1])}"
            )
        files = []
        for item in entry[2]:
            ok = isinstance(item, list) and len(item) == 2 and _is_plain_name(item[0])
            if not ok or isinstance(item[1], bool) or not isinstance(item[1], int) or item[1] < 0:
                raise ModelFormatError(
                    f"{at}: a file must be [plain name, size >= 0], got {shown_value(item)}"
                )
            files.append((item[0], item[1]))
        parsed.append((parts, entry[1], files))
    return parsed


def _read(stream: BinaryIO, size: int, where: str) -> bytes:
    try:
        return stream.read(size)
    except OSError as error:  # an I/O error, or a special file posing as regular (/proc/self/mem)
        raise ModelFormatError(f"{where}: cannot read the bundle ({error.strerror or error})") from None


def _read_exactly(stream: BinaryIO, size: int, where: str) -> bytes:
    data = _read(stream, size, where)
    if len(data) != size:
        raise ModelFormatError(f"{where}: truncated bundle (expected {size} more bytes, found {len(data)})")
    return data


def read_bundle(bundle_path: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Extract the bundle into `destination`, an existing empty directory.

    Only new directories and files are created (never through a link, never
    over an existing entry), all under `destination`.
    """
    from pathlib import Path

    where = os.fspath(bundle_path)
    root = Path(destination)
    with open_regular(bundle_path, BUNDLE_FILE) as stream:
        total = os.fstat(stream.fileno()).st_size
        if _read(stream, len(GUARD), where) != GUARD:
            raise ModelFormatError(f"{where}: not a Sense/Net bundle (it does not start with {GUARD!r})")
        blocks = _read_exactly(stream, 1, where)[0]
        if blocks == 0:
            raise ModelFormatError(f"{where}: the bundle header has 0 blocks")
        header_end = len(GUARD) + 1 + blocks * BLOCK_SIZE
        if header_end > total:
            raise ModelFormatError(
                f"{where}: the header claims {blocks} blocks of {BLOCK_SIZE} bytes, past the end of the file"
            )
        listing = _parse_header(_read_exactly(stream, blocks * BLOCK_SIZE, where), where)
        content = sum(size for _, _, files in listing for _, size in files)
        if header_end + content != total:
            raise ModelFormatError(
                f"{where}: the header lists {content} bytes of files but the bundle holds "
                f"{total - header_end} (truncated or corrupt)"
            )
        for parts, _, files in listing:
            directory = root.joinpath(*parts)
            try:
                for depth in range(1, len(parts) + 1):
                    _make_private_dir(root.joinpath(*parts[:depth]))
                for name, size in files:
                    _extract_file(stream, directory / name, size, where)
            except (OSError, UnicodeError) as error:  # names too long, not encodable, a full disk
                reason = getattr(error, "strerror", None) or error
                shown = shown_value("/".join(parts))
                raise ModelFormatError(f"{where}: cannot extract directory {shown}: {reason}") from None


def _make_private_dir(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise ModelFormatError(f"bundle lists {path.name!r} both as a file and a directory") from None


def _extract_file(stream: BinaryIO, path: Path, size: int, where: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ModelFormatError(f"{where}: the bundle lists {path.name!r} twice") from None
    with os.fdopen(descriptor, "wb") as out:
        remaining = size
        while remaining:
            chunk = _read_exactly(stream, min(remaining, _CHUNK), where)
            out.write(chunk)
            remaining -= len(chunk)


def is_bundle_path(anobject: Any) -> bool:
    return isinstance(anobject, (str, os.PathLike)) and os.fspath(anobject).endswith(BUNDLE_EXTENSION)


def is_bundle_file(anobject: Any) -> bool:
    """A path to a bundle: by its name, or by its first bytes whatever its name."""
    if not isinstance(anobject, (str, os.PathLike)):
        return False
    return is_bundle_path(anobject) or (os.path.isfile(anobject) and read_head(anobject, len(GUARD)) == GUARD)


@contextmanager
def extracted_bundle(bundle_path: str | os.PathLike) -> Iterator[Path]:
    """The bundle extracted into a private temporary directory, removed on exit whatever happens."""
    import tempfile
    from pathlib import Path

    workdir = Path(tempfile.mkdtemp(prefix="sensenet-bundle-"))
    try:
        model_dir = workdir / "model"
        model_dir.mkdir(mode=0o700)
        read_bundle(bundle_path, model_dir)
        yield model_dir
    finally:
        remove_tree(workdir)


def remove_tree(root: Path) -> None:
    """Delete a directory tree without recursion (a tree any depth deep), never following links."""
    stack = [(os.fspath(root), False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            _quietly(os.rmdir, path)
            continue
        stack.append((path, True))
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, False))
            else:
                _quietly(os.unlink, entry.path)


def _quietly(remove: Any, path: str) -> None:
    try:
        remove(path)
    except OSError:
        pass


def load_bundle(bundle_path: str | os.PathLike) -> tuple[Any, dict]:
    """The bundle's SavedModel (loaded into memory) and its ``assets/settings.json``."""
    from sensenet.engines.keras.backend import tf

    where = os.fspath(bundle_path)
    with extracted_bundle(bundle_path) as model_dir:
        if not (model_dir / SETTINGS_PATH).is_file():
            raise ModelFormatError(f"{where}: the bundle has no {SETTINGS_PATH}")
        try:
            info = orjson.loads(read_file(model_dir / SETTINGS_PATH, SETTINGS_FILE))
        except orjson.JSONDecodeError as error:
            raise ModelFormatError(f"{where}: {SETTINGS_PATH} is not valid JSON ({error})") from None
        check_nesting(info, f"{where}: {SETTINGS_PATH}")
        if not isinstance(info, dict) or info.get("deepnet_type") not in DEEPNET_TYPES:
            raise ModelFormatError(f"{where}: {SETTINGS_PATH} must name a deepnet_type in {DEEPNET_TYPES}")
        try:
            saved_model = tf.saved_model.load(str(model_dir))
        except Exception as error:  # TensorFlow raises many kinds for a bad SavedModel
            raise ModelFormatError(f"{where}: no loadable SavedModel in the bundle ({error})") from None
    return saved_model, info
