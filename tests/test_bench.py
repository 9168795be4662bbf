"""The benchmark harness, run for real on the bundled sample with every engine (about 15 s)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.build_runner import summarize_profile
from benchmarks.engine_runner import pandas_skip_reason, run_engine
from benchmarks.inputs import InputFile
from benchmarks.queries import QUERIES, compare
from benchmarks.raw_views import open_raw
from benchmarks.run import ENGINES, BenchOptions, run_bench
from benchmarks.summary import TARGETS
from pipeline.build.run import BuildOptions, build_lake
from pipeline.cli import cli
from pipeline.query.api import open_lake
from pipeline.resources import sample_dir

BASE_TABLES = (
    "boxes", "masks", "relationships", "image_labels", "images", "narratives", "human_parts_images", "classes",
    "attributes", "relationship_names", "relationship_triplets", "hierarchy", "class_ancestors", "class_parts",
)  # fmt: skip
PER_SPLIT_FAMILIES = {
    "boxes", "masks", "relationships", "image_labels_human", "image_labels_human_boxable", "image_labels_machine",
    "images", "images_boxable", "narratives", "human_parts_images",
}  # fmt: skip


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    """The benchmark (``oilake bench``'s ``run_bench``) on the sample with all engines: (results, markdown, path)."""
    pytest.importorskip("pandas", reason="pandas is in the dev extra; install it to benchmark the pandas baseline")
    folder = tmp_path_factory.mktemp("bench")
    results_path = folder / "benchmarks" / "results-sample.json"
    report = folder / "BENCHMARKS.md"
    (results_path.parent).mkdir()
    (results_path.parent / "notes.md").write_text("Hand-written notes go here.\n", encoding="utf-8")
    # the small jobs (boxes at scale 0.3) have their own test (test_bench_phases.py)
    options = BenchOptions(
        source=sample_dir(), work=folder / "work", engines=ENGINES, output=report, results=results_path, repeat=2,
        small_jobs=False,
    )  # fmt: skip
    run_bench(options)
    assert not (folder / "work" / "lake").exists(), "the benchmark lake is removed unless --keep"
    assert not (folder / "work" / "incremental-source").exists()
    return json.loads(results_path.read_text(encoding="utf-8")), report.read_text(encoding="utf-8"), results_path


@pytest.mark.slow
def test_results_structure(bench_run: tuple[dict, str, Path]) -> None:
    results, _, _ = bench_run
    assert {"date", "machine", "build", "engines", "families", "total", "queries", "targets", "inputs",
            "incremental", "small_jobs"} <= set(results)  # fmt: skip
    assert results["format"] == 2 and results["small_jobs"] is None
    machine = results["machine"]
    assert machine["logical_cpus"] >= 1 and machine["ram_bytes"] > 0 and len(machine["load_average"]) == 3
    assert machine["libraries"]["duckdb"] and machine["libraries"]["polars"] and machine["libraries"]["pandas"]
    assert results["scale"] is None and results["synth"] is None  # a --source run
    assert {f["family"] for f in results["families"]} == PER_SPLIT_FAMILIES
    assert set(results["engines"]) == set(ENGINES)


@pytest.mark.slow
def test_rows_equal_between_engines_and_build(bench_run: tuple[dict, str, Path]) -> None:
    results, _, _ = bench_run
    build_rows = {f["file"]: f["rows"] for f in results["build"]["files"]}
    for engine, by_family in results["engines"].items():
        for family, result in by_family.items():
            assert result["complete"], (engine, family, result["errors"], result["skipped"])
            for item in result["files"]:
                assert item["rows"] == build_rows[item["file"]] > 0, (engine, item)
                assert item["output_bytes"] > 0 and item["seconds"] > 0
            assert result["peak_rss_bytes"] > 10_000_000
    for family in results["families"]:
        assert all(e["rows_equal"] for e in family["engines"].values()), family["family"]
    assert results["build"]["rows_rejected"] == 0
    assert results["build"]["peak_rss_bytes"] >= results["build"]["hwm_bytes"] > 10_000_000
    assert results["build"]["output_bytes"] > 0 and results["build"]["seconds"] > 0
    assert 0 < results["build"]["cpu_seconds"] < 10 * results["build"]["seconds"]
    for family in results["families"]:
        for engine in family["engines"].values():
            assert engine["input_bytes"] == family["input_bytes"] and engine["cpu_seconds"] > 0


@pytest.mark.slow
def test_ratios(bench_run: tuple[dict, str, Path]) -> None:
    results, _, _ = bench_run
    for family in results["families"]:
        times = {e: r["seconds"] for e, r in family["engines"].items()}
        fastest = min(times, key=lambda e: times[e])
        assert family["fastest_engine"] == fastest
        assert math.isclose(family["ratio"], family["ours"]["seconds"] / times[fastest])
    total = results["total"]
    sums = {e: sum(f["engines"][e]["seconds"] for f in results["families"]) for e in ENGINES}
    fastest = min(sums, key=lambda e: sums[e])
    assert total["fastest_engine"] == fastest
    assert math.isclose(total["engines"][fastest]["seconds"], sums[fastest])
    assert math.isclose(total["ratio"], results["build"]["seconds"] / sums[fastest])
    assert total["rows"] == sum(f["rows"] for f in results["families"])
    targets = {t["name"]: t for t in results["targets"]}
    assert targets["build_ratio"]["value"] == total["ratio"]
    assert list(targets) == list(TARGETS)
    assert targets["build_ratio"]["met"] == (total["ratio"] <= 0.9)
    assert targets["peak_rss_bytes"]["met"] == (results["build"]["peak_rss_bytes"] <= 1e9)
    assert targets["scale1_seconds"]["value"] is None  # no scale in a --source run
    assert targets["small_boxes_ratio"]["status"] == "not measured"  # small_jobs=False
    incremental = results["incremental"]
    assert math.isclose(
        targets["incremental_ratio"]["value"], 100 * incremental["seconds"] / results["build"]["seconds"]
    )
    assert targets["marts_seconds"]["status"] == "n/a at this scale"


@pytest.mark.slow
def test_queries_equal_and_timed(bench_run: tuple[dict, str, Path]) -> None:
    results, _, _ = bench_run
    items = results["queries"]["items"]
    assert [q["name"] for q in items] == [q.name for q in QUERIES]
    for query in items:
        assert query["equal"], (query["name"], query["difference"])
        assert query["rows"] > 0, query["name"]
        assert len(query["lake_seconds"]) == len(query["raw_seconds"]) == 2
        assert math.isclose(query["speedup"], query["raw_median"] / query["lake_median"])
    speedups = [q["speedup"] for q in items]
    assert {t["name"]: t for t in results["targets"]}["query_speedup"]["value"] == min(speedups)


@pytest.mark.slow
def test_markdown_renders_every_number(bench_run: tuple[dict, str, Path]) -> None:
    results, markdown, results_path = bench_run
    for family in PER_SPLIT_FAMILIES:
        assert f"| {family} | **lake build** |" in markdown
        for engine in ENGINES:
            assert f"| {family} | {engine} |" in markdown
    for query in QUERIES:
        assert f"| {query.name} |" in markdown
    for label in ("build time / fastest bare engine", "peak RSS", "full release (scale 1)", "dashboard query"):
        assert label in markdown
    assert results["machine"]["cpu"] in markdown and "Load average" in markdown
    assert f"{results['total']['ratio']:.2f}×" in markdown
    assert "Hand-written notes go here." in markdown
    assert f"`{results_path.name}`" in markdown  # the table of all runs
    assert "Build log" in markdown and "publish" in markdown


def test_raw_views_equal_the_lake(tmp_path: Path) -> None:
    """Every base table over the raw files holds exactly the lake's rows, columns in the same order."""
    lake = tmp_path / "lake"
    build_lake(BuildOptions(source=str(sample_dir()), lake=lake))
    raw = open_raw(sample_dir())
    with open_lake(lake) as opened:
        for table in BASE_TABLES:
            query = f"select * from {table}"
            lake_cursor, raw_cursor = opened.con.execute(query), raw.execute(query)
            assert [d[0] for d in lake_cursor.description] == [d[0] for d in raw_cursor.description], table
            assert compare(lake_cursor.fetchall(), raw_cursor.fetchall()) is None, table
    raw.close()


def test_pandas_skipped_above_the_memory_limit(tmp_path: Path) -> None:
    big = InputFile("boxes", "train", sample_dir() / "oidv6-train-annotations-bbox.csv", "csv", True)
    assert pandas_skip_reason(big, ram_bytes=64 * 2**30) is None
    reason = pandas_skip_reason(big, ram_bytes=100_000)
    assert reason is not None and "RAM/10" in reason
    result = run_engine("pandas", "boxes", [big], tmp_path, ram_bytes=100_000)
    assert result["complete"] is False and result["seconds"] is None
    assert result["skipped"] == [{"file": big.path.name, "reason": reason}]


def test_compare_reports_differences() -> None:
    assert compare([(1, "a", 0.5)], [(1, "a", 0.5 + 1e-9)]) is None
    assert compare([(1, "a"), (2, "b")], [(2, "b"), (1, "a")]) is None
    assert compare([(1, "a")], [(1, "b")]) is not None
    assert compare([(1,)], [(1,), (1,)]) == "1 rows vs 2"


def test_raw_views_with_only_some_files(tmp_path: Path) -> None:
    """Tables no file feeds are empty tables with the lake's columns, so every view still loads."""
    source = tmp_path / "source"
    source.mkdir()
    name = "validation-annotations-bbox.csv"
    (source / name).write_bytes((sample_dir() / name).read_bytes())
    raw = open_raw(source)
    assert raw.execute("select count(*) from boxes").fetchall() == [(285,)]
    assert raw.execute("select count(*) from masks").fetchall() == [(0,)]
    assert raw.execute("select count(*) from class_stats where boxes > 0").fetchall()[0][0] > 0
    raw.close()


def test_summarize_profile() -> None:
    raw = (
        "<module> (/w/pipeline/cli.py:3);build_lake (/w/pipeline/build.py:10);_parse (/w/pipeline/csv_reader.py:9) 6\n"
        "<module> (/w/pipeline/cli.py:3);build_lake (pipeline/build.py:12);write (/v/site-packages/pyarrow/x.py:1) 3\n"
        "<module> (/w/pipeline/cli.py:3);run (threading.py:9) 1\n"
    )
    summary = summarize_profile(raw, top=3)
    assert summary["samples"] == 10
    assert summary["own"][0] == {"function": "_parse (pipeline/csv_reader.py)", "share": 0.6}
    assert summary["own"][1] == {"function": "write (pyarrow/x.py)", "share": 0.3}
    assert summary["own"][2] == {"function": "run (threading.py)", "share": 0.1}
    inclusive = {i["function"]: i["share"] for i in summary["inclusive"]}
    assert inclusive == {
        "<module> (pipeline/cli.py)": 1.0,
        "build_lake (pipeline/build.py)": 0.9,
        "_parse (pipeline/csv_reader.py)": 0.6,
    }


@pytest.mark.slow
def test_render_only_rewrites_the_report(bench_run: tuple[dict, str, Path], tmp_path: Path) -> None:
    _, markdown, results_path = bench_run
    again = tmp_path / "again.md"
    outcome = CliRunner().invoke(cli, ["bench", "--render", str(results_path), "--output", str(again)])
    assert outcome.exit_code == 0, outcome.output
    rendered = again.read_text(encoding="utf-8")
    assert rendered.split("## Run")[1] == markdown.split("## Run")[1]  # only the relative links differ


def test_evaluation_section_renders_its_numbers(tmp_path: Path) -> None:
    """`make bench-evaluate`'s results become the report's evaluation section, targets judged."""
    import json

    from benchmarks.report import _evaluation_lines

    results = {
        "date": "2026-12-02T00:00:00+00:00", "split": "validation", "scale": 1, "images": 41620,
        "gt_instances": 630980, "classes_with_ground_truth": 601, "predictions": 4162000,
        "predictions_bytes": 322_700_000, "map": 0.4662,
        "oilake": {"seconds": 18.5, "peak_rss_bytes": 1_600_000_000, "cpu_seconds": 30.0},
        "reference": {"images": 2000, "predictions": 200000, "seconds": 60.0, "seconds_per_image": 0.03,
                      "extrapolated_seconds": 1248.6, "peak_rss_bytes": 800_000_000, "map_on_subset": 0.5},
        "ratio": 1248.6 / 18.5, "targets": {"seconds": 30.0, "peak_rss_bytes": 2 * 1024**3, "ratio": 50.0},
    }  # fmt: skip
    path = tmp_path / "evaluation-results.json"
    path.write_text(json.dumps(results))
    text = "\n".join(_evaluation_lines(path, tmp_path))
    assert "41,620 images" in text and "4,162,000 synthetic predictions" in text and "mAP 0.4662" in text
    assert "| evaluation time | ≤ 30 s | 18.5 s | met |" in text
    assert "| × faster than the per-image reference | ≥ 50× | 67× | met |" in text
    assert "30.0 ms per image, extrapolated linearly to 1,249 s" in text
    assert _evaluation_lines(tmp_path / "missing.json", tmp_path) == []


@pytest.mark.slow
def test_incremental_rebuild_of_the_sample(bench_run: tuple[dict, str, Path]) -> None:
    """The sample rebuilt after its validation boxes lost one row: one file ingested, every other reused."""
    results, markdown, _ = bench_run
    inc = results["incremental"]
    assert inc["ingested"] == ["validation-annotations-bbox.csv"]
    assert len(inc["reused"]) == len(results["build"]["files"]) - 1
    assert (inc["validation_rows_before"], inc["validation_rows_after"], inc["rows_check"]) == (285, 284, True)
    assert "## Incremental rebuild" in markdown and "(exactly one fewer: yes)" in markdown
    assert "## Small jobs\n\nNot measured: the phase was skipped in this run (`--no-small-jobs`)." in markdown
