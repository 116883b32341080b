"""Concurrent requests to one model merged into engine calls, run off the event loop.

Requests queue up while the worker threads predict. A free worker takes its share of the waiting
rows (split evenly among the free workers, at most ``max_batch_rows``), so with two workers and
eight waiting requests each computes four instead of one computing eight while the other idles.
When the last batch held several requests (clients are sending concurrently), a worker first
waits ``max_wait`` seconds for more to arrive; a lone client never waits. A request larger than
the limit runs alone, never split.

A request leaves the queue unanswered, never computed, when its deadline passes or its client
goes away first (`Refused`); once a worker took it, it is computed and answered. The batcher
keeps the measured seconds per row of its engine calls, so `expected_wait` tells what a new
request would wait (the admission bound reads it).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sensenet.serve.refusals import CLIENT_GONE, DEADLINE, DRAINING, Refused

BatchRunner = Callable[[list[Any]], list[Any]]
BatchObserver = Callable[[int, int, float], None]  # (requests, rows, seconds) of each engine call
SMOOTHING = 0.2  # weight of the latest engine call in the seconds-per-row estimate
SIDE_BY_SIDE_MEMORY = 1.0  # seconds after batches last ran side by side that none runs alone


@dataclass(frozen=True)
class Done:
    """A request's outcome and where its time went."""

    outcome: Any
    queued: float  # seconds waiting for the worker
    computed: float  # seconds of the engine call that answered it (with the rest of its batch)


class Departure:
    """The transport's word that a request's client left: the batcher drops the request if it
    still waits. Callbacks, not an asyncio.Event, so that waiting for it costs no task."""

    __slots__ = ("left", "_callbacks")

    def __init__(self) -> None:
        self.left = False
        self._callbacks: list[Callable[[], None]] = []

    def on_leave(self, callback: Callable[[], None]) -> None:
        if self.left:
            callback()
        else:
            self._callbacks.append(callback)

    def leave(self) -> None:
        if not self.left:
            self.left = True
            for callback in self._callbacks:
                callback()


@dataclass(eq=False)
class Entry:
    item: Any
    rows: int
    future: asyncio.Future[Done]
    queued_at: float  # time.monotonic()
    state: str = "waiting"  # -> "taken" by a worker, or "dropped" (deadline, client gone, stop)
    links: list[asyncio.TimerHandle] = field(default_factory=list)


