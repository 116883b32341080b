"""Reading a user's file: regular files only, with size caps, and our errors for every way a path fails.

A path a user gives may name a FIFO (reading blocks forever), a device (``/dev/zero`` never
ends), a file too large for memory, a gzip that inflates a thousandfold, or be no usable path
at all (a NUL byte, a name too long, a symlink loop). Every file the library reads whole goes
through `read_file` (or `open_regular` for streamed reads): it opens without blocking, checks
that the file is regular, caps what it reads and raises the error of the kind of file it is.
"""

from __future__ import annotations

import errno
import os
import stat
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from sensenet.exceptions import ImageError, InputDataError, ModelFormatError, ModelNotFoundError
from sensenet.limits import MAX_FILE_BYTES, MAX_GZIP_RATIO, MAX_IMAGE_FILE_BYTES, Limit

GZIP_MAGIC = b"\x1f\x8b"
_READ_CHUNK = 1 << 20
_SMALL_INFLATION = 16 << 20  # any gzip may inflate this far, whatever its ratio


@dataclass(frozen=True)
class FileKind:
    """What a file is for: how errors name it, which errors they are, and its size limit."""

    label: str
    missing: type[Exception]
    invalid: type[Exception]
    limit: Limit


MODEL_FILE = FileKind("model file", ModelNotFoundError, ModelFormatError, MAX_FILE_BYTES)
BUNDLE_FILE = FileKind("bundle file", ModelNotFoundError, ModelFormatError, MAX_FILE_BYTES)
SETTINGS_FILE = FileKind("settings file", ModelFormatError, ModelFormatError, MAX_FILE_BYTES)
IMAGE_FILE = FileKind("image file", ImageError, ImageError, MAX_IMAGE_FILE_BYTES)
ROWS_FILE = FileKind("rows file", InputDataError, InputDataError, MAX_FILE_BYTES)

_NOT_REGULAR = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
_OPEN_ERRORS: dict[int | None, str] = {
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a component of the path is not a directory",
    errno.ENXIO: "a socket or a device, not a regular file",
}
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _name(path: str | bytes | os.PathLike) -> str | bytes:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"expected a path (str, bytes or os.PathLike), got {type(path).__name__}") from None


def open_regular(path: str | bytes | os.PathLike, kind: FileKind = MODEL_FILE) -> BinaryIO:
    """Open `path` for reading, refusing anything but a regular file, without ever blocking."""
    name = _name(path)
    shown = os.fsdecode(name) if isinstance(name, bytes) else name
    if "\0" in shown:
        raise kind.invalid(f"{kind.label} path {shown!r} contains a NUL character")
    try:
        descriptor = os.open(name, _OPEN_FLAGS)
    except FileNotFoundError:
        raise kind.missing(f"{kind.label} not found: {shown!r} does not exist") from None
    except UnicodeEncodeError:
        raise kind.invalid(f"{kind.label} path {shown!r} cannot be encoded for this file system") from None
    except OSError as error:
        reason = _OPEN_ERRORS.get(error.errno) or error.strerror or str(error)
        raise kind.invalid(f"cannot open {kind.label} {shown[:300]!r}: {reason}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            what = _NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")
            # a directory is where a file was expected, as a missing file is (the seed's error kind)
            refusal = kind.missing if stat.S_ISDIR(mode) else kind.invalid
            raise refusal(f"{kind.label} {shown!r} is {what}; expected a regular file")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _read_capped(stream: BinaryIO, kind: FileKind, shown: str) -> bytes:
    limit = kind.limit.value()
    size = os.fstat(stream.fileno()).st_size
    if size > limit:
        raise kind.invalid(f"{kind.label} {shown}: {kind.limit.exceeded('its size in bytes', size)}")
    # never ask for more than the file holds: a read of n bytes allocates n bytes first
    parts = [stream.read(size + 1)] if size else []
    total = len(parts[0]) if parts else 0
    while not parts or parts[-1]:  # files that grow, or report size 0 (/proc)
        parts.append(stream.read(min(_READ_CHUNK, limit + 1 - total)))
        total += len(parts[-1])
        if total > limit:
            raise kind.invalid(f"{kind.label} {shown}: {kind.limit.exceeded('its size in bytes', total)}")
    return b"".join(parts)


