"""Pin one release for readers outside oilake (Spark, Dask, Ray, …): its id and the URL of its root.

A reader that lists ``LAKE/<table>`` while a build publishes may mix two releases' listings (and
then fails: file names carry a digest of their bytes); a job that resolves the current release
once and reads ``releases/<id>/`` reads one release, as long as ``--keep`` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import LakeError
from pipeline.lake.store import RELEASES, open_store


@dataclass(frozen=True)
class Pinned:
    """One release of a lake: ``url`` is its root as other engines name it (``file:/…``, ``s3://…``)."""

    release: str
    url: str

    def table_url(self, table: str) -> str:
        return f"{self.url}/{table}"


def pin_release(
    lake: str | Path,
    release_id: str | None = None,
    storage_options: dict[str, Any] | None = None,
    scheme: str | None = None,
) -> Pinned:
    """The current release of ``lake`` (or ``release_id``), resolved now; ``LakeError`` when it is not kept.

    ``scheme`` replaces the URL scheme of a lake on object storage (``s3a`` for Hadoop's S3A connector).
    """
    store = open_store(lake, storage_options)
    release_id = release_id or store.require_current()
    kept = store.release_ids()
    if release_id not in kept:
        listing = ", ".join(kept) or "none"
        raise LakeError(
            f"release {release_id!r} is not in {store.url}/{RELEASES} (kept: {listing})",
            hint="`oilake releases --lake LAKE` lists the kept releases",
        )
    root = store.release_root(release_id)
    if store.filesystem is None:
        return Pinned(release_id, f"file:{Path(root).as_posix()}")
    protocol = store.filesystem.protocol
    protocol = protocol if isinstance(protocol, str) else protocol[0]
    return Pinned(release_id, f"{scheme or protocol}://{root}")
