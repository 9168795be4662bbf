"""pipeline/write/memory.py: freed pages go back to the system between build stages."""

from __future__ import annotations

import sys

import psutil
import pytest

from pipeline.write import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")
def test_freed_malloc_chunks_are_returned() -> None:
    if memory._malloc_trim() is None:
        pytest.skip("this C library has no malloc_trim")
    process = psutil.Process()
    # 300 MB of 2 KB chunks (malloc's heap, not mmap), every 64th kept so the heap cannot shrink from its top
    chunks = [bytes(2048) for _ in range(150_000)]
    keep = chunks[::64]
    del chunks
    before = process.memory_info().rss
    memory.release_memory()
    after = process.memory_info().rss
    assert len(keep) == 2344
    assert before - after > 150_000_000, (before, after)


def test_release_memory_is_safe_to_call_repeatedly() -> None:
    for _ in range(3):
        memory.release_memory()
