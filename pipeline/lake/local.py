"""A lake in a local folder: immutable releases, one symlink pointer, and stable entry links.

::

    LAKE/
      releases/<id>/        complete, validated builds (tables, _manifest.json, lake.duckdb)
      current -> releases/<id>     the pointer: replaced in one os.replace
      lake.duckdb -> current/lake.duckdb, _manifest.json -> …, <table> -> current/<table>
      _history.jsonl        every publish and rollback, oldest first (recorded just before the swap)
      .staging/<id>/        a build in progress (removed by the next build if it was killed)
      .lock                 the writer lock (see pipeline.lake.lock)
      .oilake               the marker: this folder is a lake (written by its first build)

A folder is a lake only by positive evidence: the marker, or a ``current`` link into
``releases/``. A build writes only into a new folder, an empty one or a lake, and deletes
only what oilake made there: staging folders and unpublished releases named like release ids.

A build writes a release under ``.staging``, moves it into ``releases/`` (a
rename), and publishes it by swapping ``current``: readers see either the old
release or the new one, never a mix. A build never modifies a published release;
a rebuild hard-links the files it reuses (``oilake catalog`` rewrites the current
release's catalog after the lake moved).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipeline.catalog.views import CATALOG, write_catalog
from pipeline.core.contract import HistoryEvent, Manifest, history_from_text, history_line, history_to_text
from pipeline.core.errors import LakeError
from pipeline.core.layout import relative_files
from pipeline.core.progress import log
from pipeline.core.schema import all_schemas
from pipeline.lake.lock import LOCK, Lock, lake_lock
from pipeline.lake.manifest import MANIFEST, now, read_manifest
from pipeline.lake.store import HISTORY, RELEASES, Store, is_release_id, new_release_id

CURRENT = "current"
STAGING = ".staging"
MARKER = ".oilake"


class NotALakeError(LakeError):
    """A folder given as ``--lake`` holds something that is not an oilake lake."""

    hint = "choose a new or empty folder with --lake: oilake never writes into a folder it did not make a lake"


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
        """Positive evidence only: the marker a build wrote, or a ``current`` link into ``releases/``."""
        return (self.root / MARKER).is_file() or self.current_id() is not None

    def current_id(self) -> str | None:
        if not self.current.is_symlink():
            return None
        target = Path(os.readlink(self.current))
        if target.parent != Path(RELEASES) or not is_release_id(target.name):
            return None
        return target.name

    def history(self) -> list[HistoryEvent]:
        """The recorded events, without a last record whose swap never happened (see ``publish``)."""
        events = self._recorded()
        return events[:-1] if _unfinished(events, self.current_id()) else events

    def _recorded(self) -> list[HistoryEvent]:
        try:
            text = self.history_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return history_from_text(text, str(self.history_file))

    def release_ids(self) -> list[str]:
        if not self.releases_dir.is_dir():
            return []
        return sorted(p.name for p in self.releases_dir.iterdir() if p.is_dir() and is_release_id(p.name))

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
        self.require_release(release_id)
        return duckdb.connect(str(self.release_path(release_id) / CATALOG), read_only=True)

    def require_release(self, release_id: str) -> None:
        """Fail with advice when ``release_id`` (e.g. the one ``current`` names) is not kept in ``releases/``."""
        if not self.release_path(release_id).is_dir():
            named = " (the one `current` points at)" if release_id == self.current_id() else ""
            raise LakeError(
                f"{self.root}: release {release_id}{named} is missing from {self.releases_dir}",
                hint=f"`oilake releases --lake {self.root}` lists the kept releases; "
                f"`oilake rollback --lake {self.root} --to ID` makes one of them current",
            )

    # -- writing (callers hold the lock) ---------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[Lock]:
        """The ``flock`` of ``LAKE/.lock``, the folder checked and claimed as a lake under it.

        When nothing was ever published, a failed build takes back, still under the lock, only
        what this process made: its marker, empty ``.staging``/``releases`` folders, and the lake
        folder itself with its lock file when it made the folder (a waiting locker re-checks the
        lock file it got, see ``pipeline.lake.lock``). A build killed before publishing leaves its
        marker, so the next build knows the folder and cleans up.
        """
        try:
            self.root.mkdir(parents=True)
            made_root = True
        except FileExistsError:
            made_root = False
        claimed = False
        with lake_lock(self.root, command, create_root=True) as held:
            try:
                self.check_writable()  # again under the lock: the folder may have changed since
                claimed = self._claim()
                yield held
            finally:
                if self.current_id() is None:
                    self._take_back(claimed, made_root)

    def _claim(self) -> bool:
        """Write the marker that makes this folder a lake; True when this call wrote it."""
        marker = self.root / MARKER
        if marker.is_file():
            return False
        record = {"oilake": "lake", "created": now(), "host": socket.gethostname(), "pid": os.getpid()}
        marker.write_text(json.dumps(record) + "\n", encoding="utf-8")
        return True

    def _take_back(self, claimed: bool, made_root: bool) -> None:
        for folder in (self.staging, self.releases_dir):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: what is left there is not this build's
        if not claimed:
            return
        (self.root / MARKER).unlink(missing_ok=True)
        if made_root:
            (self.root / LOCK).unlink(missing_ok=True)  # still held: a waiting locker will see it gone
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def check_writable(self) -> None:
        root = self.root
        if not root.exists():
            return
        if not root.is_dir():
            raise LakeError(f"refusing to write {root}: it is a file; choose a folder with --lake")
        if self.is_lake():
            return
        if (root / MANIFEST).is_file() and not (root / MANIFEST).is_symlink():
            raise NotALakeError(
                f"{root} was built by an older oilake (no releases/ folder); "
                "remove it or choose a new folder with --lake, then build again"
            )
        found = sorted(p.name for p in root.iterdir() if p.name != LOCK)
        if found:
            raise NotALakeError(
                f"refusing to write {root}: it is not empty and not an oilake lake (no {MARKER} marker, "
                f"no {CURRENT} link into {RELEASES}/; found {', '.join(found[:5])})"
            )

    def clean_leftovers(self) -> list[str]:
        """Remove what killed builds left: staging folders and releases never published (oilake's names only)."""
        self._drop_unfinished_record()
        removed = []
        if self.staging.is_dir():
            for leftover in sorted(self.staging.iterdir()):
                if leftover.is_dir() and not leftover.is_symlink() and is_release_id(leftover.name):
                    shutil.rmtree(leftover, ignore_errors=True)
                    removed.append(f"{STAGING}/{leftover.name}")
        published, current = set(self.published_ids()), self.current_id()
        for release_id in self.release_ids():
            if release_id not in published and release_id != current and not self.release_path(release_id).is_symlink():
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
        """Make ``release_id`` current: record it in the history, then one atomic replace of ``current``.

        The record comes first, so a publish can never be live and unrecorded; a last record
        naming a release that is not current is a swap that never happened (a build that died
        between the two) and is dropped. Nothing after the swap can fail the publish: a failure
        there is a ``note`` on stderr.
        """
        if not (self.release_path(release_id) / MANIFEST).is_file():
            raise LakeError(f"release {release_id} is not complete (no {MANIFEST}); it cannot be published")
        self._drop_unfinished_record()
        self._record(HistoryEvent(event, release_id, now(), socket.gethostname(), os.getpid()))
        try:
            temp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
            temp.unlink(missing_ok=True)
            os.symlink(f"{RELEASES}/{release_id}", temp)
            os.replace(temp, self.current)
        except BaseException:
            self._drop_unfinished_record()
            raise
        try:
            _fsync_dir(self.root)
            self._ensure_entry_links()
        except OSError as exc:
            log(
                f"note  release {release_id} is current, but the lake's entry links could not be made: "
                f"{exc.strerror or exc}; open {self.current}/{CATALOG} or run `oilake catalog --lake {self.root}`"
            )

    def _record(self, entry: HistoryEvent) -> None:
        """Append one whole line to the history and sync it (a torn line can only be the last one)."""
        line = history_to_text([entry]).encode("utf-8")
        try:
            with self.history_file.open("ab") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            self._drop_unfinished_record()
            raise LakeError(
                f"{self.history_file}: cannot record the {entry.event} of release {entry.release}: "
                f"{exc.strerror or exc}; the lake is unchanged",
                hint="free space (or fix permissions) in the lake folder, then run the command again",
            ) from exc

    def _drop_unfinished_record(self) -> None:
        """Cut a torn last line, and a last record of a swap that never happened, off the history."""
        try:
            data = self.history_file.read_bytes()
        except FileNotFoundError:
            return
        lines = data.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            lines.pop()  # a write that did not finish: its swap never happened
        events = [e for e in (history_line(line.decode("utf-8", "replace")) for line in lines) if e is not None]
        if _unfinished(events, self.current_id()):
            while lines and history_line(lines[-1].decode("utf-8", "replace")) is None:
                lines.pop()
            lines.pop()
        keep = sum(len(line) for line in lines)
        if keep != len(data):
            with self.history_file.open("r+b") as out:
                out.truncate(keep)
                os.fsync(out.fileno())

    def _ensure_entry_links(self) -> None:
        for name in entry_names():
            link = self.root / name
            if not link.is_symlink():
                os.symlink(f"{CURRENT}/{name}", link)

    def remove(self, release_id: str) -> None:
        shutil.rmtree(self.release_path(release_id), ignore_errors=True)


def _unfinished(events: list[HistoryEvent], current: str | None) -> bool:
    """True when the last record names a release the swap after it never made current.

    Every swap is recorded just before it happens, so only the last record can be one. (A
    current release missing from the history, as older oilake versions could leave, is not.)
    """
    if not events or events[-1].release == current:
        return False
    return current is None or any(e.release == current for e in events[:-1])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
