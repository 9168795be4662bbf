"""The small jobs a user waits for, whole processes, best of 3: a boxes-only build against the bare engines.

A boxes-only build (``oilake build --only boxes``) of the boxes files synthesized at scale 0.3 is
timed against each bare engine converting the same files in its own process (the process's wall time,
interpreter start and engine import included, as the build's is); then a build of the bundled sample
into a new lake and ``oilake --help``, timed without memory sampling. The runs alternate (build,
each engine; build, ...) so that a change of load on the shared machine falls on every runner alike.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.build_runner import OILAKE, build_command, current_release, marts_seconds
from benchmarks.engine_runner import run_engine
from benchmarks.inputs import input_files
from benchmarks.monitor import ProcessRun, run_checked
from pipeline.core.progress import log
from pipeline.lake.manifest import read_manifest

SCALE = 0.3
FAMILY = "boxes"


def boxes_data(dest: Path, scale: float = SCALE, seed: int = 0) -> dict[str, object]:
    """Only the boxes files synthesized at ``scale`` into ``dest`` (reused when identical)."""
    from pipeline.synth import synthesize

    report = synthesize(dest, scale, seed=seed, only=[FAMILY], progress=True)
    return {"dest": str(report.dest), "scale": scale, "seed": seed, "seconds": report.seconds,
            "files": [{"file": f.name, "rows": f.rows, "bytes": f.bytes} for f in report.files]}  # fmt: skip


def _build(command: Sequence[str], lake: Path) -> ProcessRun:
    """One build into ``lake`` removed first, so that it starts from nothing (no reuse)."""
    shutil.rmtree(lake, ignore_errors=True)
    return run_checked(command)


def timed(command: Sequence[str], lake: Path | None = None) -> float:
    """Wall seconds of ``command`` (into ``lake`` removed first), to the millisecond.

    Not ``run_monitored``: its memory sampling notices the end of a process up to 0.1 s late, a
    large share of a job that lasts 0.1 s.
    """
    if lake is not None:
        shutil.rmtree(lake, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(list(command), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return seconds


def _shown(command: Sequence[str]) -> str:
    return " ".join(command[: command.index("--max-rejects")] if "--max-rejects" in command else command)


def _best(runs: list[ProcessRun], command: Sequence[str]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r.seconds)
    return {"command": _shown(command), "seconds": [r.seconds for r in runs], "best_seconds": best.seconds,
            "cpu_seconds": best.cpu_seconds, "peak_rss_bytes": max(r.peak_rss_bytes for r in runs)}  # fmt: skip


def _best_timed(seconds: list[float], command: Sequence[str]) -> dict[str, Any]:
    return {"command": _shown(command), "seconds": seconds, "best_seconds": min(seconds), "peak_rss_bytes": None}


def run_small_jobs(
    data: Path, work: Path, engines: Sequence[str], ram_bytes: int, repeat: int = 3, seed: int = 0,
    scale: float = SCALE,
) -> dict[str, object]:  # fmt: skip
    """Generate (or reuse) the boxes at ``scale`` in ``data``, then time every small job ``repeat`` times."""
    synth = boxes_data(data, scale, seed)
    files = [f for f in input_files(data) if f.family == FAMILY]
    work.mkdir(parents=True, exist_ok=True)
    lake = work / "small-lake"
    command = build_command(data, lake, "--only", FAMILY)
    builds: list[ProcessRun] = []
    per_engine: dict[str, list[dict]] = {engine: [] for engine in engines}
    for turn in range(repeat):
        log(f"bench small jobs {turn + 1}/{repeat}: boxes-only build and {', '.join(engines)}")
        builds.append(_build(command, lake))
        for engine in engines:
            per_engine[engine].append(run_engine(engine, FAMILY, files, work / "engines", ram_bytes))
    rows = sum(s.rows_read for s in read_manifest(current_release(lake)).sources if s.family == FAMILY)
    fastest_build = min(builds, key=lambda r: r.seconds)
    boxes = _best(builds, command) | {"rows": rows, "marts_seconds": marts_seconds(fastest_build)}
    engine_results = {engine: _engine_best(results, rows) for engine, results in per_engine.items()}
    complete: dict[str, float] = {e: r["best_seconds"] for e, r in engine_results.items() if r["complete"]}
    fastest = min(complete, key=lambda e: complete[e]) if complete else None
    sample_lake = work / "sample-lake"
    sample_command = build_command(None, sample_lake)
    log(f"bench small jobs: the bundled sample ({repeat}×) and --help ({repeat}×)")
    samples = [timed(sample_command, sample_lake) for _ in range(repeat)]
    help_command = [*OILAKE, "--help"]
    helps = [timed(help_command) for _ in range(repeat)]
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(sample_lake, ignore_errors=True)
    shutil.rmtree(work / "engines", ignore_errors=True)
    return {
        "scale": scale,
        "repeat": repeat,
        "synth": synth,
        "input_bytes": sum(f.bytes for f in files),
        "files": [f.path.name for f in files],
        "boxes_build": boxes,
        "engines": engine_results,
        "fastest_engine": fastest,
        "boxes_ratio": boxes["best_seconds"] / complete[fastest] if fastest else None,
        "rows_equal": all(r["rows"] == rows for r in engine_results.values() if r["complete"]),
        "sample_build": _best_timed(samples, sample_command),
        "help": _best_timed(helps, help_command),
    }


def _engine_best(results: list[dict], rows: int) -> dict[str, Any]:
    """An engine's runs: every process's wall time, the best, and the conversion alone in that best run."""
    complete = [r for r in results if r.get("complete")]
    if not complete:
        first = results[0]
        return {"complete": False, "seconds": [], "best_seconds": None, "skipped": first.get("skipped"),
                "errors": first.get("errors"), "rows": None}  # fmt: skip
    best = min(complete, key=lambda r: r["process_seconds"])
    return {
        "complete": len(complete) == len(results),
        "seconds": [r["process_seconds"] for r in complete],
        "best_seconds": best["process_seconds"],
        "convert_seconds": best["seconds"],
        "import_seconds": best["import_seconds"],
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in complete),
        "rows": best["rows"],
        "rows_equal": best["rows"] == rows,
    }
