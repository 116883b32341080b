"""TensorFlow's native (C++) start-up and converter logs, kept off a command's stderr.

TensorFlow writes them to file descriptor 2 directly, past Python's
sys.stderr, so the only way to keep a command's stderr to its own messages
(one line per error, a progress bar on a terminal) is to point descriptor 2
at /dev/null while TensorFlow does the noisy part. Errors still reach the
user: they are exceptions, reported after the silenced block ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_logs_silenced(enabled: bool) -> Iterator[None]:
    """Silence file descriptor 2 while TensorFlow starts or converts (off for --debug)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
