"""Read sources larger than memory without pushing the lake's own files out of the page cache.

A build reads every source byte once (the md5 and the parse). At full scale the 38.6 GB of sources
are larger than the machine's memory: read the usual way, they evict the Parquet the build wrote
minutes earlier, which the overlap removal, the marts and the checks then read again from disk.
When the planned sources are larger than memory, each local file is read with its pages dropped
behind the reader (``posix_fadvise(DONTNEED)``; the bytes are already copied out, so nothing read
is lost). Smaller sources keep the usual caching, so that a second build reads them from memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

DROP_EVERY = 64 << 20  # bytes read between two drops


def physical_memory() -> int | None:
    """The machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def larger_than_memory(sizes: Iterable[int | None], memory: int | None = None) -> bool:
    """Whether files of ``sizes`` (None: unknown, not counted) together exceed ``memory`` (default: the machine's)."""
    memory = physical_memory() if memory is None else memory
    return memory is not None and sum(size or 0 for size in sizes) > memory


class DropBehind:
    """Drops the pages of an open file from the page cache as a sequential reader moves past them."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.dropped = 0  # pages before this offset were dropped

    def advance(self, position: int, final: bool = False) -> None:
        """The reader is at ``position``: drop what lies behind it (``DROP_EVERY`` bytes or more; all at the end)."""
        if position - self.dropped >= (1 if final else DROP_EVERY):
            try:
                os.posix_fadvise(self.fd, self.dropped, position - self.dropped, os.POSIX_FADV_DONTNEED)
            except OSError:  # advice only: a file system that refuses it is read as usual
                return
            self.dropped = position


def drop_behind(raw: object) -> DropBehind | None:
    """A ``DropBehind`` for the open local file ``raw``, or None where the system or the object cannot."""
    fileno = getattr(raw, "fileno", None)
    if not hasattr(os, "posix_fadvise") or fileno is None:
        return None
    try:
        return DropBehind(fileno())
    except (OSError, ValueError):
        return None
