"""Hand the memory one build step freed back to the system before the next step starts.

Freed memory is not returned at once: pyarrow's allocator (mimalloc) keeps freed pages for reuse, and
glibc's ``malloc`` keeps freed chunks in its per-thread arenas. Both count in the process's resident
size. After a scale-0.1 ingest the build held 760 MB with no Arrow buffer allocated; giving the pages
back brought it to 480 MB (measured by hand, ``benchmarks/notes.md``), memory the DuckDB steps that
follow can use. The build calls it after every file it ingests, and ``build_connection`` before every
DuckDB step.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_memory"]


def release_memory() -> None:
    """Return freed, cached pages of pyarrow's pool and of glibc ``malloc`` to the system (no-op elsewhere)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
