"""Fault-injection points for the crash and fault tests; no-ops unless their variables are set.

- ``OILAKE_PAUSE_AT=<stage>`` with ``OILAKE_PAUSE_FILE``: the build writes its pid to the file
  and sleeps there, so a test can SIGKILL it at a known stage (tests/test_crash.py).
- ``OILAKE_FAIL_AT=<stage>:<kind>``: the build fails there, in-process (tests/test_faults.py);
  ``kind`` is ``error`` (a ``RuntimeError``) or ``enospc`` (``OSError(ENOSPC)``, a full disk).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

# the stages a build reaches, in order (``ingest`` once per partitioned file written)
STAGES = ("ingest", "marts", "staged", "promoted", "released", "published", "pruned")
KINDS = ("error", "enospc")


class InjectedFault(RuntimeError):
    """The failure ``OILAKE_FAIL_AT`` asked for (tests only)."""


def pause_point(stage: str) -> None:
    """Stop (``OILAKE_PAUSE_AT``) or fail (``OILAKE_FAIL_AT``) here when the variable names this stage.

    Pausing writes the pid to ``OILAKE_PAUSE_FILE`` and sleeps; does nothing unless both are set.
    """
    fail_point(stage)
    if os.environ.get("OILAKE_PAUSE_AT") != stage or not os.environ.get("OILAKE_PAUSE_FILE"):
        return
    Path(os.environ["OILAKE_PAUSE_FILE"]).write_text(f"{os.getpid()} {stage}\n")
    time.sleep(600)


def fail_point(stage: str) -> None:
    """Raise the failure ``OILAKE_FAIL_AT=<stage>:<kind>`` names, when it names this stage."""
    wanted, _, kind = os.environ.get("OILAKE_FAIL_AT", "").partition(":")
    if wanted != stage:
        return
    if kind == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {stage})")
    raise InjectedFault(f"fault injected at {stage}")
