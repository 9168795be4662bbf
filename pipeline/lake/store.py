"""One store interface for a lake in a local folder or under an object-store prefix; ``open_store`` picks one.

Both kinds keep complete, immutable releases under ``releases/<id>/`` and one pointer to the
current release (a symlink locally, ``_current.json`` on object storage), with every publish
and rollback in ``_history.jsonl``. Readers pin the current release when they open the lake;
writers hold the store's lock. What a store cannot promise is raised as ``StoreCapabilityError``
(see ``docs/stores.md``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from pipeline.core.contract import HistoryEvent, Manifest, Release
from pipeline.core.errors import LakeError

RELEASES = "releases"
HISTORY = "_history.jsonl"
DEFAULT_KEEP = 2
RELEASE_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z(-\d+)?")  # what new_release_id makes


class StoreCapabilityError(LakeError):
    """The lake's store cannot do what was asked (e.g. take an exclusive lock without conditional writes)."""

    hint = "use a local lake folder for that, or a store that can do it (docs/stores.md says which can)"


def is_remote(lake: str | Path) -> bool:
    """True for a lake URL such as ``s3://bucket/prefix`` (``file://`` counts as local)."""
    text = str(lake)
    return "://" in text and not text.startswith("file://")


def is_release_id(name: str) -> bool:
    """True for a name ``new_release_id`` could have made (a build removes nothing else)."""
    return RELEASE_ID.fullmatch(name) is not None


