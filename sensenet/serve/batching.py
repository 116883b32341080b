"""Concurrent requests to one model merged into one engine call, run off the event loop.

Requests queue up while the worker thread predicts; when it is free, it takes every waiting
request (up to ``max_batch_rows`` rows), after waiting at most ``max_wait`` seconds for more
to arrive. A request larger than the limit runs alone, never split.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

BatchRunner = Callable[[list[Any]], list[Any]]
BatchObserver = Callable[[int, int], None]  # (requests, rows) of each engine call


class MicroBatcher:
    def __init__(
        self, run: BatchRunner, *, max_batch_rows: int, max_wait: float, observe: BatchObserver, name: str
    ):
        self._run = run
        self._max_rows = max_batch_rows
        self._max_wait = max_wait
        self._observe = observe
        self._queue: asyncio.Queue[tuple[Any, int, asyncio.Future]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")
        self._task: asyncio.Task | None = None
        self._carried: tuple[Any, int, asyncio.Future] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, item: Any, rows: int) -> Any:
        """The outcome of one request: its result, or its own error raised here."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, rows, future))
        return await future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            try:
                outcomes = await loop.run_in_executor(
                    self._executor, self._run, [item for item, _, _ in batch]
                )
            except Exception as error:  # our fault: every request of the batch learns of it
                outcomes = [error] * len(batch)
            self._observe(len(batch), sum(rows for _, rows, _ in batch))
            for (_, _, future), outcome in zip(batch, outcomes):
                if future.done():  # the client went away
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _collect(self) -> list[tuple[Any, int, asyncio.Future]]:
        first = self._carried or await self._queue.get()
        self._carried = None
        batch, rows = [first], first[1]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while rows < self._max_rows:
            if not self._queue.empty():
                entry = self._queue.get_nowait()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if rows + entry[1] > self._max_rows:
                self._carried = entry  # opens the next batch
                break
            batch.append(entry)
            rows += entry[1]
        return batch
