"""Progress on stderr: a bar on a terminal, one line per step otherwise (CI, logs)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


def log(message: str) -> None:
    """One line to stderr."""
    print(message, file=sys.stderr, flush=True)


class FileProgress:
    """Bytes-read progress for one source file."""

    def __init__(self, name: str, total: int | None, enabled: bool | None = None) -> None:
        interactive = sys.stderr.isatty() if enabled is None else enabled
        self._bar = tqdm(
            total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
            disable=not interactive, leave=False, file=sys.stderr,
        )  # fmt: skip
        self._done = 0
        self.started = time.perf_counter()

    def update(self, done: int) -> None:
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> float:
        self._bar.close()
        return time.perf_counter() - self.started