def inflate_gzip(data: bytes, kind: FileKind, shown: str) -> bytes:
    """The contents of gzip `data` (all members), refused past the size and inflation-ratio limits."""
    cap = min(kind.limit.value(), max(len(data) * MAX_GZIP_RATIO.value(), _SMALL_INFLATION))
    parts: list[bytes] = []
    total = 0
    remaining = data
    try:
        while remaining:
            inflater = zlib.decompressobj(wbits=31)
            while remaining:
                part = inflater.decompress(remaining, cap + 1 - total)
                remaining = inflater.unconsumed_tail
                total += len(part)
                parts.append(part)
                if total > cap:
                    raise kind.invalid(
                        f"{kind.label} {shown}: the gzip data inflates past {cap:,} bytes "
                        f"({MAX_GZIP_RATIO.variable} times its size, at most {kind.limit.variable}); "
                        "set those environment variables to allow more"
                    )
                if inflater.eof:
                    break
            if not inflater.eof:
                raise kind.invalid(f"{kind.label} {shown}: corrupt or truncated gzip data (it ends early)")
            remaining = inflater.unused_data.lstrip(b"\0")  # further members, or trailing padding
    except zlib.error as error:
        raise kind.invalid(f"{kind.label} {shown}: corrupt or truncated gzip data ({error})") from None
    return b"".join(parts)


def read_file(path: str | bytes | os.PathLike, kind: FileKind = MODEL_FILE, gunzip: bool = False) -> bytes:
    """The bytes of the regular file `path`, capped by the kind's limit.

    With `gunzip`, content starting with the gzip signature is inflated (also capped).
    """
    with open_regular(path, kind) as stream:
        shown = repr(os.fsdecode(_name(path)))
        try:
            data = _read_capped(stream, kind, shown)
        except OSError as error:  # an I/O error, or a special file posing as regular (/proc/self/mem)
            raise kind.invalid(f"cannot read {kind.label} {shown}: {error.strerror or error}") from None
    if gunzip and data[:2] == GZIP_MAGIC:
        return inflate_gzip(data, kind, shown)
    return data


def read_head(path: str | bytes | os.PathLike, size: int, kind: FileKind = MODEL_FILE) -> bytes:
    """The first `size` bytes of the regular file `path` (to tell its format), with `read_file`'s errors."""
    with open_regular(path, kind) as stream:
        try:
            return stream.read(size)
        except OSError as error:
            shown = repr(os.fsdecode(_name(path)))
            raise kind.invalid(f"cannot read {kind.label} {shown}: {error.strerror or error}") from None


def read_text(path: str | bytes | os.PathLike, kind: FileKind, encoding: str = "utf-8") -> str:
    """The text of the regular file `path` (capped), decoding errors as the kind's error."""
    data = read_file(path, kind)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        shown = os.fsdecode(_name(path))
        encoding_name = encoding.upper().removesuffix("-SIG")
        raise kind.invalid(f"{kind.label} {shown!r} is not {encoding_name} text") from None


def unzip_one(data: bytes, kind: FileKind, shown: str, suffixes: tuple[str, ...]) -> tuple[str, bytes]:
    """The name and bytes of the one member of zip `data` that a reader wants: the only file, or
    the only one whose name ends with one of `suffixes` (BigML's downloads hold one JSON file).
    Its declared size is checked against the kind's limit before anything is inflated."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [member for member in archive.infolist() if not member.is_dir()]
            wanted = [m for m in members if m.filename.lower().endswith(suffixes)]
            candidates = members if len(members) == 1 else wanted
            if len(candidates) != 1:
                names = [member.filename for member in members]
                raise kind.invalid(
                    f"{kind.label} {shown}: a .zip must hold one {' or '.join(suffixes)} file; it holds "
                    f"{names[:10]}: unzip it and give that file"
                )
            member = candidates[0]
            if member.file_size > kind.limit.value():
                what = f"{member.filename} unzipped: its size in bytes"
                raise kind.invalid(f"{kind.label} {shown}: {kind.limit.exceeded(what, member.file_size)}")
            return member.filename, archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise kind.invalid(f"{kind.label} {shown}: corrupt or unsupported .zip ({error})") from None
