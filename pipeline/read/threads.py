"""Thread helpers for the readers: an in-order parallel map and a background prefetch."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


class _End:
    """The marker the producer puts after the last item."""


_DONE = _End()


def ordered_map(function: Callable[[T], U], items: Iterator[T], workers: int) -> Iterator[U]:
    """``map`` over ``items`` by ``workers`` threads, in order, at most ``workers + 1`` items ahead.

    The CSV parsers and Polars' checks release the GIL, so chunks are worked on by every core at once.
    """
    with ThreadPoolExecutor(workers, thread_name_prefix="oilake-parse") as pool:
        yield from ordered_submit(pool, function, items, workers)


def ordered_submit(executor: Executor, function: Callable[[T], U], items: Iterator[T], ahead: int) -> Iterator[U]:
    """``function`` over ``items`` on ``executor`` (threads or processes), in order, at most ``ahead + 1`` in flight."""
    pending: deque[Future[U]] = deque()
    try:
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``items`` in a background thread, ``depth`` items ahead (I/O and parsing overlap the consumer)."""
    slots: queue.Queue[T | _End | BaseException] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            slots.put(exc)

    worker = threading.Thread(target=produce, name="oilake-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.1)
