"""Fault-injection points for the crash tests (``OILAKE_PAUSE_AT``); no-ops otherwise."""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_point(stage: str) -> None:
    """Fault injection for the crash tests: stop here when ``OILAKE_PAUSE_AT`` names this stage.

    The build writes its pid to ``OILAKE_PAUSE_FILE`` and sleeps, so a test can kill it
    with SIGKILL at a known stage. Does nothing unless both variables are set.
    """
    if os.environ.get("OILAKE_PAUSE_AT") != stage or not os.environ.get("OILAKE_PAUSE_FILE"):
        return
    Path(os.environ["OILAKE_PAUSE_FILE"]).write_text(f"{os.getpid()} {stage}\n")
    time.sleep(600)
