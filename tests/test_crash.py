"""Crash safety: a real build process killed with SIGKILL at several stages never damages the lake."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.lake.local import LocalStore
from pipeline.lake.lock import lock_holder
from pipeline.lake.verify import verify_lake
from pipeline.resources import sample_dir
from tests.conftest import build, query

REPO = Path(__file__).resolve().parents[1]
VAL_BOXES = "validation-annotations-bbox.csv"

# pipeline.build.faults.pause_point stages, in the order a build reaches them
STAGES = ["ingest", "staged", "released", "published"]


def _build_until_killed(source: Path, lake: Path, stage: str, tmp_path: Path) -> None:
    """Run ``oilake build`` in a subprocess, wait until it reaches ``stage``, and SIGKILL it."""
    marker = tmp_path / f"paused-{stage}"
    env = os.environ | {"OILAKE_PAUSE_AT": stage, "OILAKE_PAUSE_FILE": str(marker)}
    command = [sys.executable, "-m", "pipeline.cli", "build", "--source", str(source), "--lake", str(lake)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"the build ended before {stage}: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail(f"the build never reached {stage}")
            time.sleep(0.05)
        time.sleep(0.05)  # the marker is written just before the pause
        assert marker.read_text().split() == [str(process.pid), stage]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    shutil.copytree(sample_dir(), folder, ignore=shutil.ignore_patterns("README*"))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_at_any_stage_leaves_a_queryable_lake_and_the_next_build_succeeds(
    stage: str, sample_copy: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    first = build(sample_copy, lake)
    boxes = sample_copy / VAL_BOXES
    boxes.write_text(boxes.read_text() + "abcdefabcdefabcd,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n")

    _build_until_killed(sample_copy, lake, stage, tmp_path)

    layout = LocalStore(lake)
    new_count = query(lake, "select count(*) from boxes where image_id = 'abcdefabcdefabcd'").item()
    if stage == "published":
        assert layout.current_id() != first["release"] and new_count == 1, "killed after the swap: new release"
    else:
        assert layout.current_id() == first["release"] and new_count == 0, "killed before the swap: old release"
    assert verify_lake(lake).ok, "whatever was current is complete and consistent"
    assert lock_holder(lake) is None, "the kernel released the dead build's lock"

    manifest = build(sample_copy, lake)
    assert layout.current_id() == manifest["release"]
    assert query(lake, "select count(*) from boxes where image_id = 'abcdefabcdefabcd'").item() == 1
    assert not (lake / ".staging").exists() or not any((lake / ".staging").iterdir())
    published = set(layout.published_ids())
    assert all(r.id in published for r in layout.releases()), "no unpublished leftovers remain"
    assert len(layout.releases()) <= 2
    assert verify_lake(lake).ok


def test_sigkill_during_the_first_build_leaves_no_lake_to_read(sample_copy: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _build_until_killed(sample_copy, lake, "staged", tmp_path)
    assert not (lake / "lake.duckdb").exists() and LocalStore(lake).current_id() is None
    assert LocalStore(lake).is_lake(), "its marker tells the next build the folder is a lake to clean up"
    build(sample_copy, lake)
    assert query(lake, "select count(*) from boxes").item() == 1537
