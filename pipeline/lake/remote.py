"""A lake on object storage (``s3://bucket/prefix`` or any fsspec URL).

The build runs locally into a temporary lake, then its release is uploaded under
``LAKE/releases/<id>/`` together with a catalog whose views read the uploaded files,
the catalog is checked against the manifest through the object store, and only then
the small pointer object ``LAKE/_current.json`` is written. Object stores replace an
object atomically, so readers see the old release or the new one, never a mix; a build
killed during the upload leaves an unpublished prefix that the next build deletes.

::

    s3://bucket/prefix/
      releases/<id>/…      tables, _manifest.json, lake.duckdb (views over s3://…/releases/<id>/…)
      _current.json        {"release": id, "catalog": "releases/<id>/lake.duckdb", …}
      _history.jsonl       every publish, oldest first

There is no lock on object storage: two concurrent builds each publish a complete
release and the last pointer written wins.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import fsspec

from pipeline.catalog.views import CATALOG, write_remote_catalog
from pipeline.core.errors import LakeError, ReconciliationError
from pipeline.core.progress import log
from pipeline.lake.local import HISTORY, RELEASES
from pipeline.lake.manifest import MANIFEST

if TYPE_CHECKING:
    from pipeline.build.plan import BuildOptions

POINTER = "_current.json"


def is_remote(lake: str | Path) -> bool:
    """True for a lake URL such as ``s3://bucket/prefix`` (``file://`` counts as local)."""
    text = str(lake)
    return "://" in text and not text.startswith("file://")


class RemoteLake:
    """The object-store side of a remote lake: pointer, history, releases."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        except (ValueError, ImportError) as exc:
            raise LakeError(f"cannot open lake {url!r}: {exc}") from exc
        self.root = root.rstrip("/")
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.base = f"{protocol}://{self.root}"

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def pointer(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.fs.cat_file(self.path(POINTER)))
        except FileNotFoundError:
            return None

    def current_id(self) -> str | None:
        pointer = self.pointer()
        return None if pointer is None else str(pointer["release"])

    def history(self) -> list[dict[str, Any]]:
        try:
            text = self.fs.cat_file(self.path(HISTORY)).decode("utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def release_ids(self) -> list[str]:
        try:
            entries = self.fs.ls(self.path(RELEASES), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def upload(self, release: Path, release_id: str) -> None:
        """Copy a local release folder (everything but its local catalog) to ``releases/<id>/``."""
        for local in sorted(p for p in release.rglob("*") if p.is_file()):
            relative = local.relative_to(release).as_posix()
            if relative == CATALOG:
                continue
            self.fs.put_file(str(local), self.path(RELEASES, release_id, relative))

    def publish(self, release_id: str, manifest: dict[str, object]) -> None:
        """Write the pointer object (the publishing step), then record it in the history."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        pointer = {
            "release": release_id,
            "catalog": f"{RELEASES}/{release_id}/{CATALOG}",
            "manifest": f"{RELEASES}/{release_id}/{MANIFEST}",
            "published": now,
            "tables": {name: info["rows"] for name, info in manifest["tables"].items()},  # type: ignore[union-attr]
        }
        self.fs.pipe_file(self.path(POINTER), (json.dumps(pointer, indent=2) + "\n").encode())
        history = [*self.history(), {"event": "publish", "release": release_id, "at": now}]
        self.fs.pipe_file(self.path(HISTORY), "".join(json.dumps(e) + "\n" for e in history).encode())

    def prune(self, keep: int) -> list[str]:
        """Delete releases never published and all but the ``keep`` most recently published ones."""
        current = self.current_id()
        published: list[str] = []
        for event in reversed(self.history()):
            if event["release"] not in published:
                published.append(event["release"])
        keep_ids = {current, *[r for r in published if r != current][: max(keep - 1, 0)]}
        removed = []
        for release_id in self.release_ids():
            if release_id not in keep_ids:
                self.fs.rm(self.path(RELEASES, release_id), recursive=True)
                removed.append(release_id)
        return removed

    def download_catalog(self, release_id: str, cache: Path) -> Path:
        """A local copy of a release's catalog (DuckDB opens database files from local disk)."""
        target = cache / f"{release_id}-{CATALOG}"
        if not target.exists():
            temp = target.with_suffix(".part")
            self.fs.get_file(self.path(RELEASES, release_id, CATALOG), str(temp))
            temp.replace(target)
        return target


def build_remote_lake(options: BuildOptions, build_local: Any) -> dict[str, object]:
    """Build locally (``build_local(options)``), upload the release, check it remotely, then publish."""
    remote = RemoteLake(str(options.lake), options.lake_storage_options)
    work = Path(tempfile.mkdtemp(prefix="oilake-remote-", dir=options.work))
    try:
        manifest = build_local(replace(options, lake=work / "lake", full=True, keep=1))
        release_id = str(manifest["release"])
        release = work / "lake" / RELEASES / release_id
        log(f"upload release {release_id} → {remote.url}/{RELEASES}/{release_id}/")
        remote.upload(release, release_id)
        tables = {name for name, info in manifest["tables"].items() if info["files"]}  # type: ignore[union-attr]
        catalog = write_remote_catalog(work / CATALOG, f"{remote.base}/{RELEASES}/{release_id}", remote.fs, tables)
        _check_remote_catalog(catalog, remote, manifest)
        remote.fs.put_file(str(catalog), remote.path(RELEASES, release_id, CATALOG))
        remote.publish(release_id, manifest)
        for removed in remote.prune(options.keep):
            log(f"prune release {removed} (--keep {options.keep})")
        log(f"publish release {release_id} at {remote.url}")
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_remote_catalog(catalog: Path, remote: RemoteLake, manifest: dict[str, object]) -> None:
    """Every view of the catalog, read through the object store, counts the manifest's rows."""
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        con.register_filesystem(remote.fs)
        for name, info in manifest["tables"].items():  # type: ignore[union-attr]
            counted = con.execute(f'select count(*) from "{name}"').fetchall()[0][0]
            if counted != info["rows"]:
                raise ReconciliationError(
                    f"{remote.url}: uploaded {name} counts {counted} rows, the manifest {info['rows']}; "
                    "the pointer was not moved"
                )
    finally:
        con.close()
