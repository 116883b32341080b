"""A one-line progress bar on stderr, for jobs long enough to need one.

It draws only when its stream is a terminal and only once a job has run
for `delay` seconds, so short jobs, pipes, files and CI logs see nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24
REDRAW_EVERY = 0.1  # seconds


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class Progress:
    """Counts finished items out of `total` and shows rate and time left."""

    def __init__(
        self,
        total: int,
        unit: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        delay: float = 0.5,
    ):
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.delay = delay
        self.done = 0
        self._start = time.monotonic()
        self._drawn_at: float | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if not self.enabled or now - self._start < self.delay:
            return
        if self._drawn_at is None or now - self._drawn_at >= REDRAW_EVERY or self.done >= self.total:
            self._draw(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(fraction * BAR_WIDTH)
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total} {self.unit} "
            f"{rate:,.0f}/s elapsed {_clock(elapsed)} ETA {_clock(left)}"
        )

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self._drawn_at = now

    def close(self) -> None:
        """Finish the bar's line, if one was drawn."""
        if self._drawn_at is not None:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None
