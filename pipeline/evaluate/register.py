"""Keep an evaluation run in the lake (``LAKE/evaluations/<name>/``) so the catalog's views compare runs.

Registering takes the lake's writer lock, copies the run's outputs into a hidden folder beside the
others and renames it into place, so a reader never sees half a run; a second registration under
the same name replaces the first as one rename.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from pipeline.core.errors import EvaluationError
from pipeline.lake.local import LocalStore
from pipeline.lake.store import open_store
from pipeline.query.evaluations import EVALUATIONS, VIEWS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KEPT = ("summary.json", *(f"{output}.parquet" for output in VIEWS.values()))


def check_run_name(lake: Path | str, name: str) -> Path:
    """The folder run ``name`` would have in ``lake``; a named error for a bad name or a remote lake."""
    if not _NAME.fullmatch(name):
        raise EvaluationError(
            f"--register {name!r}: a run name is 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    store = open_store(lake)
    if not isinstance(store, LocalStore):
        raise EvaluationError(
            "--register keeps runs in a local lake folder; this lake is on object storage",
            hint="evaluate without --register and read the Parquet outputs, or register into a local copy",
        )
    store.require_current()
    return Path(str(store.root)) / EVALUATIONS / name


def register_run(lake: Path | str, name: str, output: Path | str) -> Path:
    """Copy the outputs of the run in ``output`` into ``lake`` under ``name``; returns its folder."""
    target = check_run_name(lake, name)
    store = open_store(lake)
    output = Path(output)
    if not (output / "summary.json").is_file():
        raise EvaluationError(f"{output} holds no evaluation run (no summary.json)")
    with store.lock(f"evaluate --register {name}"):
        target.parent.mkdir(exist_ok=True)
        staging = target.parent / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for file in KEPT:
            if (output / file).is_file():
                shutil.copy2(output / file, staging / file)
        old = target.parent / f".{name}.{os.getpid()}.old"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    return target
