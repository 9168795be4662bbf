"""Where fetched files go: a local folder, or a remote prefix staged locally; and the state file of verified files.

Verified files are recorded in ``DEST/.oilake-fetch.json``; a re-run skips those still present with their
recorded size. Remote files are staged in a local folder and uploaded once verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

import fsspec

from pipeline.core.errors import FetchError
from pipeline.read.redact import redact
from pipeline.read.storage_options import protocol_of, resolve_storage_options

STATE_FILE = ".oilake-fetch.json"


class Dest:
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
        if self.fs is None:
            return str(self.root / name)
        return redact(self.fs.unstrip_protocol(self.remote(name)))

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
