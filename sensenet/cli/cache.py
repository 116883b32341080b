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
    switched_off,
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
            models = "compiled model" if count == 1 else "compiled models"
            print(f"{cache.directory}: removed {count} {models} ({_size(size)})")
        return 0
    info = cache.info()
    lines = [
        f"directory: {info.directory}",
        f"compiled models: {info.entries} ({_size(info.total_bytes)}; at most {_size(info.limit_bytes)})",
        f"command line, serve and MLflow: {_state(True)}",
        f"Python API: {_state(False)}",
    ]
    if info.problem is not None:
        lines.append(f"not used: {info.problem}")
    print("\n".join(lines))
    return 0


def _state(default: bool) -> str:
    """Whether an entry point whose own choice is `default` uses the cache, and why."""
    given = f"{SWITCH_VARIABLE}={os.environ.get(SWITCH_VARIABLE, '').strip()}"
    if switched_off():
        return f"off ({given})"
    if switched(default) != default:
        return f"on ({given})"
    return (
        "on (off with --no-cache or the setting cache=False)"
        if default
        else "off (on with the setting cache=True)"
    )


def _size(count: int) -> str:
    return f"{count / 1024:.1f} KiB" if count < 1024**2 else f"{count / 1024**2:.1f} MiB"
