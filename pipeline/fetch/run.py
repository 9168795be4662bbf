"""Fetch the selected official files: skip those verified earlier, download the rest, verify, publish, record.

Each file is downloaded into ``NAME.part`` (resumed after a cut connection or an interrupted run), checked
against the list's byte size and md5, and only then renamed to ``NAME``. A file that fails the check is moved
aside as ``NAME.bad-md5`` / ``NAME.bad-size`` and reported: it is never left under its official name.
``DEST`` may be a folder or an fsspec URL (``s3://...``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from pipeline.core.official import OfficialFile, official_files
from pipeline.families.selection import select_families, select_splits
from pipeline.fetch.dest import Dest
from pipeline.fetch.transfer import CHUNK, Downloader, Failed
from pipeline.read.redact import redact

PART_SUFFIX = ".part"


@dataclass
class FetchOptions:
    """What to download, from where, into where, and how patiently."""

    dest: str
    only: Sequence[str] | None = None
    splits: Sequence[str] | None = None
    base_url: str | None = None  # instead of each file's official url_prefix
    files: Sequence[OfficialFile] | None = None  # the list to choose from (default: the official list)
    workers: int = 4
    retries: int = 5
    backoff: float = 1.0  # seconds before the first retry, doubled for each further one
    timeout: float = 60.0  # seconds without data before a read counts as failed
    storage_options: Mapping[str, object] | None = None  # for a remote DEST
    progress: bool | None = None  # a progress bar (None: when stderr is a terminal)


@dataclass
class FileResult:
    """What happened to one file: ``fetched``, ``skipped`` (already verified) or ``failed``."""

    name: str
    status: str
    bytes: int = 0  # bytes transferred this run
    detail: str = ""


@dataclass
class FetchSummary:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.results)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def describe(self) -> str:
        """One line: counts, bytes, time and rate."""
        rate = self.bytes / self.seconds if self.seconds > 0 else 0.0
        return (
            f"fetched {self.count('fetched')}, skipped {self.count('skipped')} (already verified), "
            f"failed {self.count('failed')} of {len(self.results)} file(s); "
            f"{_size(self.bytes)} downloaded in {self.seconds:.1f} s ({_size(rate)}/s)"
        )


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover


def select_files(options: FetchOptions) -> list[OfficialFile]:
    """The files ``--only`` and ``--splits`` select (the rules of ``oilake build``)."""
    families = select_families(options.only)
    splits = select_splits(options.splits)
    files = official_files() if options.files is None else options.files
    return [f for f in files if f.family in families and (f.split is None or f.split in splits)]


def file_url(official: OfficialFile, base_url: str | None) -> str:
    """Where ``official`` is downloaded from: ``base_url`` + name, else its official URL."""
    return f"{base_url.rstrip('/')}/{official.name}" if base_url else official.url


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(options: FetchOptions) -> FetchSummary:
    """Download the selected files into ``options.dest``; per-file failures are in the summary, not raised."""
    started = time.perf_counter()
    files = select_files(options)
    with _Fetcher(options) as fetcher:
        results = fetcher.run(files)
    return FetchSummary(results=results, seconds=time.perf_counter() - started)


class _Fetcher:
    """One fetch run: the state file, progress bar and downloader that the workers share."""

    def __init__(self, options: FetchOptions) -> None:
        self.options = options
        self.dest = Dest(options.dest, options.storage_options)
        self.state = self.dest.read_state()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        interactive = sys.stderr.isatty() if options.progress is None else options.progress
        self.bar = tqdm(
            total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="fetch", disable=not interactive,
            file=sys.stderr, dynamic_ncols=True,
        )  # fmt: skip
        self.downloader = Downloader(
            retries=options.retries, backoff=options.backoff, timeout=options.timeout, workers=options.workers,
            bar=self.bar, stop=self.stop, log=self.log,
        )  # fmt: skip

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
        self.downloader.close()

    def log(self, message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    def run(self, files: list[OfficialFile]) -> list[FileResult]:
        self.bar.total = sum(f.bytes or 0 for f in files) or None
        self.bar.refresh()
        with ThreadPoolExecutor(max_workers=max(self.options.workers, 1), thread_name_prefix="oilake-fetch") as pool:
            futures = [pool.submit(self.one, f) for f in files]
            try:
                return [future.result() for future in futures]
            except KeyboardInterrupt:
                self.stop.set()
                for future in futures:
                    future.cancel()
                raise

    # --- one file ---

    def one(self, official: OfficialFile) -> FileResult:
        name = official.name
        try:
            found = self.already_there(official)
            if found:
                self.bar.update(official.bytes or 0)
                self.log(f"skip  {name}: {found}")
                return FileResult(name, "skipped", detail=found)
            transferred, how = self.download(official)
        except Failed as exc:
            self.log(f"FAIL  {name}: {exc}")
            return FileResult(name, "failed", detail=str(exc))
        self.log(f"ok    {name}: {_size(transferred)} downloaded, {how}")
        return FileResult(name, "fetched", bytes=transferred, detail=how)

    def already_there(self, official: OfficialFile) -> str | None:
        """Why ``official`` needs no download (verified by an earlier run, or checked now), else None.

        A local file under the official name that is not recorded and does not check out is moved aside.
        """
        record = self.state.get(official.name)
        size = self.dest.size(official.name)
        if size is None:
            return None
        if not isinstance(record, dict):  # absent, or an entry the state file should not hold
            record = {}
        if record.get("bytes") == size and (not official.md5 or record.get("md5") == official.md5):
            return "verified earlier"
        if not self.dest.local:
            return None  # not recorded: downloaded again rather than read back to hash
        path = self.dest.root / official.name
        md5 = md5_of(path) if official.md5 else ""
        if official.md5 and size == official.bytes and md5 == official.md5:
            self.record(official, size, md5)
            return "already there, md5 verified"
        if not official.md5 and official.bytes is not None and size == official.bytes:
            self.record(official, size, md5_of(path))
            return "already there, size verified (no official md5)"
        bad = self.set_aside(path, f"{official.name}.bad-md5" if official.md5 else f"{official.name}.unverified")
        self.log(f"note  {official.name}: the file already there does not check out; moved aside as {bad}")
        return None

    def download(self, official: OfficialFile) -> tuple[int, str]:
        """Download, verify and publish ``official``; returns the bytes transferred and how it was verified."""
        name = official.name
        part = self.dest.staging / f"{name}{PART_SUFFIX}"
        transferred = self.downloader.transfer(official, file_url(official, self.options.base_url), part)
        size, md5 = part.stat().st_size, md5_of(part)
        if official.bytes is not None and size != official.bytes:
            bad = self.set_aside(part, f"{name}.bad-size")
            raise Failed(f"size {size:,} differs from the official {official.bytes:,} bytes; kept aside as {bad}")
        if official.md5 and md5 != official.md5:
            bad = self.set_aside(part, f"{name}.bad-md5")
            raise Failed(f"md5 {md5} differs from the official {official.md5}; kept aside as {bad}")
        if official.md5:
            how = "md5 verified"
        elif official.bytes is not None:
            how = "size verified (no official md5)"
        else:
            how = "complete (no official size or md5 to check)"
        try:
            self.dest.publish(part, name)
        except OSError as exc:
            raise Failed(f"cannot write {self.dest.where(name)}: {exc}") from exc
        self.record(official, size, md5)
        return transferred, how

    def set_aside(self, path: Path, name: str) -> str:
        target = (self.dest.root if self.dest.local else self.dest.staging) / name
        os.replace(path, target)
        return str(target)

    def record(self, official: OfficialFile, size: int, md5: str) -> None:
        with self.lock:
            self.state[official.name] = {
                "bytes": size, "md5": md5, "official_md5": official.md5,
                "url": redact(file_url(official, self.options.base_url)),
                "verified": datetime.now(UTC).isoformat(timespec="seconds"),
            }  # fmt: skip
            self.dest.write_state(self.state)
