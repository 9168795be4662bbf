"""A lake on object storage (``s3://bucket/prefix`` or another fsspec URL).

A build runs locally in a scratch folder, then its release is uploaded under
``LAKE/releases/<id>/`` (files reused from the current release are copied inside
the store, not uploaded) with a catalog whose views read the uploaded files; the
catalog is checked through the object store, and only then the small pointer object
``LAKE/_current.json`` is written. Object stores replace an object atomically, so
readers see the old release or the new one, never a mix; a build killed during the
upload leaves an unpublished prefix that the next build deletes.

::

    s3://bucket/prefix/
      releases/<id>/…      tables, _manifest.json, lake.duckdb (views over s3://…/releases/<id>/…)
      _current.json        {"release": id, "catalog": "releases/<id>/lake.duckdb", …}
      _history.jsonl       every publish and rollback, oldest first
      _lock.json           the writer lock: holder and expiry, created only if absent (S3 conditional write)

The pointer is replaced by compare-and-swap (``If-Match`` on the ETag read under the lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pyarrow.parquet as pq

from pipeline.catalog.views import CATALOG, write_remote_catalog
from pipeline.core.contract import HistoryEvent, Manifest, Pointer, history_from_text, history_to_text
from pipeline.core.errors import LakeError
from pipeline.core.layout import files_pattern
from pipeline.core.progress import log
from pipeline.lake.lock import Holder, LakeLockedError, Lock, read_holder
from pipeline.lake.manifest import MANIFEST, now
from pipeline.lake.store import HISTORY, RELEASES, Store, StoreCapabilityError, new_release_id
from pipeline.read.redact import redact, redact_text

POINTER = "_current.json"
LOCK_OBJECT = "_lock.json"
CONDITIONAL_WRITES = ("s3", "s3a")  # protocols whose fsspec driver creates an object only if absent, atomically
LOCK_TTL = 3600.0  # seconds a lock object is held before another build may take it over (OILAKE_LOCK_TTL)
_UNREAD = object()  # no pointer ETag read yet (outside the lock)


class PointerMovedError(LakeError):
    """Another writer published while this one built: the compare-and-swap of ``_current.json`` failed."""

    hint = "run the command again: it builds on the release that is current now"


def _lock_ttl() -> float:
    try:
        return float(os.environ.get("OILAKE_LOCK_TTL", LOCK_TTL))
    except ValueError:
        return LOCK_TTL


class ObjectStore(Store):
    """A lake under an object-store prefix: pointer object, history, releases, conditional-write lock."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = redact(url.rstrip("/"))  # for messages, logs and results; the raw URL only opens the store
        try:
            self.fs, root = fsspec.core.url_to_fs(url.rstrip("/"), **(storage_options or {}))
        except (ValueError, ImportError) as exc:
            raise LakeError(f"cannot open lake {self.url!r}: {redact_text(str(exc))}") from exc
        self.filesystem = self.fs
        self.root = root.rstrip("/")
        self.fs.invalidate_cache()  # fsspec shares instances: forget listings another operation made
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.base = f"{self.protocol}://{self.root}"
        self.cache = Path(tempfile.gettempdir()) / "oilake-catalogs" / self.root.replace("/", "_")
        self._work: Path | None = None
        self._lent: dict[str, str] = {}  # relative path in the new release -> the release it is copied from
        self._seen: str | object | None = _UNREAD  # the pointer's ETag read under the lock (None: no pointer)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    # -- reading ---------------------------------------------------------------------------

    def pointer(self) -> Pointer | None:
        try:
            return Pointer.from_json(json.loads(self.fs.cat_file(self.path(POINTER))))
        except FileNotFoundError:
            return None

    def current_id(self) -> str | None:
        pointer = self.pointer()
        return None if pointer is None else pointer.release

    def history(self) -> list[HistoryEvent]:
        try:
            text = self.fs.cat_file(self.path(HISTORY)).decode("utf-8")
        except FileNotFoundError:
            return []
        return history_from_text(text, f"{self.url}/{HISTORY}")

    def release_ids(self) -> list[str]:
        try:
            entries = self.fs.ls(self.path(RELEASES), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def manifest(self, release_id: str) -> Manifest:
        where = f"{self.url}/{RELEASES}/{release_id}/{MANIFEST}"
        try:
            text = self.fs.cat_file(self.path(RELEASES, release_id, MANIFEST))
        except FileNotFoundError:
            raise LakeError(f"release {release_id} has no {MANIFEST} in {self.url}/{RELEASES}") from None
        return Manifest.from_text(text, where)

    def release_root(self, release_id: str) -> str:
        return self.path(RELEASES, release_id)

    def files(self, release_id: str, table: str) -> list[str]:
        root = self.release_root(release_id)
        found = self.fs.glob(f"{root}/{files_pattern(table)}")
        return sorted(str(p).removeprefix(f"{root}/") for p in found)

    def has_file(self, release_id: str, relative: str) -> bool:
        return bool(self.fs.exists(self.path(RELEASES, release_id, relative)))

    def parquet(self, release_id: str, relative: str) -> pq.ParquetFile:
        path = self.path(RELEASES, release_id, relative)
        try:
            return pq.ParquetFile(path, filesystem=self.fs)
        except FileNotFoundError:
            raise
        except Exception as exc:  # pyarrow raises ArrowInvalid for a file that is not Parquet
            raise OSError(str(exc)) from exc

    def catalog_copy(self, release_id: str) -> Path:
        """A local copy of a release's catalog (DuckDB opens database files from local disk)."""
        self.cache.mkdir(parents=True, exist_ok=True)
        target = self.cache / f"{release_id}-{CATALOG}"
        if not target.exists():
            temp = target.with_suffix(".part")
            self.fs.get_file(self.path(RELEASES, release_id, CATALOG), str(temp))
            temp.replace(target)
        return target

    def connect(self, release_id: str) -> duckdb.DuckDBPyConnection:
        try:
            catalog = self.catalog_copy(release_id)
        except FileNotFoundError as exc:
            raise duckdb.IOException(f"{self.url}/{RELEASES}/{release_id}/{CATALOG} does not exist") from exc
        con = duckdb.connect(str(catalog), read_only=True)
        con.register_filesystem(self.fs)
        return con

    # -- writing (callers hold the lock) ---------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[Lock]:
        """``_lock.json``, written only if absent (S3 ``If-None-Match: *``), deleted on the way out.

        The record names its holder and an expiry (``OILAKE_LOCK_TTL`` seconds, default an hour).
        A lock whose holder is known dead (same host, no such process) or whose expiry has passed
        is taken over: deleted only if it is still the object read (``If-Match`` on its ETag), then
        created again only if absent, so of two processes taking it over at most one gets it. The
        pointer's ETag is read under the lock; ``publish`` replaces the pointer only if it is
        unchanged, so even a build whose expired lock was taken over cannot publish over another.
        """
        if self.protocol not in CONDITIONAL_WRITES:
            raise StoreCapabilityError(
                f"{self.url}: {self.protocol}:// offers no conditional write to oilake, so two writers could not be "
                "kept apart; building, rolling back or pruning this lake needs a writer lock",
                hint="use an s3:// lake (S3 and S3-compatible stores with conditional writes), or a local folder",
            )
        holder = Holder.me(command, ttl=_lock_ttl())
        body = (json.dumps(asdict(holder)) + "\n").encode()
        stale = None
        try:
            etag = self._create(LOCK_OBJECT, body)
        except FileExistsError:
            stale = self._take_over()
            try:
                etag = self._create(LOCK_OBJECT, body)
            except FileExistsError:
                raise self._locked() from None
        try:
            self._seen = self._etag(POINTER)
            yield Lock(f"{self.url}/{LOCK_OBJECT}", holder, stale)
        finally:
            self._seen = _UNREAD
            with contextlib.suppress(FileNotFoundError, OSError):
                self._delete(LOCK_OBJECT, etag)  # only our own record: a lock taken over stays its new holder's

    def _take_over(self) -> Holder:
        """Delete the lock object when its holder is dead or its expiry passed; else ``LakeLockedError``."""
        etag = self._etag(LOCK_OBJECT)
        if etag is None:
            return Holder(pid=-1, host="?", started="?", command="a lock released meanwhile")
        try:
            text = self.fs.cat_file(self.path(LOCK_OBJECT)).decode("utf-8", "replace")
        except FileNotFoundError:
            return Holder(pid=-1, host="?", started="?", command="a lock released meanwhile")
        holder = read_holder(text)
        if holder is None or not (holder.dead_here() or holder.expired()):
            raise self._locked(holder)
        why = "its process is gone" if holder.dead_here() else f"it expired at {holder.expires}"
        try:
            self._delete(LOCK_OBJECT, etag)
        except FileNotFoundError:
            pass  # released (or taken over and released) meanwhile: try to create it
        except OSError:
            raise self._locked() from None  # another process took it over first
        log(f"lock  taking over the lock of {holder.describe()}: {why}")
        return holder

    def _locked(self, holder: Holder | None = None) -> LakeLockedError:
        if holder is None:
            try:
                holder = read_holder(self.fs.cat_file(self.path(LOCK_OBJECT)).decode("utf-8", "replace"))
            except FileNotFoundError:
                holder = None
        return LakeLockedError(
            self.url, holder,
            note="; an object store cannot tell whether that process is still running on another host, "
            "so the lock is taken over only once it expires",
            hint=f"wait for that build to finish; if it died, delete {self.url}/{LOCK_OBJECT} and run again "
            "(or wait until the lock expires)",
        )  # fmt: skip

    # -- conditional requests (S3: If-Match / If-None-Match) -------------------------------

    def _bucket_key(self, name: str) -> tuple[str, str]:
        bucket, _, key = self.path(name).partition("/")
        return bucket, key

    def _etag(self, name: str) -> str | None:
        """The ETag of an object at the lake root, or None when it does not exist."""
        bucket, key = self._bucket_key(name)
        try:
            return str(self.fs.call_s3("head_object", Bucket=bucket, Key=key)["ETag"])
        except FileNotFoundError:
            return None

    def _create(self, name: str, body: bytes) -> str:
        """Write an object only if it does not exist (``FileExistsError`` else); returns its ETag."""
        bucket, key = self._bucket_key(name)
        out = self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        self.fs.invalidate_cache(self.path(name))
        return str(out["ETag"])

    def _replace(self, name: str, body: bytes, etag: str) -> str:
        """Replace an object only if its ETag is still ``etag`` (``OSError`` else); returns the new ETag."""
        bucket, key = self._bucket_key(name)
        out = self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body, IfMatch=etag)
        self.fs.invalidate_cache(self.path(name))
        return str(out["ETag"])

    def _delete(self, name: str, etag: str) -> None:
        bucket, key = self._bucket_key(name)
        self.fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
        self.fs.invalidate_cache(self.path(name))

    def check_writable(self) -> None:
        try:
            names = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in self.fs.ls(self.root, detail=False, refresh=True)}
        except FileNotFoundError:
            return
        foreign = sorted(names - {RELEASES, POINTER, HISTORY, LOCK_OBJECT})
        if foreign and POINTER not in names:
            raise LakeError(
                f"refusing to write {self.url}: it holds objects and is not an oilake lake (no {POINTER}; "
                f"found {', '.join(foreign[:5])}); choose a new or empty prefix with --lake"
            )

    def clean_leftovers(self) -> list[str]:
        """Delete releases never published (uploads of builds that did not finish)."""
        published, current = set(self.published_ids()), self.current_id()
        removed = []
        for release_id in self.release_ids():
            if release_id not in published and release_id != current:
                self.remove(release_id)
                removed.append(f"{RELEASES}/{release_id}")
        return removed

    def new_release(self, work: Path | None = None) -> tuple[str, Path]:
        self._work = Path(tempfile.mkdtemp(prefix="oilake-remote-", dir=work))
        self._lent = {}
        taken = set(self.release_ids())
        release_id = new_release_id(lambda r: r in taken)
        staging = self._work / release_id
        staging.mkdir()
        return release_id, staging

    def lend(self, release_id: str, relative: str, staging: Path) -> None:
        """Download a published file into ``staging``; ``promote`` copies it inside the store, not uploads it."""
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self.path(RELEASES, release_id, relative), str(target))
        self._lent[relative] = release_id

    def local_copy(self, release_id: str, relative: str) -> Path:
        if self._work is None:
            raise LakeError("local_copy needs a build in progress (new_release)")  # pragma: no cover
        target = self._work / "donor" / release_id / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(self.path(RELEASES, release_id, relative), str(target))
        return target

    def promote(self, staging: Path, release_id: str) -> None:
        """Upload the release (copying lent files inside the store), then its catalog over the uploaded files."""
        log(f"upload release {release_id} → {self.url}/{RELEASES}/{release_id}/")
        for local in sorted(p for p in staging.rglob("*") if p.is_file()):
            relative = local.relative_to(staging).as_posix()
            if relative == CATALOG:
                continue
            target = self.path(RELEASES, release_id, relative)
            if relative in self._lent:
                self.fs.copy(self.path(RELEASES, self._lent[relative], relative), target)
            else:
                self.fs.put_file(str(local), target)
        manifest = Manifest.from_text((staging / MANIFEST).read_text(encoding="utf-8"), str(staging / MANIFEST))
        catalog = write_remote_catalog(staging / CATALOG, f"{self.base}/{RELEASES}/{release_id}", self.fs, manifest)
        self.fs.put_file(str(catalog), self.path(RELEASES, release_id, CATALOG))
        self.cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(catalog, self.cache / f"{release_id}-{CATALOG}")

    def cleanup(self, staging: Path) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def publish(self, release_id: str, event: str = "publish") -> None:
        """Compare-and-swap the pointer object (the publishing step), then record it in the history.

        The pointer is replaced only if it is still the object read when the lock was taken
        (``If-Match`` on its ETag; ``If-None-Match: *`` for the first publish), so of two
        writers that both think they hold the lake exactly one publishes; the other gets
        ``PointerMovedError`` and its release stays unpublished. The history is rewritten after
        the swap; a failure there is a note (the next publish records the current release).
        """
        manifest = self.manifest(release_id)
        at = now()
        pointer = Pointer(
            release_id, f"{RELEASES}/{release_id}/{CATALOG}", f"{RELEASES}/{release_id}/{MANIFEST}", at,
            manifest.table_rows(),
        )  # fmt: skip
        before = self.pointer()
        expected = self._etag(POINTER) if self._seen is _UNREAD else self._seen
        body = (json.dumps(pointer.to_json(), indent=2) + "\n").encode()
        try:
            if expected is None:
                self._seen = self._create(POINTER, body)
            else:
                self._seen = self._replace(POINTER, body, str(expected))
        except PermissionError:
            raise
        except OSError as exc:
            if not isinstance(exc, FileExistsError | FileNotFoundError) and self._etag(POINTER) == expected:
                raise  # not a conflict: the store failed
            raise PointerMovedError(
                f"{self.url}/{POINTER} changed while release {release_id} was being built (another writer "
                f"published); release {release_id} was not published"
            ) from exc
        history = self.history()
        if before is not None and (not history or history[-1].release != before.release):
            history.append(HistoryEvent("publish", before.release, before.published))  # a record that was lost
        history.append(HistoryEvent(event, release_id, at))
        try:
            self.fs.pipe_file(self.path(HISTORY), history_to_text(history).encode())
        except OSError as exc:
            log(f"note  release {release_id} is current, but {self.url}/{HISTORY} could not be written: {exc}")

    def remove(self, release_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(RELEASES, release_id), recursive=True)
        (self.cache / f"{release_id}-{CATALOG}").unlink(missing_ok=True)
