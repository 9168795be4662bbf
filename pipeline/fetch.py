"""Download official files: parallel, resumable, retried, and verified against the official size and md5.

Each file is downloaded into ``NAME.part`` (resumed with an HTTP Range request after a cut connection or
an interrupted run), checked against the list's byte size and md5, and only then renamed to ``NAME``. A
file that fails the check is moved aside as ``NAME.bad-md5`` / ``NAME.bad-size`` and reported: it is never
left under its official name. Verified files are recorded in ``DEST/.oilake-fetch.json``; a re-run skips
those still present with their recorded size. ``DEST`` may be a folder or an fsspec URL (``s3://...``):
remote files are staged in a local folder and uploaded once verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import fsspec
import urllib3
from tqdm import tqdm

from pipeline.core.errors import FetchError
from pipeline.core.official import OfficialFile, official_files
from pipeline.families.selection import select_families, select_splits
from pipeline.read.sources import protocol_of, redact, resolve_storage_options

STATE_FILE = ".oilake-fetch.json"
PART_SUFFIX = ".part"
CHUNK = 1 << 20
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)")


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


class _Transient(Exception):
    """A failure worth another try (the download resumes where it stopped)."""


class _Failed(Exception):
    """A failure no retry will fix."""


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


class _Dest:
    """The destination: a local folder, or a remote prefix with a local staging folder."""

    def __init__(self, dest: str, storage_options: Mapping[str, object] | None) -> None:
        self.display = redact(dest)
        self.local = protocol_of(dest) == "file"
        if self.local:
            self.root = Path(dest.removeprefix("file://")).expanduser()
            self.staging = self.root
            self.fs = None
        else:
            self.fs, root = fsspec.core.url_to_fs(dest, **resolve_storage_options(dest, storage_options))
            self.root = Path(root.rstrip("/"))  # used only as a posix path on the remote side
            digest = hashlib.sha1(dest.encode()).hexdigest()[:12]
            self.staging = Path(tempfile.gettempdir()) / f"oilake-fetch-{digest}"
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FetchError(f"cannot create {self.staging}: {exc}") from exc

    def remote(self, name: str) -> str:
        return f"{self.root.as_posix()}/{name}"

    def where(self, name: str) -> str:
        return str(self.root / name) if self.local else redact(self.fs.unstrip_protocol(self.remote(name)))  # type: ignore[union-attr]

    def size(self, name: str) -> int | None:
        """Size of the published file ``name``, or None when absent."""
        if self.local:
            path = self.root / name
            return path.stat().st_size if path.is_file() else None
        assert self.fs is not None
        try:
            return int(self.fs.info(self.remote(name))["size"])
        except FileNotFoundError:
            return None

    def read_state(self) -> dict[str, dict[str, object]]:
        try:
            if self.local:
                text = (self.root / STATE_FILE).read_text("utf-8")
            else:
                assert self.fs is not None
                text = self.fs.cat_file(self.remote(STATE_FILE)).decode("utf-8")
            files = json.loads(text).get("files", {})
            return files if isinstance(files, dict) else {}
        except (FileNotFoundError, ValueError, AttributeError):
            return {}

    def write_state(self, files: dict[str, dict[str, object]]) -> None:
        data = json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True).encode("utf-8")
        if self.local:
            temporary = self.root / f"{STATE_FILE}.tmp-{os.getpid()}-{threading.get_ident()}"
            temporary.write_bytes(data)
            os.replace(temporary, self.root / STATE_FILE)
        else:
            assert self.fs is not None
            self.fs.pipe_file(self.remote(STATE_FILE), data)

    def publish(self, part: Path, name: str) -> None:
        if self.local:
            os.replace(part, self.root / name)
        else:
            assert self.fs is not None
            self.fs.put_file(str(part), self.remote(name))
            part.unlink()


class _Fetcher:
    def __init__(self, options: FetchOptions) -> None:
        self.options = options
        self.dest = _Dest(options.dest, options.storage_options)
        self.state = self.dest.read_state()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.retry = urllib3.Retry(
            total=options.retries, connect=options.retries, read=options.retries, status=options.retries,
            backoff_factor=options.backoff, status_forcelist=TRANSIENT_STATUS, allowed_methods={"GET"},
            respect_retry_after_header=True, raise_on_status=False,
        )  # fmt: skip
        self.http = urllib3.PoolManager(
            num_pools=8, maxsize=max(options.workers, 1), retries=self.retry,
            timeout=urllib3.Timeout(connect=min(options.timeout, 30.0), read=options.timeout),
        )  # fmt: skip
        interactive = sys.stderr.isatty() if options.progress is None else options.progress
        self.bar = tqdm(
            total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="fetch", disable=not interactive,
            file=sys.stderr, dynamic_ncols=True,
        )  # fmt: skip

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
        self.http.clear()

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
        except _Failed as exc:
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
        recorded = isinstance(record, dict) and record.get("bytes") == size
        if recorded and (not official.md5 or record.get("md5") == official.md5):  # type: ignore[union-attr]
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
        transferred = self.transfer(official, part)
        size, md5 = part.stat().st_size, md5_of(part)
        if official.bytes is not None and size != official.bytes:
            bad = self.set_aside(part, f"{name}.bad-size")
            raise _Failed(f"size {size:,} differs from the official {official.bytes:,} bytes; kept aside as {bad}")
        if official.md5 and md5 != official.md5:
            bad = self.set_aside(part, f"{name}.bad-md5")
            raise _Failed(f"md5 {md5} differs from the official {official.md5}; kept aside as {bad}")
        if official.md5:
            how = "md5 verified"
        elif official.bytes is not None:
            how = "size verified (no official md5)"
        else:
            how = "complete (no official size or md5 to check)"
        try:
            self.dest.publish(part, name)
        except OSError as exc:
            raise _Failed(f"cannot write {self.dest.where(name)}: {exc}") from exc
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

    # --- transfer with resume ---

    def transfer(self, official: OfficialFile, part: Path) -> int:
        """Bring ``part`` to the whole file, resuming after transient failures; returns bytes transferred."""
        transferred, fruitless = 0, 0
        if part.exists():
            self.bar.update(part.stat().st_size)  # left by an earlier run: counted as done
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if official.bytes is not None and offset > official.bytes:
                part.unlink()
                offset = 0
            if official.bytes is not None and offset == official.bytes:
                return transferred  # the part holds every byte already (an earlier run stopped before checking)
            try:
                return transferred + self.transfer_once(official, part, offset)
            except _Transient as exc:
                now = part.stat().st_size if part.exists() else 0
                transferred += max(now - offset, 0)
                fruitless = 0 if now > offset else fruitless + 1
                if fruitless > self.options.retries:
                    raise _Failed(f"gave up after {self.options.retries} retries: {exc}") from exc
                self.log(f"retry {official.name}: {exc}; resuming at byte {now:,}")
                time.sleep(self.options.backoff * 2 ** max(fruitless - 1, 0))

    def transfer_once(self, official: OfficialFile, part: Path, offset: int) -> int:
        url = file_url(official, self.options.base_url)
        shown = redact(url)
        clean, headers = _auth_out_of_url(url)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = self.http.request("GET", clean, headers=headers, preload_content=False)
        except urllib3.exceptions.MaxRetryError as exc:
            raise _Failed(f"cannot reach {shown} after {self.options.retries} retries: {exc.reason}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _Transient(f"request failed: {exc}") from exc
        try:
            start, total = self.check_response(response, official, shown, offset)
            received = 0 if start is None else self.receive(response, part, start, total, official)
        except BaseException:
            response.close()  # not read to the end: the connection cannot be reused
            raise
        response.release_conn()
        return received

    def check_response(
        self, response: urllib3.BaseHTTPResponse, official: OfficialFile, shown: str, offset: int
    ) -> tuple[int | None, int | None]:
        """Where the body starts in the file (None: nothing left to get) and the file's total size."""
        status = response.status
        if status == 416 and offset:
            total = _content_range(response.headers.get("Content-Range", ""))[1]
            if total == offset:
                return None, total
            raise _Transient(f"range from byte {offset:,} refused (HTTP 416); starting over")
        if status in (404, 410):
            raise _Failed(f"file not found at {shown} (HTTP {status})")
        if status in (401, 403):
            raise _Failed(f"access denied at {shown} (HTTP {status}); check the URL or the credentials in it")
        if status not in (200, 206):
            raise _Failed(f"HTTP {status} from {shown} (after {self.options.retries} retries where it helps)")
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                raise _Transient(f"asked for byte {offset:,} and got byte {start}; starting over")
        else:
            start, length = 0, response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if official.bytes is not None and total is not None and total != official.bytes:
            raise _Failed(f"{shown} is {total:,} bytes, the official list says {official.bytes:,}; not downloaded")
        return start, total

    def receive(
        self, response: urllib3.BaseHTTPResponse, part: Path, start: int, total: int | None, official: OfficialFile
    ) -> int:
        """Write the body into ``part`` from byte ``start``; a cut is transient (the next try resumes)."""
        received = 0
        with part.open("r+b" if start and part.exists() else "wb") as out:
            out.seek(start)
            out.truncate()
            try:
                while chunk := response.read1(CHUNK):  # what has arrived: a cut loses nothing received
                    if self.stop.is_set():
                        raise _Failed("interrupted")
                    out.write(chunk)
                    received += len(chunk)
                    self.bar.update(len(chunk))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                out.flush()
                raise _Transient(f"connection cut after {start + received:,} bytes ({type(exc).__name__})") from exc
        if total is not None and start + received < total:
            raise _Transient(f"transfer ended at byte {start + received:,} of {total:,}")
        return received


def _content_range(header: str) -> tuple[int | None, int | None]:
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        return None, None
    start = int(match[1]) if match[1] else None
    total = int(match[2]) if match[2].isdigit() else None
    return start, total


def _auth_out_of_url(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without ``user:password@``, and them as a basic-auth header."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    headers = urllib3.make_headers(basic_auth=f"{unquote(parts.username or '')}:{unquote(parts.password or '')}")
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), dict(headers)
