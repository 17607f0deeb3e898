"""Admission control of the development server: a bounded worker pool per protocol. At most `workers` requests run
the model at once and at most `queue` more wait for a worker; any further request is refused at once with
RESOURCE_EXHAUSTED (REST: HTTP 503), instead of waiting in an unbounded queue."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import grpc

from .errors import ServingError


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


class WorkLimiter:
    """Bounds the requests that run (`workers`) and wait (`queue`); waiting requests are served in arrival order.

    Args:
        workers: requests allowed to run at once.
        queue: requests allowed to wait for a worker (0: none).
        protocol: "gRPC" or "REST", named in the refusal message.
        workers_flag: the CLI flag setting `workers`, named in the refusal message.
    """

    def __init__(self, workers: int, queue: int, protocol: str, workers_flag: str):
        self.workers = workers
        self.queue = queue
        self._protocol = protocol
        self._workers_flag = workers_flag
        self._cond = threading.Condition()
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    def overloaded(self) -> ServingError:
        return ServingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"server overloaded: all {_plural(self.workers, self._protocol + ' worker')} are busy and "
            f"{_plural(self.queue, 'request')} already wait for one (--{self._workers_flag}, "
            f"--max_queued_requests); retry later", code="overloaded", http_status=503)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Runs the `with` block on a worker slot, after waiting in the queue if every worker is busy.

        Raises:
            ServingError: RESOURCE_EXHAUSTED (code `overloaded`, REST 503) when the workers and the queue are full.
        """
        with self._cond:
            if self._running < self.workers and self._waiting == 0:
                self._running += 1
            elif self._waiting < self.queue:
                self._waiting += 1
                try:
                    while self._running >= self.workers:
                        self._cond.wait()
                finally:
                    self._waiting -= 1
                self._running += 1
            else:
                raise self.overloaded()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify()
