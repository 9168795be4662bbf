"""The benchmark's incremental and small-jobs phases, run for real on data synthesized at scale 0.001."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from benchmarks.build_runner import run_build
from benchmarks.incremental import CHANGED, changed_source, drop_last_row, run_incremental
from benchmarks.small_jobs import run_small_jobs
from benchmarks.summary import evaluate_targets
from pipeline.synth import synthesize

BOXES_FILES = ["oidv6-train-annotations-bbox.csv", "validation-annotations-bbox.csv", "test-annotations-bbox.csv"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every family but the mask archives at scale 0.001 (38 MB, 44 files)."""
    folder = tmp_path_factory.mktemp("data")
    synthesize(folder, 0.001, progress=False, exclude=["mask_pixels"])
    return folder


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_drop_last_row(tmp_path: Path) -> None:
    source, dest = tmp_path / "a.csv", tmp_path / "b.csv"
    source.write_bytes(b"Head,er\n1,2\n3,4\n")
    assert drop_last_row(source, dest) == 4
    assert dest.read_bytes() == b"Head,er\n1,2\n"
    source.write_bytes(b"Head,er\n1,2\n3,4")  # no newline at the end
    assert drop_last_row(source, dest) == 3
    assert dest.read_bytes() == b"Head,er\n1,2\n"
    assert source.read_bytes() == b"Head,er\n1,2\n3,4"


def test_changed_source_links_every_file_but_one(tiny_data: Path, tmp_path: Path) -> None:
    dest = tmp_path / "source"
    info = changed_source(tiny_data, dest)
    names = sorted(p.name for p in tiny_data.iterdir() if p.is_file())
    assert sorted(p.name for p in dest.iterdir()) == names and len(names) == 45  # 44 files and _synth.json
    linked = [p for p in dest.iterdir() if p.is_symlink()]
    assert len(linked) == 44 and all(p.resolve() == (tiny_data / p.name).resolve() for p in linked)
    copy, original = dest / CHANGED, tiny_data / CHANGED
    assert not copy.is_symlink() and _md5(copy) != _md5(original)
    assert info == {"file": CHANGED, "bytes_before": original.stat().st_size, "bytes_removed": 85}
    assert copy.stat().st_size == original.stat().st_size - 85
    assert original.read_bytes().startswith(copy.read_bytes())
    assert len(copy.read_bytes().splitlines()) == len(original.read_bytes().splitlines()) - 1


@pytest.mark.slow
def test_incremental_phase(tiny_data: Path, tmp_path: Path) -> None:
    """The rebuild from the changed folder reuses every other file and loses exactly the removed row."""
    lake, work = tmp_path / "lake", tmp_path / "work"
    build = run_build(tiny_data, lake)
    inc = run_incremental(tiny_data, lake, work, build["seconds"])
    assert inc["ingested"] == [CHANGED]
    assert sorted(inc["reused"]) == sorted(f["file"] for f in build["files"] if f["file"] != CHANGED)
    assert len(inc["reused"]) == 43
    assert (inc["validation_rows_before"], inc["validation_rows_after"], inc["rows_check"]) == (304, 303, True)
    assert inc["ingested_bytes"] == (tiny_data / CHANGED).stat().st_size - 85
    assert inc["ratio"] == inc["seconds"] / build["seconds"] and inc["full_seconds"] == build["seconds"]
    assert inc["peak_rss_bytes"] > 10_000_000 and inc["marts_seconds"] is not None
    assert inc["command"].endswith(f"--source {work / 'incremental-source'} --lake {lake}")
    assert not (work / "incremental-source").exists()
    assert run_incremental(tmp_path, lake, work, 1.0) == {"skipped": f"no {CHANGED} in {tmp_path}"}


@pytest.mark.slow
def test_small_jobs_phase(tmp_path: Path) -> None:
    """Boxes only, the bare engines, the sample and --help: each run twice, the best kept."""
    import psutil

    data, work = tmp_path / "boxes", tmp_path / "work"
    jobs = run_small_jobs(data, work, ("duckdb", "polars"), psutil.virtual_memory().total, repeat=2, scale=0.001)
    assert sorted(p.name for p in data.glob("*.csv")) == sorted(BOXES_FILES)  # only the boxes were generated
    assert sorted(jobs["files"]) == sorted(BOXES_FILES) and jobs["scale"] == 0.001 and jobs["repeat"] == 2
    boxes = jobs["boxes_build"]
    assert boxes["rows"] == 14_610 + 304 + 937
    assert len(boxes["seconds"]) == 2 and boxes["best_seconds"] == min(boxes["seconds"])
    assert boxes["command"].endswith(f"build --source {data} --lake {work / 'small-lake'} --only boxes")
    for engine in ("duckdb", "polars"):
        result = jobs["engines"][engine]
        assert result["complete"] and result["rows"] == boxes["rows"] and result["rows_equal"]
        assert result["best_seconds"] == min(result["seconds"]) > result["convert_seconds"] > 0
    fastest = jobs["fastest_engine"]
    assert jobs["boxes_ratio"] == boxes["best_seconds"] / jobs["engines"][fastest]["best_seconds"]
    assert jobs["rows_equal"] is True
    for key in ("sample_build", "help"):
        assert len(jobs[key]["seconds"]) == 2 and jobs[key]["best_seconds"] == min(jobs[key]["seconds"])
    assert jobs["help"]["command"].endswith("-m pipeline.cli --help")
    assert " build --lake " in jobs["sample_build"]["command"]  # the bundled sample: no --source
    assert not any(work.iterdir()), "the phase's lakes and engine outputs are removed"
    results = {"scale": 0.01, "date": "", "total": {"ours": {"seconds": 1.0}, "ratio": 1.0},
               "build": {"peak_rss_bytes": 1, "files": []}, "queries": {"items": []}, "small_jobs": jobs}  # fmt: skip
    targets = {t["name"]: t for t in evaluate_targets(results)}
    assert targets["small_boxes_ratio"]["value"] == jobs["boxes_ratio"]
    assert targets["sample_seconds"]["value"] == jobs["sample_build"]["best_seconds"]
    assert targets["help_seconds"]["value"] == jobs["help"]["best_seconds"]
