"""md5 of a byte stream computed in a thread of its own, so hashing overlaps reading and parsing.

hashlib releases the GIL while it hashes a large buffer, so the md5 of every source byte (recorded
in the manifest, checked against the official md5) runs on the other core instead of on the reader
thread, which the 2026-11-25 profile found to be the bottleneck (benchmarks/notes.md).
"""

from __future__ import annotations

import hashlib
import queue
import threading

HASH_WORKERS = 2  # whole files hashed at once (reuse check, content names): the machine tuned for has two cores
INLINE_BYTES = 1 << 20  # smaller updates are hashed at once: a thread is not worth it
QUEUED_BUFFERS = 4  # at most this many buffers wait to be hashed (bounded memory)


class BackgroundMd5:
    """The ``update``/``hexdigest`` of ``hashlib.md5``, with large updates hashed in a worker thread."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._queue: queue.Queue[bytes | None] | None = None
        self._worker: threading.Thread | None = None

    def update(self, data: bytes) -> None:
        if self._queue is None and len(data) < INLINE_BYTES:
            self._md5.update(data)
            return
        if self._queue is None:
            self._queue = queue.Queue(maxsize=QUEUED_BUFFERS)
            self._worker = threading.Thread(target=_hash, args=(self._queue, self._md5), name="oilake-md5", daemon=True)
            self._worker.start()
        self._queue.put(data)  # in order: one worker, FIFO

    def hexdigest(self) -> str:
        """The md5 of every byte given so far (waits for the worker to catch up)."""
        self.close()
        return self._md5.hexdigest()

    def close(self) -> None:
        """Hash what is queued and stop the worker (later updates start a new one)."""
        if self._queue is not None and self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = None
            self._worker = None

    def __del__(self) -> None:  # a reader dropped mid-file must not leave its worker waiting forever
        self.close()


def _hash(buffers: queue.Queue[bytes | None], md5: hashlib._Hash) -> None:
    while (data := buffers.get()) is not None:
        md5.update(data)
