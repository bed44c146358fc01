"""Micro-batching groups concurrent requests into one model call; off, every request runs alone."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from acg2vec.serving.batching import MicroBatcher

pytestmark = pytest.mark.unit


class SquareModel:
    """A model whose per-call cost is fixed (like a network's overhead): batching pays it once per batch."""

    def __init__(self, cost: float = 0.01) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.cost = cost

    def __call__(self, items: list[float]) -> list[float]:
        self.calls.append(len(items))
        self.threads.add(threading.current_thread().name)
        if any(x < 0 for x in items):
            raise ValueError("negative input")
        time.sleep(self.cost)
        return list(np.square(np.asarray(items, dtype=np.float64)))


def run(batcher: MicroBatcher, items: list[float]):
    async def main():
        return await asyncio.gather(*(batcher.submit(x) for x in items), return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        batcher.close()


def test_concurrent_requests_share_batches():
    model = SquareModel()
    sizes = []
    batcher = MicroBatcher("square", model, max_batch=8, max_wait_ms=20, on_batch=lambda n, s, t: sizes.append(s))
    results = run(batcher, [float(i) for i in range(32)])
    assert results == [float(i * i) for i in range(32)]  # each caller gets its own answer
    assert max(model.calls) == 8 and len(model.calls) <= 6 and sum(model.calls) == 32
    assert sizes == model.calls
    assert len(model.threads) == 1  # one model call at a time, off the event loop


def test_batching_off_runs_each_request_alone():
    model = SquareModel(cost=0.0)
    results = run(MicroBatcher("square", model, enabled=False), [1.0, 2.0, 3.0, 4.0])
    assert results == [1.0, 4.0, 9.0, 16.0] and model.calls == [1, 1, 1, 1]


def test_a_bad_item_fails_alone():
    model = SquareModel(cost=0.0)
    results = run(MicroBatcher("square", model, max_batch=8, max_wait_ms=20), [1.0, -1.0, 3.0])
    assert results[0] == 1.0 and results[2] == 9.0
    assert isinstance(results[1], ValueError)
    assert model.calls[0] == 3 and sorted(model.calls[1:]) == [1, 1, 1]  # the batch, then one by one


def test_a_lone_request_waits_at_most_max_wait():
    model = SquareModel(cost=0.0)
    start = time.perf_counter()
    assert run(MicroBatcher("square", model, max_batch=64, max_wait_ms=30), [2.0]) == [4.0]
    assert time.perf_counter() - start < 1.0 and model.calls == [1]
