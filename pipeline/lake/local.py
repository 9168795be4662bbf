"""A lake in a local folder: immutable releases, one symlink pointer, and stable entry links.

::

    LAKE/
      releases/<id>/        complete, validated builds (tables, _manifest.json, lake.duckdb)
      current -> releases/<id>     the pointer: replaced in one os.replace
      lake.duckdb -> current/lake.duckdb, _manifest.json -> …, <table> -> current/<table>
      _history.jsonl        every publish and rollback, oldest first
      .staging/<id>/        a build in progress (removed by the next build if it was killed)
      .lock                 the writer lock (see pipeline.lake.lock)

A build writes a release under ``.staging``, moves it into ``releases/`` (a
rename), and publishes it by swapping ``current``: readers see either the old
release or the new one, never a mix. A build never modifies a published release;
a rebuild hard-links the files it reuses (``oilake catalog`` rewrites the current
release's catalog after the lake moved).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipeline.catalog.views import CATALOG, write_catalog
from pipeline.core.contract import HistoryEvent, Manifest, history_from_text, history_to_text
from pipeline.core.errors import LakeError
from pipeline.core.layout import relative_files
from pipeline.core.schema import all_schemas
from pipeline.lake.lock import LOCK, Lock, lake_lock
from pipeline.lake.manifest import MANIFEST, now, read_manifest
from pipeline.lake.store import HISTORY, RELEASES, Store, new_release_id

CURRENT = "current"
STAGING = ".staging"


def entry_names() -> list[str]:
    """Names at the lake root that link into the current release."""
    return [CATALOG, MANIFEST, *all_schemas()]


class LocalStore(Store):
    """A lake folder: paths and the few atomic steps that change what its readers see."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        self.releases_dir = root / RELEASES
        self.current = root / CURRENT
        self.staging = root / STAGING
        self.history_file = root / HISTORY

    # -- reading ---------------------------------------------------------------------------

    def is_lake(self) -> bool:
        return self.current.is_symlink()

    def current_id(self) -> str | None:
        if not self.current.is_symlink():
            return None
        return Path(os.readlink(self.current)).name

    def history(self) -> list[HistoryEvent]:
        if not self.history_file.exists():
            return []
        return history_from_text(self.history_file.read_text(encoding="utf-8"), str(self.history_file))

    def release_ids(self) -> list[str]:
        return sorted(p.name for p in self.releases_dir.iterdir() if p.is_dir()) if self.releases_dir.is_dir() else []

    def release_path(self, release_id: str) -> Path:
        return self.releases_dir / release_id

    def manifest(self, release_id: str) -> Manifest:
        path = self.release_path(release_id)
        if not (path / MANIFEST).is_file():
            raise LakeError(f"release {release_id} has no {MANIFEST} in {self.releases_dir}")
        return read_manifest(path)

    def release_root(self, release_id: str) -> str:
        return str(self.release_path(release_id))

    def files(self, release_id: str, table: str) -> list[str]:
        return relative_files(self.release_path(release_id), table)

    def has_file(self, release_id: str, relative: str) -> bool:
        return (self.release_path(release_id) / relative).is_file()

    def parquet(self, release_id: str, relative: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.release_path(release_id) / relative)

    def connect(self, release_id: str) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.release_path(release_id) / CATALOG), read_only=True)

    # -- writing (callers hold the lock) ---------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[Lock]:
        """The ``flock`` of ``LAKE/.lock``; a lake folder a failed first build created is removed again."""
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with lake_lock(self.root, command) as held:
                yield held
        finally:
            if created and not self.is_lake():
                shutil.rmtree(self.root, ignore_errors=True)

    def check_writable(self) -> None:
        root = self.root
        if not root.exists():
            return
        if not root.is_dir():
            raise LakeError(f"refusing to write {root}: it is a file; choose a folder with --lake")
        if self.is_lake():
            return
        if (root / MANIFEST).is_file() and not (root / MANIFEST).is_symlink():
            raise LakeError(
                f"{root} was built by an older oilake (no releases/ folder); "
                "remove it or choose a new folder with --lake, then build again"
            )
        ours = {RELEASES, STAGING, HISTORY, LOCK}
        foreign = sorted(p.name for p in root.iterdir() if p.name not in ours and not p.name.startswith(f".{CURRENT}."))
        if foreign:
            raise LakeError(
                f"refusing to replace {root}: it exists and is not an oilake lake (no {MANIFEST}; "
                f"found {', '.join(foreign[:5])}); choose a new or empty folder with --lake"
            )

    def clean_leftovers(self) -> list[str]:
        """Remove what killed builds left: staging folders and releases never published."""
        removed = []
        if self.staging.is_dir():
            for leftover in sorted(self.staging.iterdir()):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(f"{STAGING}/{leftover.name}")
        published, current = set(self.published_ids()), self.current_id()
        for release_id in self.release_ids():
            if release_id not in published and release_id != current:
                self.remove(release_id)
                removed.append(f"{RELEASES}/{release_id}")
        for temp in self.root.glob(f".{CURRENT}.*.tmp"):
            temp.unlink(missing_ok=True)
            removed.append(temp.name)
        return removed

    def new_release(self, work: Path | None = None) -> tuple[str, Path]:
        release_id = new_release_id(lambda r: (self.releases_dir / r).exists() or (self.staging / r).exists())
        path = self.staging / release_id
        path.mkdir(parents=True)
        return release_id, path

    def lend(self, release_id: str, relative: str, staging: Path) -> None:
        """Hard-link (or copy, across file systems) one published file into ``staging``."""
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.release_path(release_id) / relative, target)
        except OSError:
            shutil.copy2(self.release_path(release_id) / relative, target)

    def local_copy(self, release_id: str, relative: str) -> Path:
        return self.release_path(release_id) / relative

    def promote(self, staging: Path, release_id: str) -> None:
        """Move a finished staging folder into ``releases/`` (a rename) and write its catalog."""
        self.releases_dir.mkdir(exist_ok=True)
        target = self.release_path(release_id)
        os.rename(staging, target)
        try:
            write_catalog(target)
        except BaseException:
            self.remove(release_id)
            raise

    def cleanup(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.staging.rmdir()  # tidy when no other staging folder is left

    def publish(self, release_id: str, event: str = "publish") -> None:
        """Make ``release_id`` current: one atomic replace of the ``current`` link."""
        if not (self.release_path(release_id) / MANIFEST).is_file():
            raise LakeError(f"release {release_id} is not complete (no {MANIFEST}); it cannot be published")
        temp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        temp.unlink(missing_ok=True)
        os.symlink(f"{RELEASES}/{release_id}", temp)
        os.replace(temp, self.current)
        _fsync_dir(self.root)
        self._ensure_entry_links()
        entry = HistoryEvent(event, release_id, now(), socket.gethostname(), os.getpid())
        with self.history_file.open("a", encoding="utf-8") as out:
            out.write(history_to_text([entry]))

    def _ensure_entry_links(self) -> None:
        for name in entry_names():
            link = self.root / name
            if not link.is_symlink():
                os.symlink(f"{CURRENT}/{name}", link)

    def remove(self, release_id: str) -> None:
        shutil.rmtree(self.release_path(release_id), ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
