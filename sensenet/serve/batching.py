"""Concurrent requests to one model merged into one engine call, run off the event loop.

Requests queue up while the worker threads predict; when one is free, it takes every waiting
request (up to ``max_batch_rows`` rows). Several workers run batches side by side (image
networks: decoding and onnxruntime release the GIL, so each worker keeps a core busy). When
the last batch held several requests (clients are sending concurrently), a worker first waits
``max_wait`` seconds for more to arrive; a lone client never waits. A request larger than the
limit runs alone, never split.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

BatchRunner = Callable[[list[Any]], list[Any]]
# (item, rows, where its outcome goes, when it was queued)
Entry = tuple[Any, int, "asyncio.Future[Done]", float]
BatchObserver = Callable[[int, int, float], None]  # (requests, rows, seconds) of each engine call


@dataclass(frozen=True)
class Done:
    """A request's outcome and where its time went."""

    outcome: Any
    queued: float  # seconds waiting for the worker
    computed: float  # seconds of the engine call that answered it (with the rest of its batch)


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
    ):
        self._run = run
        self._max_rows = max_batch_rows
        self._max_wait = max_wait
        self._observe = observe
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"predict-{name}")
        self._free_workers = asyncio.Semaphore(workers)
        self._running: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self._carried: Entry | None = None
        self._last_batch = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, item: Any, rows: int) -> Done:
        """The outcome of one request, or its own error raised here."""
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, rows, future, time.perf_counter()))
        return await future

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
            task = loop.create_task(self._answer(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _answer(self, batch: list[Entry]) -> None:
        """One engine call for `batch` in a worker thread, then each request's outcome."""
        loop = asyncio.get_running_loop()
        try:
            start = time.perf_counter()
            try:
                outcomes = await loop.run_in_executor(
                    self._executor, self._run, [entry[0] for entry in batch]
                )
            except Exception as error:  # our fault: every request of the batch learns of it
                outcomes = [error] * len(batch)
            computed = time.perf_counter() - start
            self._observe(len(batch), sum(entry[1] for entry in batch), computed)
            for (_, _, future, queued), outcome in zip(batch, outcomes):
                if future.done():  # the client went away
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(Done(outcome, start - queued, computed))
        finally:
            self._free_workers.release()

    async def _collect(self) -> list[Entry]:
        first = self._carried or await self._queue.get()
        self._carried = None
        batch = [first]
        self._take_waiting(batch)
        if self._max_wait > 0 and self._last_batch > 1 and not self._full(batch):
            await asyncio.sleep(self._max_wait)
            self._take_waiting(batch)
        self._last_batch = len(batch)
        return batch

    def _take_waiting(self, batch: list[Entry]) -> None:
        """Add the queued requests that fit; the first that does not opens the next batch."""
        rows = sum(entry[1] for entry in batch)
        while self._carried is None and not self._queue.empty():
            entry = self._queue.get_nowait()
            if rows + entry[1] > self._max_rows:
                self._carried = entry
            else:
                batch.append(entry)
                rows += entry[1]

    def _full(self, batch: list[Entry]) -> bool:
        return self._carried is not None or sum(entry[1] for entry in batch) >= self._max_rows
