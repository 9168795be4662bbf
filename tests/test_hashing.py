"""The background md5: the same digest as hashlib, whatever the mix of buffer sizes."""

from __future__ import annotations

import hashlib
import threading

from pipeline.read.hashing import INLINE_BYTES, BackgroundMd5


def test_digest_equals_hashlib_for_small_and_large_buffers() -> None:
    parts = [b"a" * 10, bytes(range(256)) * (INLINE_BYTES // 64), b"", b"tail" * 1000, b"x" * (3 * INLINE_BYTES)]
    md5 = BackgroundMd5()
    for part in parts:
        md5.update(part)
    assert md5.hexdigest() == hashlib.md5(b"".join(parts)).hexdigest()


def test_updates_after_a_digest_continue_the_same_hash() -> None:
    md5 = BackgroundMd5()
    md5.update(b"1" * (2 * INLINE_BYTES))
    first = md5.hexdigest()
    assert first == hashlib.md5(b"1" * (2 * INLINE_BYTES)).hexdigest()
    md5.update(b"2" * (2 * INLINE_BYTES))
    assert md5.hexdigest() == hashlib.md5(b"1" * (2 * INLINE_BYTES) + b"2" * (2 * INLINE_BYTES)).hexdigest()


def test_close_stops_the_worker() -> None:
    md5 = BackgroundMd5()
    md5.update(b"z" * (2 * INLINE_BYTES))
    assert any(t.name == "oilake-md5" for t in threading.enumerate())
    md5.close()
    md5.close()
    assert not any(t.name == "oilake-md5" for t in threading.enumerate())
    assert md5.hexdigest() == hashlib.md5(b"z" * (2 * INLINE_BYTES)).hexdigest()
