"""Read ahead in a thread: a producer fills a small bounded queue while the caller consumes it,
so a Postgres read and the ClickHouse inserts overlap while memory stays a few batches."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Stopped(Exception):
    """Raised in the producer by ``put`` once the consumer has gone."""


def read_ahead(produce: Callable[[Callable[[T], None]], None], depth: int = 4,
               name: str = "postgres-reader") -> Iterator[T]:
    """Items that ``produce(put)`` puts, in order, from a thread of their own; at most ``depth``
    wait. An exception of the producer is raised here. Leaving the loop early stops the producer
    at its next ``put``."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T) -> None:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def run() -> None:
        try:
            produce(put)
            last = _DONE
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, raised there
            last = exc
        try:
            put(last)
        except _Stopped:
            pass

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)
