"""BENCHMARKS.md's targets, small-jobs and incremental sections rendered from results (benchmarks/report.py)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import _target_rows, incremental_lines, render, small_jobs_lines, targets_by_scale_lines
from benchmarks.summary import evaluate_targets
from tests.test_bench_summary import good_results

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

SMALL_JOBS = {
    "scale": 0.3, "repeat": 3, "synth": {"dest": ".bench/data-0.3-boxes"}, "input_bytes": 687_000_000,
    "files": ["oidv6-train-annotations-bbox.csv", "validation-annotations-bbox.csv", "test-annotations-bbox.csv"],
    "boxes_build": {
        "command": "/v/bin/python -m pipeline.cli build --source .bench/data-0.3-boxes --lake /w/small-lake --only boxes",
        "seconds": [17.5, 17.3, 17.9], "best_seconds": 17.3, "peak_rss_bytes": 700_000_000, "rows": 4_800_000,
        "marts_seconds": 4.1,
    },
    "engines": {
        "duckdb": {"complete": True, "seconds": [10.2, 10.0, 10.1], "best_seconds": 10.0, "convert_seconds": 9.8,
                   "import_seconds": 0.12, "peak_rss_bytes": 900_000_000, "rows": 4_800_000, "rows_equal": True},
        "polars": {"complete": True, "seconds": [8.6, 8.5, 8.7], "best_seconds": 8.5, "convert_seconds": 8.1,
                   "import_seconds": 0.3, "peak_rss_bytes": 1_200_000_000, "rows": 4_800_000, "rows_equal": True},
        "pandas": {"complete": False, "seconds": [], "best_seconds": None, "rows": None, "errors": [],
                   "skipped": [{"file": "x.csv", "reason": "700 MB > RAM/10 = 600 MB (csv)"}]},
    },
    "fastest_engine": "polars", "boxes_ratio": 17.3 / 8.5, "rows_equal": True,
    "sample_build": {"command": "/v/bin/python -m pipeline.cli build --lake /w/sample-lake", "seconds": [2.4, 2.31, 2.5],
                     "best_seconds": 2.31, "peak_rss_bytes": None},
    "help": {"command": "/v/bin/python -m pipeline.cli --help", "seconds": [0.09, 0.08, 0.1], "best_seconds": 0.08,
             "peak_rss_bytes": None},
}  # fmt: skip

INCREMENTAL = {
    "command": "/v/bin/python -m pipeline.cli build --source /w/incremental-source --lake /w/lake",
    "changed": {"file": "validation-annotations-bbox.csv", "bytes_before": 25_105_000, "bytes_removed": 85},
    "seconds": 61.0, "cpu_seconds": 70.5, "peak_rss_bytes": 800_000_000, "marts_seconds": 30.2,
    "reused": [f"f{i}.csv" for i in range(43)], "ingested": ["validation-annotations-bbox.csv"],
    "reused_bytes": 38_500_000_000, "ingested_bytes": 25_104_915, "validation_rows_before": 303_617,
    "validation_rows_after": 303_616, "rows_check": True, "full_seconds": 401.0, "ratio": 61.0 / 401.0,
    "log": [[0.5, "reuse boxes/train ← oidv6-train-annotations-bbox.csv: unchanged since release X"]],
}  # fmt: skip


def test_target_rows() -> None:
    results = good_results(0.1, total={"ours": {"seconds": 40.0}, "ratio": 1.07})
    rows = {row[0].split(" (")[0].split(",")[0]: row for row in _target_rows(evaluate_targets(results))}
    assert rows["full release"][1:5] == ["≤ 300 s", "400 s", "projected: **missed**", "1.33× off"]
    assert rows["build time / fastest bare engine"][1:5] == ["≤ 0.9×", "1.07×", "**missed**", "1.19× off"]
    assert rows["boxes-only build"][1:5] == ["≤ 1.2×", "1.12×", "met", "1.07× headroom"]
    assert rows["`oilake --help`"][1:5] == ["≤ 0.2 s", "0.15 s", "met", "1.33× headroom"]
    assert rows["peak RSS of the build's process tree"][1:4] == ["≤ 1 GB", "900.0 MB", "met"]
    assert rows["peak RSS change from the smallest to the largest scale run"][1:4] == ["≤ 10 %", "—", "not measured"]
    assert rows["marts"][1:5] == ["≤ 10 s at scale 1", "8.00 s", "n/a at this scale", "—"]
    assert rows["rebuild after one changed file"][1:4] == ["≤ 10 %", "8.0 %", "met"]
    assert rows["narratives ingest throughput"][1:4] == ["≥ 150 MB/s", "160.0 MB/s", "met"]
    assert rows["point lookup `image_boxes_lookup` on the lake"][1:4] == ["≤ 50 ms at scale 1", "30.0 ms",
                                                                          "n/a at this scale"]  # fmt: skip


def test_targets_at_every_scale() -> None:
    """One column per run: each run judged on its own values (the flat-memory change across all of them)."""
    small = good_results(0.1, total={"ours": {"seconds": 40.0}, "ratio": 1.07})
    large = good_results(1, total={"ours": {"seconds": 350.0}, "ratio": 0.85})
    lines = targets_by_scale_lines([small, large])
    assert lines[0] == "### The targets at every scale" and targets_by_scale_lines([large]) == []
    header, rows = lines[4], {line.split(" | ")[0][2:].split(",")[0]: line for line in lines[6:-1]}
    assert header.startswith("| target | goal | scale 0.1 (") and "| scale 1 (" in header
    assert rows["full release (scale 1) build time"].endswith(
        "| ≤ 300 s | 400 s: projected: **missed** | 350 s: **missed** |"
    )
    assert rows["build time / fastest bare engine"].endswith("| ≤ 0.9× | 1.07×: **missed** | 0.85×: met |")


def test_small_jobs_section() -> None:
    text = "\n".join(small_jobs_lines({"small_jobs": SMALL_JOBS}))
    assert text.startswith("## Small jobs\n\n")
    assert "scale 0.3 (3 files, 687.0 MB, 4,800,000 rows, in `.bench/data-0.3-boxes`)" in text
    assert (
        "| boxes-only build | **lake build** | 17.50, 17.30, 17.90 | 17.30 |  | 700.0 | 2.04× "
        "| `oilake build --only boxes`; marts 4.10 s |"
    ) in text
    assert (
        "| boxes-only build | polars (fastest) | 8.60, 8.50, 8.70 | 8.50 | 8.10 | 1,200.0 | 1.00× | import 0.30 s |"
        in text
    )
    assert "| boxes-only build | duckdb | 10.20, 10.00, 10.10 | 10.00 | 9.80 | 900.0 | 1.18× | import 0.12 s |" in text
    assert "| boxes-only build | pandas | — | — | — | — | — | skipped 1 file(s) over the memory limit" in text
    assert (
        "| bundled sample build | **lake build** | 2.40, 2.31, 2.50 | 2.31 |  | — |  | `oilake build` (the bundled sample) into a new lake |"
        in text
    )
    assert "| `oilake --help` | **oilake** | 0.09, 0.08, 0.10 | 0.08 |  | — |  | `oilake --help` |" in text


def test_incremental_section() -> None:
    results = {"incremental": INCREMENTAL,
               "build": {"seconds": 401.0, "cpu_seconds": 600.0, "peak_rss_bytes": 1_455_000_000,
                         "marts_seconds": 47.8, "files": [{}] * 44}}  # fmt: skip
    text = "\n".join(incremental_lines(results))
    assert "`validation-annotations-bbox.csv` lost its last data row (85 of 25,105,000 bytes;" in text
    assert "| full build | 401.00 | 600.00 | 1,455.0 | 47.80 | 44 | 0 | 100.0 % |" in text
    assert (
        "| after one changed file | 61.00 | 70.50 | 800.0 | 30.20 | 1 (25.1 MB) | 43 (38,500.0 MB) | 15.2 % |" in text
    )
    assert "Validation boxes: 303,617 rows before, 303,616 after (exactly one fewer: yes)." in text
    assert "Ingested: `validation-annotations-bbox.csv`." in text
    assert "    0.50  reuse boxes/train ← oidv6-train-annotations-bbox.csv" in text
    wrong = results | {"incremental": INCREMENTAL | {"validation_rows_after": 303_617, "rows_check": False}}
    assert "(exactly one fewer: **no**)" in "\n".join(incremental_lines(wrong))


def test_sections_of_runs_without_the_phases() -> None:
    assert small_jobs_lines({}) == [
        "## Small jobs",
        "",
        "Not measured: these results predate the small jobs phase.",
        "",
    ]
    assert small_jobs_lines({"small_jobs": None})[2] == (
        "Not measured: the phase was skipped in this run (`--no-small-jobs`)."
    )
    assert incremental_lines({"incremental": {"skipped": "no validation-annotations-bbox.csv in /x"}})[2] == (
        "Not measured: no validation-annotations-bbox.csv in /x."
    )


def test_old_and_new_results_render_side_by_side(tmp_path: Path) -> None:
    """A format-1 run (no small jobs, no incremental) renders with `not measured`; the table of all runs shows both."""
    committed = json.loads((BENCH / "results-scale-0.01.json").read_text(encoding="utf-8"))
    old = {k: v for k, v in committed.items() if k not in ("small_jobs", "incremental")}
    new = committed | {"date": "2026-12-24T00:00:00+00:00", "scale": 0.1, "small_jobs": SMALL_JOBS,
                       "incremental": INCREMENTAL}  # fmt: skip
    (tmp_path / "results-scale-0.01.json").write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "results-scale-0.1.json").write_text(json.dumps(new), encoding="utf-8")
    text = render(old, tmp_path / "results-scale-0.01.json", tmp_path)
    assert (
        "| `oilake --help`, whole process, best of 3 | ≤ 0.2 s | — | not measured | — | not measured by this (older) run |"
        in text
    )
    assert "## Small jobs\n\nNot measured: these results predate the small jobs phase." in text
    assert "## Incremental rebuild\n\nNot measured: these results predate the incremental rebuild phase." in text
    lines = [line for line in text.splitlines() if line.endswith("`results-scale-0.1.json` |")]
    assert len(lines) == 1 and "| 15.2 % |" in lines[0]  # the newer run's incremental share
    assert "| incremental % |" in text and "| marts s | narratives MB/s |" in text
    text = render(new, tmp_path / "results-scale-0.1.json", tmp_path)
    assert "| `oilake --help`, whole process, best of 3 | ≤ 0.2 s | 0.08 s | met | 2.50× headroom |" in text
    assert "| after one changed file |" in text and "| boxes-only build | polars (fastest) |" in text
