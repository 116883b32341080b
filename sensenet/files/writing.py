"""The one way the library writes a file or a directory the user named.

Everything is written under a temporary name beside the target (same
directory, so the final move is a rename on one file system) and moved into
place only once complete:

- without `overwrite`, the move replaces nothing: a file is hard-linked to
  the target name (which fails if anything, even a dangling link, holds the
  name) and a directory is renamed onto an empty directory created for it, so
  a destination that another process creates meanwhile is never replaced;
- with `overwrite`, the destination itself is replaced (a symbolic link is
  replaced, never written through); a directory is replaced only when its
  format says the directory is one it wrote, and only its own files are
  removed, never a directory tree;
- temporary files and staging directories are removed on any failure,
  KeyboardInterrupt included; those of a killed process (named with its pid)
  are removed by the next write beside the same target.

A written file gets the mode `open()` would give it under the user's umask
(0666 less the umask), not the 0600 of a temporary file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sensenet.exceptions import OutputPathError, SettingsError

PART_SUFFIX = ".part"
STAGING_SUFFIX = ".staging"


def _overwrite_flag(overwrite: object) -> bool:
    if not isinstance(overwrite, bool):
        raise SettingsError(f"overwrite must be True or False, got {overwrite!r}")
    return overwrite


def check_destination(
    path: str | bytes | os.PathLike,
    overwrite: bool = False,
    replaceable: Callable[[Path], bool] | None = None,
    how_to_overwrite: str = "overwrite=True",
) -> Path:
    """Refuse, before any work, a destination that cannot be written or would be replaced unasked.

    An existing directory is replaced (with `overwrite`) only when `replaceable` says it is one its
    format wrote. `how_to_overwrite` is what the caller's user passes to replace an existing
    output, as the refusal names it: the Python API's keyword, the command line's option.
    """
    overwrite = _overwrite_flag(overwrite)
    try:
        target = Path(os.fsdecode(path))  # bytes decoded as `open` decodes them
    except TypeError:
        raise OutputPathError(
            f"the output path must be a str, bytes or os.PathLike, got {type(path).__name__}"
        ) from None
    if not target.name or target.name in (".", ".."):
        raise OutputPathError(f"{os.fsdecode(path)!r} has no file name: name the file to write")
    if os.path.lexists(target):
        if not overwrite:
            raise OutputPathError(
                f"{target} already exists; choose another name or pass {how_to_overwrite} to replace it"
            )
        if target.is_dir() and not target.is_symlink() and not (replaceable and replaceable(target)):
            raise _foreign_directory(target)
    parent = target.parent
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {target}: the directory {parent} is not writable")
    return target


def _foreign_directory(target: Path) -> OutputPathError:
    return OutputPathError(
        f"{target} is a directory this format did not write; it is kept: remove it yourself or choose "
        "another name"
    )


_fallback_umask: int | None = None
_fallback_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status).

    Elsewhere it is read once per process: `os.umask` can only be read by setting it, which
    would race with files other threads create meanwhile.
    """
    global _fallback_umask
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _fallback_lock:
        if _fallback_umask is None:
            _fallback_umask = os.umask(0o022)
            os.umask(_fallback_umask)
        return _fallback_umask


def give_open_mode(descriptor: int) -> None:
    """Give a temporary file (created 0600) the permissions `open()` gives a new file: 0666 less
    the umask, so an output is as readable as any other file the user creates."""
    try:
        os.fchmod(descriptor, 0o666 & ~current_umask())
    except OSError:
        pass  # a file system without Unix permissions (FAT, some network mounts) keeps its own


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def remove_stale(target: Path, suffix: str) -> None:
    """Remove the temporary files or staging directories left beside `target` by killed processes."""
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    prefix = f".{target.name}."
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _is_running(int(pid)):
            continue
        stale = target.parent / name
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.is_file() and not stale.is_symlink():
            stale.unlink(missing_ok=True)


