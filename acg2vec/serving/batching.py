"""Micro-batching: concurrent requests for one model wait a few milliseconds in a queue and run as one batch.

One worker task per model takes the first waiting item, then gathers more until ``max_batch`` items or
``max_wait_ms`` have passed, and runs the model once in its own thread (so the event loop keeps accepting
requests while the model computes). Under load the queue refills while a batch runs, so batches grow with the
concurrency and the per-item cost of the model call falls. ``enabled=False`` runs every request alone, one
after another: the baseline the serving benchmark compares against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class MicroBatcher:
    """``await batcher.submit(item)`` -> ``fn([items...])[i]``; a failing batch is retried item by item."""

    def __init__(
        self,
        name: str,
        fn: Callable[[list[Any]], list[Any]],
        *,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
        on_batch: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.max_batch = max_batch if enabled else 1
        self.max_wait = max_wait_ms / 1000.0 if enabled else 0.0
        self.enabled = enabled
        self.on_batch = on_batch
        # One thread per model: a model never runs two batches at once, and TensorFlow / torch use their own
        # intra-op threads inside the call.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    def _ensure_worker(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run(), name=f"batcher-{self.name}")
        return self._queue

    async def submit(self, item: Any) -> Any:
        queue = self._ensure_worker()
        future = asyncio.get_running_loop().create_future()
        await queue.put((item, future))
        return await future

    async def _gather(self, queue: asyncio.Queue) -> list[tuple[Any, asyncio.Future]]:
        batch = [await queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather(queue)
            live = [(item, fut) for item, fut in batch if not fut.done()]  # a client that left cancels its future
            if not live:
                continue
            items = [item for item, _ in live]
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(self.executor, self.fn, items)
                outcomes: list[tuple[bool, Any]] = [(True, r) for r in results]
            except Exception:  # noqa: BLE001 -- one bad item must not fail the others: retry them one by one
                outcomes = []
                for item in items:
                    try:
                        outcomes.append((True, (await loop.run_in_executor(self.executor, self.fn, [item]))[0]))
                    except Exception as err:  # noqa: BLE001 -- handed to the waiting request
                        outcomes.append((False, err))
            if self.on_batch is not None:
                self.on_batch(self.name, len(items), time.perf_counter() - start)
            for (_, fut), (ok, value) in zip(live, outcomes, strict=True):
                if fut.done():
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def close(self) -> None:
        if self._worker is not None and not self._worker.done() and self._loop is not None:
            self._loop.call_soon_threadsafe(self._worker.cancel)
        self.executor.shutdown(wait=False, cancel_futures=True)
