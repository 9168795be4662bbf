"""The lake's on-disk layout: immutable releases, one pointer, and stable entry links.

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
release or the new one, never a mix. A release is never modified after it is
published; a rebuild hard-links the files it reuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.catalog.views import CATALOG
from pipeline.core.errors import LakeError
from pipeline.core.schema import all_schemas
from pipeline.lake.manifest import MANIFEST

RELEASES = "releases"
CURRENT = "current"
STAGING = ".staging"
HISTORY = "_history.jsonl"
DEFAULT_KEEP = 2


def entry_names() -> list[str]:
    """Names at the lake root that link into the current release."""
    return [CATALOG, MANIFEST, *all_schemas()]


@dataclass(frozen=True)
class Release:
    id: str
    path: Path
    current: bool
    published: bool

    def manifest(self) -> dict[str, object]:
        return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))


class LakeLayout:
    """Paths and the few atomic steps that change what a lake's readers see."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / RELEASES
        self.current = root / CURRENT
        self.staging = root / STAGING
        self.history_file = root / HISTORY

    # -- reading ---------------------------------------------------------------------------

    def is_lake(self) -> bool:
        return self.current.is_symlink()

    def check_writable(self) -> None:
        """Refuse a folder that holds something other than an oilake lake."""
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
        ours = {RELEASES, STAGING, HISTORY, ".lock"}
        foreign = sorted(p.name for p in root.iterdir() if p.name not in ours and not p.name.startswith(f".{CURRENT}."))
        if foreign:
            raise LakeError(
                f"refusing to replace {root}: it exists and is not an oilake lake (no {MANIFEST}; "
                f"found {', '.join(foreign[:5])}); choose a new or empty folder with --lake"
            )

    def current_id(self) -> str | None:
        if not self.current.is_symlink():
            return None
        return Path(os.readlink(self.current)).name

    def current_release(self) -> Path | None:
        release_id = self.current_id()
        if release_id is None:
            return None
        path = self.releases / release_id
        return path if path.is_dir() else None

    def history(self) -> list[dict[str, str]]:
        if not self.history_file.exists():
            return []
        lines = self.history_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def published_ids(self) -> list[str]:
        """Every release ever made current, most recent publication last (one entry per release)."""
        order: list[str] = []
        for event in self.history():
            if event["release"] in order:
                order.remove(event["release"])
            order.append(event["release"])
        current = self.current_id()
        if current is not None and (not order or order[-1] != current):
            if current in order:
                order.remove(current)
            order.append(current)
        return order

    def list_releases(self) -> list[Release]:
        """Releases on disk, oldest first."""
        published = set(self.published_ids())
        current = self.current_id()
        found = sorted(p for p in self.releases.iterdir() if p.is_dir()) if self.releases.is_dir() else []
        return [Release(p.name, p, p.name == current, p.name in published) for p in found]

    # -- writing (callers hold the lock) ---------------------------------------------------

    def new_release_id(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        release_id, n = stamp, 1
        while (self.releases / release_id).exists() or (self.staging / release_id).exists():
            n += 1
            release_id = f"{stamp}-{n}"
        return release_id

    def new_staging(self, release_id: str) -> Path:
        path = self.staging / release_id
        path.mkdir(parents=True)
        return path

    def clean_leftovers(self) -> list[str]:
        """Remove what killed builds left: staging folders and releases never published."""
        removed = []
        if self.staging.is_dir():
            for leftover in sorted(self.staging.iterdir()):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(f"{STAGING}/{leftover.name}")
        for release in self.list_releases():
            if not release.published and not release.current:
                shutil.rmtree(release.path, ignore_errors=True)
                removed.append(f"{RELEASES}/{release.id}")
        for temp in self.root.glob(f".{CURRENT}.*.tmp"):
            temp.unlink(missing_ok=True)
            removed.append(temp.name)
        return removed

    def promote(self, staging: Path, release_id: str) -> Path:
        """Move a finished staging folder into ``releases/`` (not yet current)."""
        self.releases.mkdir(exist_ok=True)
        target = self.releases / release_id
        os.rename(staging, target)
        with contextlib.suppress(OSError):
            self.staging.rmdir()  # tidy when no other staging folder is left
        return target

    def publish(self, release_id: str, event: str = "publish") -> None:
        """Make ``release_id`` current: one atomic replace of the ``current`` link."""
        if not (self.releases / release_id / MANIFEST).is_file():
            raise LakeError(f"release {release_id} is not complete (no {MANIFEST}); it cannot be published")
        temp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        temp.unlink(missing_ok=True)
        os.symlink(f"{RELEASES}/{release_id}", temp)
        os.replace(temp, self.current)
        _fsync_dir(self.root)
        self._ensure_entry_links()
        self._record(event, release_id)

    def _ensure_entry_links(self) -> None:
        for name in entry_names():
            link = self.root / name
            if not link.is_symlink():
                os.symlink(f"{CURRENT}/{name}", link)

    def _record(self, event: str, release_id: str) -> None:
        entry = {
            "event": event,
            "release": release_id,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        with self.history_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def prune(self, keep: int) -> list[str]:
        """Delete all but the current release and the ``keep - 1`` most recently published others."""
        current = self.current_id()
        others = [r for r in reversed(self.published_ids()) if r != current]
        keep_ids = {current, *others[: max(keep - 1, 0)]}
        removed = []
        for release in self.list_releases():
            if release.id not in keep_ids:
                shutil.rmtree(release.path, ignore_errors=True)
                removed.append(release.id)
        return removed

    def rollback(self, to: str | None = None) -> str:
        """Make an older kept release current again; returns its id."""
        current = self.current_id()
        if current is None:
            raise LakeError(f"{self.root} has no published release to roll back from")
        kept = {r.id for r in self.list_releases()}
        if to is None:
            candidates = [r for r in reversed(self.published_ids()) if r != current and r in kept]
            if not candidates:
                raise LakeError(f"{self.root} keeps no release older than {current}; nothing to roll back to")
            to = candidates[0]
        elif to not in kept:
            listing = ", ".join(sorted(kept)) or "none"
            raise LakeError(f"release {to!r} is not in {self.releases} (kept: {listing})")
        if to == current:
            raise LakeError(f"release {to} is already current")
        self.publish(to, event="rollback")
        return to


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
