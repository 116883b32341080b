"""`sensenet cache`: where the compiled-model cache is, what it holds, and emptying it."""

from __future__ import annotations

import argparse
import os

from sensenet.files.disk_cache import (
    DIRECTORY_VARIABLE,
    MAX_CACHE_BYTES,
    SWITCH_VARIABLE,
    DiskCache,
    switched,
)

HELP = "show or clear the compiled-model cache"
QUIET_HELP = "clear: print nothing"
DESCRIPTION = f"""\
The first time `predict`, `detect` or `serve` builds a model from a file, what the model
compiles into (its ONNX graph and the description of its fields) is kept in the cache, so that
the next start skips parsing the model's JSON. Entries are keyed by the model file's bytes,
the Sense/Net version and the settings; the least recently used go first past the size limit.

  sensenet cache info     where the cache is, its entries and their size
  sensenet cache clear    remove every entry

The cache is $XDG_CACHE_HOME/sensenet (default ~/.cache/sensenet), or {DIRECTORY_VARIABLE}.
Its limit is {MAX_CACHE_BYTES.default:,} bytes, or {MAX_CACHE_BYTES.variable}. {SWITCH_VARIABLE}=0
(or --no-cache) builds every model from its file, never reading nor writing the cache.
"""
ACTIONS = ("info", "clear")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("action", choices=ACTIONS, help="info: show the cache; clear: empty it")


def run(args: argparse.Namespace) -> int:
    cache = DiskCache()
    if args.action == "clear":
        count, size = cache.clear()
        if not args.quiet:
            print(f"removed {count} entries ({_size(size)}) from {cache.directory}")
        return 0
    info = cache.info()
    state = "on" if switched(True) else f"off ({SWITCH_VARIABLE}={os.environ[SWITCH_VARIABLE]})"
    lines = [
        f"directory: {info.directory}",
        f"entries: {info.entries} ({_size(info.total_bytes)} of {_size(info.limit_bytes)} at most)",
        f"command line, serve and MLflow: {state}",
        f"Python API: {'on' if switched(False) else 'off'} unless the setting cache is given",
    ]
    if info.problem is not None:
        lines.append(f"not used: {info.problem}")
    print("\n".join(lines))
    return 0


def _size(count: int) -> str:
    return f"{count / 1024**2:.1f} MiB"
