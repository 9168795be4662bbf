"""The fault-injection matrix (issue 11, item 3): a failure at every step of a local build.

For each step (each file written, marts, staging, promote and its catalog, validation, the
history record, the pointer swap, after the swap, prune) an exception or a full disk (ENOSPC) is
injected in-process; the published lake is then either unchanged or completely the new release,
the lock is free, and the next build succeeds. SIGKILL at the same steps: tests/test_crash.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.build.faults import KINDS, STAGES, InjectedFault
from pipeline.core.errors import OilakeError
from pipeline.lake import local
from pipeline.lake.local import LocalStore
from pipeline.lake.lock import lock_holder
from pipeline.lake.store import Store
from pipeline.lake.verify import verify_lake
from tests.conftest import BOX_HEADER, WriteSource, build, query

VAL_BOXES = "validation-annotations-bbox.csv"
AFTER_SWAP = {"published", "pruned", "prune"}  # the new release is live when these fail


def _boxes(*image_ids: str) -> dict[str, str]:
    rows = [f"{i},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for i in image_ids]
    return {VAL_BOXES: BOX_HEADER + "\n" + "\n".join(rows) + "\n"}


def _enospc(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


class _TornFile:
    """A history file that takes half of what is written, then reports a full disk."""

    def __init__(self, path: Path) -> None:
        self.out = open(path, "ab")  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> _TornFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.out.close()

    def write(self, data: bytes) -> int:
        self.out.write(data[: len(data) // 2])
        self.out.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None: ...

    def fileno(self) -> int:
        return self.out.fileno()


def _inject_in_store(step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures inside the store's own steps (the build's fault points cannot reach them)."""
    if step == "catalog":
        monkeypatch.setattr(local, "write_catalog", _enospc)
    elif step == "history":
        real_open = Path.open

        def torn_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if self.name == "_history.jsonl" and "a" in mode:
                return _TornFile(self)
            return real_open(self, mode, *args, **kwargs)

        monkeypatch.setattr(Path, "open", torn_open)
    elif step == "swap":
        real_replace = os.replace

        def failing_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if Path(dst).name == local.CURRENT:
                _enospc()
            real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", failing_replace)
    elif step == "prune":
        monkeypatch.setattr(Store, "prune", _enospc)


CASES = [(stage, kind) for stage in STAGES for kind in KINDS] + [
    (step, "enospc") for step in ("catalog", "history", "swap", "prune")
]


@pytest.mark.parametrize(("step", "kind"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_a_failure_at_any_step_leaves_the_old_or_the_new_release_and_a_free_lock(
    step: str, kind: str, write_source: WriteSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    first = build(write_source(_boxes("0000000000000001")), lake)["release"]
    source = write_source(_boxes("0000000000000001", "0000000000000002"))
    store = LocalStore(lake)

    with monkeypatch.context() as faults:
        if step in STAGES:
            faults.setenv("OILAKE_FAIL_AT", f"{step}:{kind}")
        else:
            _inject_in_store(step, faults)
        if step == "prune":
            build(source, lake)  # a failed prune is a note: the release is published
        else:
            with pytest.raises((InjectedFault, OSError, OilakeError)) as raised:
                build(source, lake)
            if kind == "enospc" and isinstance(raised.value, OSError):
                assert raised.value.errno == errno.ENOSPC

    current = store.current_id()
    count = query(lake, "select count(*) from boxes").item()
    if step in AFTER_SWAP:
        assert current != first and count == 2, "failed after the swap: completely the new release"
    else:
        assert current == first and count == 1, "failed before the swap: the lake is unchanged"
    assert verify_lake(lake).ok
    assert lock_holder(lake) is None, "the lock is free"
    assert store.history()[-1].release == current, "the history names the current release last"
    assert all(r.published for r in store.releases()), "a failed publish leaves no unpublished release behind"

    third = build(source, lake)["release"]
    assert store.current_id() == third and query(lake, "select count(*) from boxes").item() == 2
    assert verify_lake(lake).ok and lock_holder(lake) is None
    assert not (lake / ".staging").exists() or not any((lake / ".staging").iterdir())
    assert all(r.published for r in store.releases()) and len(store.releases()) <= 2
