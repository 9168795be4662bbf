"""Bring one file over HTTP into a part file: urllib3 retries, resumed with a Range request after a cut."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from tqdm import tqdm

from pipeline.core.official import OfficialFile
from pipeline.read.redact import redact

CHUNK = 1 << 20
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)")


class Transient(Exception):
    """A failure worth another try (the download resumes where it stopped)."""


class Failed(Exception):
    """A failure no retry will fix."""


class Downloader:
    """HTTP GETs into part files over one connection pool, shared by the fetch workers."""

    def __init__(
        self,
        *,
        retries: int,
        backoff: float,
        timeout: float,
        workers: int,
        bar: tqdm,
        stop: threading.Event,
        log: Callable[[str], None],
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.bar = bar
        self.stop = stop
        self.log = log
        self.retry = urllib3.Retry(
            total=retries, connect=retries, read=retries, status=retries,
            backoff_factor=backoff, status_forcelist=TRANSIENT_STATUS, allowed_methods={"GET"},
            respect_retry_after_header=True, raise_on_status=False,
        )  # fmt: skip
        self.http = urllib3.PoolManager(
            num_pools=8, maxsize=max(workers, 1), retries=self.retry,
            timeout=urllib3.Timeout(connect=min(timeout, 30.0), read=timeout),
        )  # fmt: skip

    def close(self) -> None:
        self.http.clear()

    def transfer(self, official: OfficialFile, url: str, part: Path) -> int:
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
                return transferred + self.transfer_once(official, url, part, offset)
            except Transient as exc:
                now = part.stat().st_size if part.exists() else 0
                transferred += max(now - offset, 0)
                fruitless = 0 if now > offset else fruitless + 1
                if fruitless > self.retries:
                    raise Failed(f"gave up after {self.retries} retries: {exc}") from exc
                self.log(f"retry {official.name}: {exc}; resuming at byte {now:,}")
                time.sleep(self.backoff * 2 ** max(fruitless - 1, 0))

    def transfer_once(self, official: OfficialFile, url: str, part: Path, offset: int) -> int:
        shown = redact(url)
        clean, headers = _auth_out_of_url(url)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = self.http.request("GET", clean, headers=headers, preload_content=False)
        except urllib3.exceptions.MaxRetryError as exc:
            raise Failed(f"cannot reach {shown} after {self.retries} retries: {exc.reason}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise Transient(f"request failed: {exc}") from exc
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
            raise Transient(f"range from byte {offset:,} refused (HTTP 416); starting over")
        if status in (404, 410):
            raise Failed(f"file not found at {shown} (HTTP {status})")
        if status in (401, 403):
            raise Failed(f"access denied at {shown} (HTTP {status}); check the URL or the credentials in it")
        if status not in (200, 206):
            raise Failed(f"HTTP {status} from {shown} (after {self.retries} retries where it helps)")
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                raise Transient(f"asked for byte {offset:,} and got byte {start}; starting over")
        else:
            start, length = 0, response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if official.bytes is not None and total is not None and total != official.bytes:
            raise Failed(f"{shown} is {total:,} bytes, the official list says {official.bytes:,}; not downloaded")
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
                        raise Failed("interrupted")
                    out.write(chunk)
                    received += len(chunk)
                    self.bar.update(len(chunk))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                out.flush()
                raise Transient(f"connection cut after {start + received:,} bytes ({type(exc).__name__})") from exc
        if total is not None and start + received < total:
            raise Transient(f"transfer ended at byte {start + received:,} of {total:,}")
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