class MicroBatcher:
    def __init__(
        self,
        run: BatchRunner,
        *,
        max_batch_rows: int,
        max_wait: float,
        observe: BatchObserver,
        name: str,
        workers: int = 1,
        run_alone: BatchRunner | None = None,
    ):
        self._run = run
        self._run_alone = run_alone  # for a batch with no other running and none waiting
        self._side_by_side_until = 0.0
        self._max_rows = max_batch_rows
        self._max_wait = max_wait
        self._observe = observe
        self._workers = workers
        self._waiting: deque[Entry] = deque()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"predict-{name}")
        self._free_workers = asyncio.Semaphore(workers)
        self._idle = workers
        self._running: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self._last_batch = 0
        self.waiting_rows = 0  # rows queued, not yet taken by a worker
        self.running_rows = 0  # rows in engine calls now
        self.row_seconds = 0.0  # measured engine seconds per row (smoothed); 0 until one batch ran
        self._seen_full = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._running, return_exceptions=True)
        while self._waiting:
            entry = self._waiting.popleft()
            if entry.state == "waiting" and not entry.future.done():
                entry.future.set_exception(Refused(DRAINING, "the server stopped before the request ran"))
        self._executor.shutdown(wait=True)

    def expected_wait(self) -> float:
        """Seconds a request queued now would wait for a worker, at the measured rate; 0 until a
        batch at least half full was measured: a lone row costs many times a batched one, and a
        queue long enough to matter fills the next batch."""
        if not self._seen_full:
            return 0.0
        return (self.waiting_rows + self.running_rows) * self.row_seconds / self._workers

    async def submit(
        self, item: Any, rows: int, deadline: float | None = None, gone: Departure | None = None
    ) -> Done:
        """The outcome of one request, or its own error raised here; `Refused` when its deadline
        (time.monotonic()) passes or `gone` is set before a worker takes it."""
        loop = asyncio.get_running_loop()
        entry = Entry(item, rows, loop.create_future(), time.monotonic())
        self._waiting.append(entry)
        self.waiting_rows += rows
        self._arrived.set()
        if deadline is not None:
            entry.links.append(
                loop.call_at(
                    loop.time() + deadline - time.monotonic(),
                    self._drop,
                    entry,
                    Refused(DEADLINE, "Request timeout expired: the request waited past its deadline"),
                )
            )
        if gone is not None:
            gone.on_leave(partial(self._client_left, entry))
        try:
            return await entry.future
        finally:
            for link in entry.links:
                link.cancel()
            if entry.state == "waiting":  # the caller itself was cancelled
                entry.state = "dropped"
                self.waiting_rows -= entry.rows

    def _client_left(self, entry: Entry) -> None:
        self._drop(entry, Refused(CLIENT_GONE, "the client closed its connection"))

    def _drop(self, entry: Entry, refusal: Refused) -> None:
        """A waiting request leaves the queue unanswered (a worker skips it)."""
        if entry.state != "waiting":
            return
        entry.state = "dropped"
        self.waiting_rows -= entry.rows
        if not entry.future.done():
            entry.future.set_exception(refusal)

    async def _serve(self) -> None:
        """Hand each batch to a free worker; batches gather while every worker is busy."""
        loop = asyncio.get_running_loop()
        while True:
            await self._free_workers.acquire()
            try:
                batch = await self._collect()
            except asyncio.CancelledError:
                self._free_workers.release()
                raise
            run = self._run_alone if self._run_alone is not None and self._alone() else self._run
            self._idle -= 1
            rows = sum(entry.rows for entry in batch)
            self.running_rows += rows
            task = loop.create_task(self._answer(batch, rows, run))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _alone(self) -> bool:
        """Whether the batch about to start may take every core: none other is running or
        waiting, and none has run side by side for a while (under steady concurrent traffic a
        batch alone now is soon joined by another, and the threads would fight over the cores)."""
        now = time.monotonic()
        if self._idle < self._workers:
            self._side_by_side_until = now + SIDE_BY_SIDE_MEMORY
            return False
        return not self.waiting_rows and now >= self._side_by_side_until

    async def _answer(self, batch: list[Entry], rows: int, run: BatchRunner) -> None:
        """One engine call for `batch` in a worker thread, then each request's outcome."""
        loop = asyncio.get_running_loop()
        try:
            start = time.monotonic()
            try:
                outcomes = await loop.run_in_executor(self._executor, run, [e.item for e in batch])
            except Exception as error:  # our fault: every request of the batch learns of it
                outcomes = [error] * len(batch)
            computed = time.monotonic() - start
            self._observe(len(batch), rows, computed)
            self._measure(rows, computed)
            for entry, outcome in zip(batch, outcomes):
                if entry.future.done():  # cancelled: the handler went away
                    continue
                if isinstance(outcome, Exception):
                    entry.future.set_exception(outcome)
                else:
                    entry.future.set_result(Done(outcome, start - entry.queued_at, computed))
        finally:
            self.running_rows -= rows
            self._idle += 1
            self._free_workers.release()

    def _measure(self, rows: int, seconds: float) -> None:
        """Update the seconds per row: a queue long enough to matter is predicted in full
        batches, so once one half-full or fuller was seen, only those count (a lone row costs
        more per row)."""
        full = 2 * rows >= self._max_rows
        if self._seen_full and not full:
            return
        per_row = seconds / rows
        if full and not self._seen_full or not self.row_seconds:
            self.row_seconds, self._seen_full = per_row, full
        else:
            self.row_seconds = SMOOTHING * per_row + (1 - SMOOTHING) * self.row_seconds

    async def _next(self) -> Entry:
        """The first waiting request still wanted."""
        while True:
            while self._waiting:
                entry = self._waiting.popleft()
                if entry.state == "waiting" and not entry.future.done():
                    return entry
            self._arrived.clear()
            await self._arrived.wait()

    async def _collect(self) -> list[Entry]:
        first = await self._next()
        self._take(first)
        batch = [first]
        self._take_waiting(batch)
        if self._max_wait > 0 and self._last_batch > 1 and not self._full(batch):
            await asyncio.sleep(self._max_wait)
            self._take_waiting(batch)
        self._last_batch = len(batch)
        return batch

    def _take(self, entry: Entry) -> None:
        entry.state = "taken"
        self.waiting_rows -= entry.rows

    def _share(self, batch: list[Entry]) -> int:
        """Rows this batch may hold: its even part of the waiting rows among the free workers."""
        taken = sum(entry.rows for entry in batch)
        return min(self._max_rows, math.ceil((taken + self.waiting_rows) / max(1, self._idle)))

    def _take_waiting(self, batch: list[Entry]) -> None:
        """Add the queued requests that fit this worker's share; the first that does not stays."""
        rows, share = sum(entry.rows for entry in batch), self._share(batch)
        while self._waiting:
            entry = self._waiting[0]
            if entry.state != "waiting" or entry.future.done():
                self._waiting.popleft()
                continue
            if rows + entry.rows > share:
                return
            self._waiting.popleft()
            self._take(entry)
            batch.append(entry)
            rows += entry.rows

    def _full(self, batch: list[Entry]) -> bool:
        rows = sum(entry.rows for entry in batch)
        return rows >= self._max_rows or (bool(self._waiting) and rows >= self._share(batch))
