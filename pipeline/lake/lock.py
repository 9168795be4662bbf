"""One writer per lake: an exclusive ``flock`` on ``LAKE/.lock`` that names its holder.

The kernel releases a ``flock`` when its process dies, however it dies, so a lock
left by a killed build is never "held"; the holder record it leaves behind is
how the next build knows it is taking over from a dead process. Readers never
lock: they only ever see published releases.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.errors import LakeError
from pipeline.core.progress import log

LOCK = ".lock"


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock."""

    pid: int
    host: str
    started: str
    command: str = ""

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"), command)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}" + (f" ({self.command})" if self.command else "")


class LakeLockedError(LakeError):
    """Another process is writing the lake."""

    hint = "wait for that build to finish; a lock left by a process that died is taken over automatically"

    def __init__(self, lake: Path | str, holder: Holder | None, note: str = "", hint: str | None = None) -> None:
        self.lake = lake
        self.holder = holder
        who = holder.describe() if holder else "a process that has not written its name yet"
        super().__init__(f"{lake} is locked by another oilake process: {who}{note}", hint=hint)


@dataclass
class Lock:
    """A held lock; ``stale`` is the record of a previous holder that died without releasing it."""

    path: Path | str
    holder: Holder
    stale: Holder | None = field(default=None)


def _read_holder(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    return read_holder(os.read(fd, 1 << 16).decode("utf-8", "replace"))


def read_holder(text: str) -> Holder | None:
    """The holder a lock record names (None for an empty record)."""
    text = text.strip()
    if not text:
        return None
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):
        return Holder(pid=-1, host="?", started="?", command=f"unreadable lock record {text[:80]!r}")


@contextmanager
def lake_lock(root: Path, command: str) -> Iterator[Lock]:
    """Hold the lake's write lock for the ``with`` block; fail fast when someone else holds it."""
    path = root / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LakeLockedError(root, _read_holder(fd)) from None
        stale = _read_holder(fd)
        if stale is not None:
            log(f"lock  taking over the lock of a build that died: {stale.describe()}")
        holder = Holder.me(command)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(holder)) + "\n").encode(), 0)
        os.fsync(fd)
        try:
            yield Lock(path, holder, stale)
        finally:
            os.ftruncate(fd, 0)  # a clean release leaves no record: a record means the holder died
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(root: Path) -> Holder | None:
    """The current holder of the lake's lock, or None when it is free."""
    path = root / LOCK
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
