"""The targets of issue 16 judged on small hand-made results (benchmarks/summary.py)."""

from __future__ import annotations

import math

import pytest

from benchmarks.summary import TARGETS, evaluate_targets, scaled_peaks, warm_seconds


def good_results(scale: float | None = 1.0, **extra: object) -> dict:
    """A run that meets every target at scale 1 (small jobs and incremental included)."""
    return {
        "scale": scale, "date": "2026-12-02T10:00:00+00:00",
        "total": {"ours": {"seconds": 250.0}, "ratio": 0.85},
        "build": {
            "seconds": 250.0, "peak_rss_bytes": 900_000_000, "marts_seconds": 8.0,
            "files": [
                {"family": "narratives", "bytes": 300_000_000, "seconds": 1.5},
                {"family": "narratives", "bytes": 100_000_000, "seconds": 1.0},
                {"family": "boxes", "bytes": 50_000_000, "seconds": 5.0},
            ],
        },
        "queries": {"items": [
            {"name": "class_stats", "speedup": 100.0, "lake_seconds": [0.01, 0.01, 0.01]},
            {"name": "image_boxes_lookup", "speedup": 60.0, "lake_seconds": [0.09, 0.02, 0.04, 0.03]},
        ]},
        "small_jobs": {
            "scale": 0.3, "boxes_build": {"best_seconds": 9.0}, "fastest_engine": "polars",
            "engines": {"polars": {"best_seconds": 8.0}}, "boxes_ratio": 9.0 / 8.0, "rows_equal": True,
            "sample_build": {"best_seconds": 1.5}, "help": {"best_seconds": 0.15},
        },
        "incremental": {
            "seconds": 20.0, "full_seconds": 250.0, "ratio": 0.08, "ingested": ["validation-annotations-bbox.csv"],
            "reused": ["a.csv", "b.csv"], "validation_rows_before": 303_617, "validation_rows_after": 303_616,
            "rows_check": True,
        },
    } | extra  # fmt: skip


def _by_name(results: dict, runs: list[dict] | None = None) -> dict[str, dict]:
    return {t["name"]: t for t in evaluate_targets(results, runs or [])}


def _old(scale: float) -> dict:
    """An older run (format 1): no small jobs, no incremental rebuild."""
    results = good_results(scale)
    del results["small_jobs"], results["incremental"]
    return results


def test_every_target_met_at_scale_1() -> None:
    small = {"scale": 0.01, "date": "2026-12-01T00:00:00+00:00", "build": {"peak_rss_bytes": 850_000_000}}
    targets = _by_name(good_results(), [small])
    assert list(targets) == list(TARGETS) and len(targets) == 12
    assert {t["status"] for t in targets.values()} == {"met"}
    assert all(t["met"] is True and t["target"] == TARGETS[n].goal for n, t in targets.items())
    values = {n: t["value"] for n, t in targets.items()}
    assert values["scale1_seconds"] == 250.0 and values["build_ratio"] == 0.85
    assert values["small_boxes_ratio"] == 1.125 and values["sample_seconds"] == 1.5 and values["help_seconds"] == 0.15
    assert math.isclose(values["rss_flat"], 50 / 850 * 100)  # +5.9 %
    assert values["marts_seconds"] == 8.0 and values["incremental_ratio"] == 8.0
    assert values["narratives_mb_s"] == 160.0  # 400 MB in 2.5 s; the boxes are not counted
    assert values["query_speedup"] == 60.0 and math.isclose(values["lookup_ms"], 30.0)  # median of runs 2-4
    assert math.isclose(targets["build_ratio"]["gap_factor"], 0.85 / 0.9)
    assert math.isclose(targets["narratives_mb_s"]["gap_factor"], 150 / 160)
    assert targets["rss_flat"]["note"] == "850 MB at scale 0.01 → 900 MB at scale 1 (100× the data)"
    assert targets["query_speedup"]["note"] == "slowest: image_boxes_lookup; geometric mean of all 2: 77.5×"
    assert targets["lookup_ms"]["note"] == "median of runs 2–4; first run 90.0 ms"
    assert targets["incremental_ratio"]["note"] == "20.00 s against 250.00 s; 1 file(s) ingested, 2 reused"
    assert targets["narratives_mb_s"]["note"] == "2 file(s), 400 MB in 2.5 s"
    assert targets["small_boxes_ratio"]["note"] == "at scale 0.3: build 9.00 s, polars 8.00 s"
    assert not any(t["projected"] for t in targets.values())


def test_missed_targets_and_their_gaps() -> None:
    results = good_results(total={"ours": {"seconds": 401.0}, "ratio": 1.07})
    results["build"]["peak_rss_bytes"] = 1_455_000_000
    results["build"]["marts_seconds"] = 47.8
    targets = _by_name(results, [{"scale": 0.01, "date": "", "build": {"peak_rss_bytes": 767_000_000}}])
    missed = {n for n, t in targets.items() if t["status"] == "missed"}
    assert missed == {"scale1_seconds", "build_ratio", "peak_rss_bytes", "rss_flat", "marts_seconds"}
    assert all(targets[n]["met"] is False for n in missed)
    assert math.isclose(targets["scale1_seconds"]["gap_factor"], 401 / 300)
    assert math.isclose(targets["build_ratio"]["gap_factor"], 1.07 / 0.9)
    assert math.isclose(targets["rss_flat"]["value"], (1455 - 767) / 767 * 100)  # +89.7 %
    assert math.isclose(targets["marts_seconds"]["gap_factor"], 4.78)


