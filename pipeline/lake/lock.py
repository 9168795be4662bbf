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
from datetime import UTC, datetime, timedelta
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
    expires: str = ""  # object-store locks only: after this time the lock may be taken over

    @classmethod
    def me(cls, command: str, ttl: float | None = None) -> Holder:
        started = datetime.now(UTC)
        expires = "" if ttl is None else (started + timedelta(seconds=ttl)).isoformat(timespec="seconds")
        return cls(os.getpid(), socket.gethostname(), started.isoformat(timespec="seconds"), command, expires)

    def describe(self) -> str:
        text = f"pid {self.pid} on {self.host}, started {self.started}" + (f" ({self.command})" if self.command else "")
        return text + (f", lock expires {self.expires}" if self.expires else "")

    def expired(self) -> bool:
        """True when the record names an expiry that has passed (a record without one never expires)."""
        try:
            return bool(self.expires) and datetime.fromisoformat(self.expires) <= datetime.now(UTC)
        except ValueError:
            return False

    def dead_here(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # it exists (EPERM: another user's process)
        return False


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


def _same_file(path: Path, fd: int) -> bool:
    """True when ``path`` still names the file open as ``fd`` (a lock file can be removed and made again)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _locked_fd(root: Path, create_root: bool) -> int:
    """An fd of ``LAKE/.lock`` holding its exclusive ``flock``, the file still named by that path.

    A failed first build removes the lock file it created (while holding it), so a process that
    opened that file earlier may get its ``flock`` once it is released: it then sees the path names
    another file (or none) and tries again on the file the path names now.
    """
    path = root / LOCK
    for _ in range(100):
        if create_root:
            root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            if create_root:
                continue  # the folder was removed under us: make it again
            raise
        except IsADirectoryError:
            raise LakeError(
                f"{path} is a folder, where the lake's lock file belongs",
                hint=f"remove that folder (oilake never makes it; check nothing of yours is in it): rmdir {path}",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LakeLockedError(root, holder) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(path, fd):
            return fd
        os.close(fd)  # a removed lock file: its flock means nothing any more
    raise LakeError(f"{path}: the lock file keeps being replaced; another process is removing it")


@contextmanager
def lake_lock(root: Path, command: str, create_root: bool = False) -> Iterator[Lock]:
    """Hold the lake's write lock for the ``with`` block; fail fast when someone else holds it."""
    path = root / LOCK
    fd = _locked_fd(root, create_root)
    try:
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