def new_release_id(taken: Callable[[str], bool]) -> str:
    """A release id from the time (ids sort by age), made unique against ``taken``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    release_id, n = stamp, 1
    while taken(release_id):
        n += 1
        release_id = f"{stamp}-{n}"
    return release_id


class Store(ABC):
    """A lake's releases, pointer, history and lock; readers and the build use only this interface."""

    url: str  # how messages name the lake
    filesystem: Any = None  # the fsspec filesystem readers register (None for a local folder)

    # -- reading ---------------------------------------------------------------------------

    @abstractmethod
    def current_id(self) -> str | None:
        """The current release, or None when nothing was ever published."""

    @abstractmethod
    def history(self) -> list[HistoryEvent]:
        """Every publish and rollback, oldest first."""

    @abstractmethod
    def release_ids(self) -> list[str]:
        """Releases in the store (published or not), oldest first."""

    @abstractmethod
    def manifest(self, release_id: str) -> Manifest:
        """The manifest of a release (``LakeError`` when it has none)."""

    @abstractmethod
    def release_root(self, release_id: str) -> str:
        """Where a release's files are, as readers name them (a path, or a path on ``filesystem``)."""

    @abstractmethod
    def files(self, release_id: str, table: str) -> list[str]:
        """The Parquet files of ``table`` in a release, relative to it, sorted."""

    @abstractmethod
    def has_file(self, release_id: str, relative: str) -> bool: ...

    @abstractmethod
    def parquet(self, release_id: str, relative: str) -> pq.ParquetFile:
        """One Parquet file of a release, opened for its footer (``OSError`` when unreadable)."""

    @abstractmethod
    def connect(self, release_id: str) -> duckdb.DuckDBPyConnection:
        """A read-only connection to a release's catalog, able to read its files."""

    # -- writing (callers hold the lock) -----------------------------------------------------

    @abstractmethod
    def lock(self, command: str) -> AbstractContextManager[object]:
        """Hold the lake's writer lock for a ``with`` block; ``LakeLockedError`` when another writer holds it."""

    @abstractmethod
    def check_writable(self) -> None:
        """Refuse a place that holds something other than an oilake lake."""

    @abstractmethod
    def clean_leftovers(self) -> list[str]:
        """Remove what killed builds left; returns what was removed."""

    @abstractmethod
    def new_release(self, work: Path | None) -> tuple[str, Path]:
        """A new release id and the empty local folder to build it in (``work``: scratch for remote stores)."""

    @abstractmethod
    def lend(self, release_id: str, relative: str, staging: Path) -> None:
        """Put a published release's file into ``staging`` for reuse by the new release (never modified)."""

    @abstractmethod
    def local_copy(self, release_id: str, relative: str) -> Path:
        """A local, readable path of a release's file."""

    @abstractmethod
    def promote(self, staging: Path, release_id: str) -> None:
        """Store a finished staging folder as ``releases/<id>/`` with its catalog (not yet current)."""

    @abstractmethod
    def cleanup(self, staging: Path) -> None:
        """Remove what is left of ``staging`` (after a promote or a failure)."""

    @abstractmethod
    def publish(self, release_id: str, event: str = "publish") -> None:
        """Make a complete release current in one atomic step, and record it in the history."""

    @abstractmethod
    def remove(self, release_id: str) -> None:
        """Delete a release that is not current."""

    # -- shared rules ----------------------------------------------------------------------

    def require_current(self) -> str:
        release_id = self.current_id()
        if release_id is None:
            raise LakeError(f"{self.url} is not an oilake lake (no current release)")
        return release_id

    def published_ids(self) -> list[str]:
        """Every release ever made current, most recent publication last (one entry per release)."""
        order: list[str] = []
        for event in self.history():
            if event.release in order:
                order.remove(event.release)
            order.append(event.release)
        current = self.current_id()
        if current is not None and (not order or order[-1] != current):
            if current in order:
                order.remove(current)
            order.append(current)
        return order

    def releases(self) -> list[Release]:
        """Releases in the store, oldest first, with what their manifests say."""
        published, current = set(self.published_ids()), self.current_id()
        found = []
        for release_id in self.release_ids():
            try:
                manifest = self.manifest(release_id)
            except LakeError:
                found.append(Release(release_id, release_id == current, release_id in published))
                continue
            found.append(
                Release(
                    release_id,
                    release_id == current,
                    release_id in published,
                    manifest.started,
                    manifest.finished,
                    manifest.data_rows,
                )
            )
        return found

    def prune(self, keep: int) -> list[str]:
        """Delete all but the current release and the ``keep - 1`` most recently published others."""
        current = self.current_id()
        others = [r for r in reversed(self.published_ids()) if r != current]
        keep_ids = {current, *others[: max(keep - 1, 0)]}
        removed = [r for r in self.release_ids() if r not in keep_ids]
        for release_id in removed:
            self.remove(release_id)
        return removed

    def rollback(self, to: str | None = None) -> str:
        """Make an older kept release current again; returns its id."""
        current = self.current_id()
        if current is None:
            raise LakeError(f"{self.url} has no published release to roll back from")
        kept = set(self.release_ids())
        if to is None:
            candidates = [r for r in reversed(self.published_ids()) if r != current and r in kept]
            if not candidates:
                raise LakeError(f"{self.url} keeps no release older than {current}; nothing to roll back to")
            to = candidates[0]
        elif to not in kept:
            listing = ", ".join(sorted(kept)) or "none"
            raise LakeError(f"release {to!r} is not in {self.url}/{RELEASES} (kept: {listing})")
        if to == current:
            raise LakeError(f"release {to} is already current")
        self.publish(to, event="rollback")
        return to


def open_store(lake: str | Path, storage_options: dict[str, Any] | None = None) -> Store:
    """The store of ``lake``: a local folder, or an object-store URL (``s3://bucket/prefix``)."""
    # Imported here: both implementations import this module for the base class.
    if is_remote(lake):
        from pipeline.lake.remote import ObjectStore

        return ObjectStore(str(lake), storage_options)
    from pipeline.lake.local import LocalStore

    return LocalStore(Path(str(lake).removeprefix("file://")).resolve())


def list_releases(lake: str | Path, storage_options: dict[str, Any] | None = None) -> list[Release]:
    """The releases ``lake`` keeps, oldest first (``LakeError`` when it is not a lake)."""
    store = open_store(lake, storage_options)
    store.require_current()
    return store.releases()


def rollback(lake: str | Path, to: str | None = None, storage_options: dict[str, Any] | None = None) -> str:
    """Make an older kept release of ``lake`` current again (under the writer lock); returns its id."""
    store = open_store(lake, storage_options)
    store.require_current()
    with store.lock("rollback"):
        return store.rollback(to)
