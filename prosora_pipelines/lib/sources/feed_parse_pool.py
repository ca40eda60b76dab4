"""Where feed bodies are parsed: worker processes when there are many, else a worker thread.

feedparser is pure Python, so threads parse one feed at a time under the GIL and an ingest
of many feeds is bound by one core. Worker processes parse on every core, but cost a
start-up (a fresh interpreter importing the parser and the main module: a second or more of CPU)
and a pickling of each body and its entries. So a batch starts the pool only when it is
large enough to repay that start; once the pool runs, a smaller batch uses it too, and a few
feeds are always parsed in a thread. Until the workers are up, bodies are parsed one at a
time in a thread (all the GIL allows), and each waiting body goes to whichever is free
first, the thread or the workers. The pool is started once per process and kept for later
batches. Its workers are forked from a forkserver that has imported the parser and the main
module once (never a fork of this process, whose threads can hold locks the child would wait
on forever). If a worker dies, the pool is replaced and the bodies it held are parsed in
threads, as they would have been without it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")

MIN_FEEDS_FOR_PROCESSES = 40
"""Feeds in one batch from which parsing in running worker processes beats one thread."""
MIN_FEEDS_TO_START_PROCESSES = 300
"""Feeds in one batch from which starting the worker processes first still pays."""
# The main module too: workers import it anyway, and importing it once in the forkserver
# spares every worker that cost.
_PRELOADED = ["__main__", "prosora_pipelines.lib.sources.feed_parsing"]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _shared_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                "forkserver" if "forkserver" in methods else "spawn"
            )
            if context.get_start_method() == "forkserver":
                context.set_forkserver_preload(_PRELOADED)
            _pool = ProcessPoolExecutor(max_workers=usable_cpus(), mp_context=context)
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _ready() -> None:
    """Nothing: submitted once per worker so workers start while the network is busy."""


class FeedParsePool:
    """Runs parse calls for one batch of ``feeds`` feeds, in processes or in a thread."""

    def __init__(self, feeds: int) -> None:
        needed = MIN_FEEDS_FOR_PROCESSES if _pool is not None else MIN_FEEDS_TO_START_PROCESSES
        wanted = feeds >= needed and usable_cpus() > 1
        self._pool = _shared_pool() if wanted else None
        # While the workers start: whether they are up, whether the one thread is parsing.
        self._turn: asyncio.Condition | None = None
        self._workers_up = True
        self._thread_busy = False
        self._warming: asyncio.Task[None] | None = None

    @property
    def uses_processes(self) -> bool:
        return self._pool is not None

    def warm_up(self) -> None:
        """Start the workers now rather than when the first body arrives; until they are up,
        bodies are parsed one at a time in a thread (the GIL allows no more) and the others
        wait for whichever is free first, the thread or the workers."""
        if self._pool is None:
            return
        started = [asyncio.wrap_future(self._pool.submit(_ready)) for _ in range(usable_cpus())]
        self._turn = asyncio.Condition()
        self._workers_up = False
        self._warming = asyncio.ensure_future(self._announce(started))

    async def _announce(self, started: list[asyncio.Future[None]]) -> None:
        await asyncio.gather(*started, return_exceptions=True)  # a broken pool shows in run()
        assert self._turn is not None
        async with self._turn:
            self._workers_up = True
            self._turn.notify_all()

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` away from the event loop; ``call`` must pickle when processes are used."""
        pool = self._pool
        if pool is None:
            return await asyncio.to_thread(call)
        if self._turn is not None and not self._workers_up:
            turn = self._turn
            async with turn:
                await turn.wait_for(lambda: self._workers_up or not self._thread_busy)
                in_thread = not self._workers_up
                self._thread_busy = self._thread_busy or in_thread
            if in_thread:
                try:
                    return await asyncio.to_thread(call)
                finally:
                    async with turn:
                        self._thread_busy = False
                        turn.notify()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except BrokenProcessPool:
            _discard(pool)
            self._pool = None
            return await asyncio.to_thread(call)