def test_smaller_scale_projects_and_leaves_scale_1_goals_unjudged() -> None:
    results = good_results(0.1, total={"ours": {"seconds": 25.0}, "ratio": 0.85})
    targets = _by_name(results)
    assert targets["scale1_seconds"]["value"] == 250.0 and targets["scale1_seconds"]["projected"] is True
    assert targets["scale1_seconds"]["status"] == "projected: met"
    assert targets["scale1_seconds"]["note"] == "projected linearly from 25.0 s at scale 0.1"
    for name in ("marts_seconds", "lookup_ms"):
        assert targets[name]["status"] == "n/a at this scale" and targets[name]["met"] is None
        assert targets[name]["gap_factor"] is None and targets[name]["note"].startswith("the goal is at scale 1")
    assert targets["marts_seconds"]["value"] == 8.0  # shown all the same
    assert targets["rss_flat"] == targets["rss_flat"] | {"value": None, "status": "not measured", "met": None}
    slow = good_results(0.1, total={"ours": {"seconds": 40.0}, "ratio": 0.85})
    assert _by_name(slow)["scale1_seconds"]["status"] == "projected: missed"


def test_source_run_has_no_projection() -> None:
    targets = _by_name(good_results(None))
    assert targets["scale1_seconds"]["status"] == "not measured"
    assert targets["scale1_seconds"]["note"] == "no scale (--source run)"
    assert targets["marts_seconds"]["status"] == "n/a at this scale"


def test_older_results_are_not_measured() -> None:
    """A format-1 run lacks the small jobs and the incremental rebuild: those targets say so."""
    targets = _by_name(_old(0.01))
    for name in ("small_boxes_ratio", "sample_seconds", "help_seconds", "incremental_ratio"):
        assert targets[name]["status"] == "not measured" and targets[name]["value"] is None
        assert targets[name]["note"] == "not measured by this (older) run"
    old = _old(1.0)
    del old["build"]["marts_seconds"]
    old["build"]["files"] = [f for f in old["build"]["files"] if f["family"] != "narratives"]
    targets = _by_name(old)
    assert targets["marts_seconds"]["status"] == "not measured"
    assert targets["narratives_mb_s"]["note"] == "no narratives file in this run"


def test_skipped_phases() -> None:
    targets = _by_name(
        good_results(small_jobs=None, incremental={"skipped": "no validation-annotations-bbox.csv in x"})
    )
    assert targets["help_seconds"]["note"] == "phase skipped in this run"
    assert targets["incremental_ratio"]["status"] == "not measured"
    assert targets["incremental_ratio"]["note"] == "phase skipped: no validation-annotations-bbox.csv in x"


def test_a_wrong_rebuild_misses_whatever_its_time() -> None:
    results = good_results()
    results["incremental"] |= {"validation_rows_after": 303_617, "rows_check": False}
    target = _by_name(results)["incremental_ratio"]
    assert target["value"] == 8.0 and target["met"] is False and target["status"] == "missed"
    assert target["note"].endswith("**rows check failed**: the validation boxes lost 0 rows, not 1")
    results = good_results()
    results["small_jobs"]["rows_equal"] = False
    assert _by_name(results)["small_boxes_ratio"]["status"] == "missed"


def test_memory_flatness_takes_the_latest_run_per_scale() -> None:
    runs = [
        {"scale": 0.01, "date": "2026-11-30", "build": {"peak_rss_bytes": 700}},
        {"scale": 0.01, "date": "2026-12-01", "build": {"peak_rss_bytes": 800}},
        {"scale": 1.0, "date": "2026-12-02", "build": {"peak_rss_bytes": 5}},  # stands aside for the run judged
        {"scale": None, "date": "2026-12-03", "build": {"peak_rss_bytes": 9}},  # a --source run: no scale
    ]
    current = good_results()
    assert scaled_peaks(current, runs) == [(0.01, 800), (1.0, 900_000_000)]
    assert scaled_peaks(good_results(None), runs) == [(0.01, 800), (1.0, 5)]
    smaller = {"scale": 0.1, "date": "", "build": {"peak_rss_bytes": 950_000_000}}
    target = _by_name(good_results(), [smaller])["rss_flat"]
    assert math.isclose(target["value"], -50 / 950 * 100) and target["status"] == "met"  # a fall counts too
    assert target["note"].endswith("; the goal spans scales 0.01 to 1")


@pytest.mark.parametrize(
    ("seconds", "warm"), [([0.09, 0.02, 0.04, 0.03], 0.03), ([0.09, 0.02], 0.02), ([0.05], 0.05), ([], None)]
)
def test_warm_seconds(seconds: list[float], warm: float | None) -> None:
    assert warm_seconds(seconds) == warm