@contextmanager
def temporary_file_beside(target: Path, suffix: str = PART_SUFFIX) -> Iterator[Path]:
    """An empty temporary file in the target's directory, removed on exit unless it was moved away."""
    remove_stale(target, suffix)
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=suffix, dir=target.parent
        )
    except OSError as error:
        raise OutputPathError(f"cannot write {target}: {error.strerror}") from None
    try:
        give_open_mode(handle)
    finally:
        os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """An empty directory in the target's directory for a writer's output, removed on exit."""
    remove_stale(target, STAGING_SUFFIX)
    try:
        name = tempfile.mkdtemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=STAGING_SUFFIX, dir=target.parent
        )
    except OSError as error:
        raise OutputPathError(f"cannot write {target}: {error.strerror}") from None
    try:
        yield Path(name)
    finally:
        shutil.rmtree(name, ignore_errors=True)


def _exists_error(target: Path) -> OutputPathError:
    return OutputPathError(f"{target} was created by someone else meanwhile; it is kept, nothing was written")


def _link_file(source: Path, target: Path) -> None:
    """`source` under the name `target` too, failing if the name is taken."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise _exists_error(target) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links: claim the name, then fill it.
        try:
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        except FileExistsError:
            raise _exists_error(target) from None
        with os.fdopen(handle, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out)


def _move_directory(source: Path, target: Path) -> None:
    """Rename `source` to `target`, failing if the name is taken."""
    try:
        os.mkdir(target)  # claims the name; a rename replaces only an empty directory
    except FileExistsError:
        raise _exists_error(target) from None
    try:
        os.rename(source, target)
    except OSError:
        os.rmdir(target)  # still ours and empty, or someone filled it (then it stays)
        raise


def _remove_replaced(old: Path) -> None:
    """Remove a replaced file or link, or a replaced directory's own (flat) files."""
    if old.is_dir() and not old.is_symlink():
        for entry in old.iterdir():
            entry.unlink()
        old.rmdir()
    else:
        old.unlink()


def publish(
    staged: Path,
    target: Path,
    overwrite: bool = False,
    replaceable: Callable[[Path], bool] | None = None,
) -> None:
    """Move the finished file or directory `staged` to `target` (see the module docstring).

    `replaceable` says whether an existing directory at `target` is one this
    writer's format wrote (flat, only its own files), which `overwrite` may replace.
    """
    overwrite = _overwrite_flag(overwrite)
    is_directory = staged.is_dir()
    move = _move_directory if is_directory else _link_file
    target_is_directory = target.is_dir() and not target.is_symlink()
    if not (overwrite and os.path.lexists(target)):
        move(staged, target)
    elif target_is_directory and (replaceable is None or not replaceable(target)):
        raise _foreign_directory(target)
    elif not is_directory and not target_is_directory:
        os.replace(staged, target)  # atomic; replaces a link, not what it points to
    else:
        aside = staged.with_name(staged.name + ".replaced")
        os.rename(target, aside)
        try:
            move(staged, target)
        except BaseException:
            os.rename(aside, target)
            raise
        _remove_replaced(aside)
    if not is_directory:
        staged.unlink(missing_ok=True)


@contextmanager
def new_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """A temporary file's path that becomes `path` when the block ends without error, for
    writers that need a file name (HDF5) rather than a stream."""
    target = check_destination(path, overwrite)
    with temporary_file_beside(target) as temporary:
        yield temporary
        publish(temporary, target, overwrite)


@contextmanager
def new_file(path: str | os.PathLike, overwrite: bool = False, binary: bool = False) -> Iterator[IO]:
    """A stream to a temporary file that becomes `path` when the block ends without error."""
    with new_path(path, overwrite) as temporary:
        mode, encoding = ("wb", None) if binary else ("w", "utf-8")
        with open(temporary, mode, encoding=encoding, newline=None if binary else "") as stream:
            yield stream
