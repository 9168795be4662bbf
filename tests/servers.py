"""Loopback servers for tests: a folder over HTTP with Range support and injectable faults, and moto's S3.

Everything listens on 127.0.0.1 on a free port and is stopped by its fixture; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

LOOPBACK = "127.0.0.1"
DUMMY_KEY_ID = "AKIAOILAKETESTDUMMY1"
DUMMY_SECRET = "oilake-test-secret-d2f1c0ffee"


def free_port() -> int:
    """A port nothing listens on right now (also a way to get 'connection refused')."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do instead of serving a file.

    kind: ``404`` / ``403`` (HEAD and GET), ``get-404`` (HEAD answers, GET does not), ``cut`` (GET sends
    the headers of the whole answer and ``after`` bytes, then drops the connection), ``wrong`` (GET serves
    bytes of the right length with one changed), or a status such as ``503`` / ``429`` (GET only).
    times: how many GETs the fault applies to (None: all).
    """

    kind: str
    after: int = 0
    times: int | None = None


@dataclass
class Request:
    method: str
    name: str
    range: str | None


@dataclass
class FileServer:
    """A folder served on 127.0.0.1: HEAD, GET, single byte ranges, ETags, and faults per file name."""

    root: Path
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/"

    def fail(self, name: str, kind: str, after: int = 0, times: int | None = None) -> None:
        self.faults[name] = Fault(kind, after, times)

    def gets(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.name == name]

    def start(self) -> FileServer:
        server = _QuietServer((LOOPBACK, 0), _handler(self))
        threading.Thread(target=server.serve_forever, args=(0.05,), name="oilake-test-http", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fault_for(self, name: str, method: str) -> Fault | None:
        fault = self.faults.get(name)
        if fault is None or (method == "HEAD" and fault.kind not in ("404", "403")):
            return None
        if fault.times is not None:
            if fault.times <= 0:
                return None
            fault.times -= 1
        return fault


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (as tests make it) is not a server error


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            name = unquote(urlsplit(self.path).path.lstrip("/"))
            state.requests.append(Request(self.command, name, self.headers.get("Range")))
            path = state.root / name
            fault = state.fault_for(name, self.command)
            if not path.is_file() or (fault and fault.kind in ("404", "get-404")):
                return self._status(404)
            if fault and fault.kind.isdigit():
                return self._status(int(fault.kind))
            data = path.read_bytes()
            if fault and fault.kind == "wrong":
                middle = len(data) // 2
                data = data[:middle] + (b"0" if data[middle : middle + 1] != b"0" else b"1") + data[middle + 1 :]
            start, end, status = 0, len(data), 200
            match = _RANGE.match(self.headers.get("Range", ""))
            if match:
                start = int(match[1])
                end = min(int(match[2]) + 1, len(data)) if match[2] else len(data)
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hashlib.md5(path.read_bytes()).hexdigest()}"')
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return None
            if fault and fault.kind == "cut":
                self.wfile.write(data[start : start + fault.after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            self.wfile.write(data[start:end])
            return None

        def _status(self, status: int) -> None:
            body = f"{status}\n".encode()
            self.send_response(status)
            if status in (429, 503):
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


@pytest.fixture
def file_server() -> Iterator[Callable[[Path], FileServer]]:
    """Start an HTTP server for a folder: ``server = file_server(folder)``; stopped after the test."""
    servers: list[FileServer] = []

    def start(root: Path) -> FileServer:
        server = FileServer(root).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --- S3 (moto) -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 for the session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # port 0: the kernel picks the port as the server binds. A port from free_port() could be taken by the
    # other xdist worker's server between the check and the bind, and start() then waits forever.
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop()


def _clear_s3fs_cache() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Dummy AWS credentials and ``AWS_ENDPOINT_URL`` = moto, for this test only; yields the endpoint.

    The user's own AWS configuration is hidden, and EC2 metadata is never asked.
    """
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    _clear_s3fs_cache()
    yield moto_server
    _clear_s3fs_cache()


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """A fresh, private bucket on the moto server (created with the dummy credentials)."""
    import s3fs

    name = f"oilake-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(anon=False, skip_instance_cache=True).mkdir(name)
    return name


def upload(folder: Path, url: str, public: bool = False) -> None:
    """Copy every file of ``folder`` to the S3 prefix ``url`` (``public``: readable anonymously)."""
    import s3fs

    fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
    prefix = url.removeprefix("s3://").rstrip("/")
    for path in sorted(folder.iterdir()):
        if path.is_file():
            fs.put_file(str(path), f"{prefix}/{path.name}")
            if public:
                fs.chmod(f"{prefix}/{path.name}", "public-read")
