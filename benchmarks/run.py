"""The benchmark behind ``oilake bench`` / ``make bench``: one run of every phase, its JSON results and report.

One run: generate (or reuse) data at a scale with ``pipeline.synth`` (``benchmarks.inputs``); build
the lake with ``oilake build`` in a child process (``benchmarks.build_runner``); convert the same
per-split files with each bare engine (``benchmarks.engine_runner``, one child process per engine
and family, each measured by ``benchmarks.monitor``); time dashboard queries on the lake and over
the raw files (``benchmarks.queries``); rebuild the lake after one changed file
(``benchmarks.incremental``); time the small jobs, a boxes-only build at scale 0.3 against the
engines, the sample build and ``--help`` (``benchmarks.small_jobs``); compare them and judge the
targets (``benchmarks.summary``). Results go to a JSON file and the markdown report is rendered
from the JSON files (``benchmarks.report``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.build_runner import profile_build, run_build
from benchmarks.engine_runner import run_engines
from benchmarks.incremental import run_incremental
from benchmarks.inputs import generate, input_files
from benchmarks.machine import machine_info
from benchmarks.queries import run_queries
from benchmarks.small_jobs import SCALE as SMALL_JOBS_SCALE
from benchmarks.small_jobs import run_small_jobs
from benchmarks.summary import evaluate_targets, family_summary, total_summary
from pipeline.core.progress import log

ENGINES = ("duckdb", "polars", "pandas")


@dataclass
class BenchOptions:
    """What to benchmark. ``source`` benchmarks a folder of official files as it is (no generation)."""

    scale: float | None = 0.01
    data: Path | None = None
    work: Path = Path(".bench/work")
    engines: Sequence[str] = ENGINES
    output: Path | None = Path("BENCHMARKS.md")
    results: Path | None = None
    source: Path | None = None
    seed: int = 0
    repeat: int = 3
    query_budget: float = 60.0
    keep: bool = False
    profile: bool = False
    small_jobs: bool = True  # False: ``--no-small-jobs``, for quick runs
    small_jobs_scale: float = SMALL_JOBS_SCALE
    small_jobs_data: Path | None = None

    def results_path(self) -> Path:
        if self.results is not None:
            return self.results
        tag = f"scale-{self.scale:g}" if self.source is None else f"source-{self.source.resolve().name}"
        return Path("benchmarks") / f"results-{tag}.json"

    def data_path(self) -> Path:
        return self.data if self.data is not None else Path(".bench") / f"data-{self.scale:g}"

    def small_jobs_path(self) -> Path:
        """Where the small jobs' boxes are generated (or reused). Default: .bench/data-SCALE-boxes."""
        if self.small_jobs_data is not None:
            return self.small_jobs_data
        return Path(".bench") / f"data-{self.small_jobs_scale:g}-boxes"


def run_bench(options: BenchOptions) -> dict[str, object]:
    """Run the whole benchmark and write the JSON results and the markdown report."""
    from benchmarks.report import load_runs, write_report

    started = time.perf_counter()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()
    ram = machine["ram_bytes"]
    assert isinstance(ram, int)
    folder, synth = generate(options)
    files = input_files(folder)
    work = options.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    lake = work / "lake"
    load = {"build": list(os.getloadavg())}
    log(f"bench build: {folder} → {lake}")
    build = run_build(folder, lake)
    try:
        load["engines"] = list(os.getloadavg())
        engines = run_engines(files, options.engines, work / "engines", ram)
        load["queries"] = list(os.getloadavg())
        queries = run_queries(folder, lake, options.repeat, options.query_budget)
        load["incremental"] = list(os.getloadavg())
        log("bench incremental: one changed file, the lake built again")
        incremental = run_incremental(folder, lake, work, build["seconds"])
    finally:
        if not options.keep:
            shutil.rmtree(lake, ignore_errors=True)
    small_jobs = None
    if options.small_jobs:
        load["small_jobs"] = list(os.getloadavg())
        small_jobs = run_small_jobs(
            options.small_jobs_path(), work / "small-jobs", options.engines, ram, seed=options.seed,
            scale=options.small_jobs_scale,
        )  # fmt: skip
    profile = None
    if options.profile:
        log("bench profile: the build again under py-spy")
        profile = profile_build(folder, work / "profiled-lake")
    families = family_summary(build, engines, files)
    total = total_summary(build, engines, families)
    results: dict[str, object] = {
        "format": 2,
        "date": date,
        "scale": options.scale if options.source is None else None,
        "seed": options.seed if options.source is None else None,
        "source": str(folder),
        "machine": machine | {"load_average_end": list(os.getloadavg()), "load_average_phases": load},
        "synth": synth,
        "inputs": [
            {"family": f.family, "split": f.split, "file": f.path.name, "kind": f.kind, "bytes": f.bytes} for f in files
        ],
        "build": build,
        "engines": engines,
        "families": families,
        "total": total,
        "queries": queries,
        "incremental": incremental,
        "small_jobs": small_jobs,
        "profile": profile,
        "seconds": time.perf_counter() - started,
    }
    path = options.results_path()
    others = [r for p, r in load_runs(path.parent) if p.resolve() != path.resolve()]
    results["targets"] = evaluate_targets(results, others)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"bench wrote {path}")
    if options.output is not None:
        write_report(path, options.output)
        log(f"bench wrote {options.output}")
    return results
