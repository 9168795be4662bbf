"""The benchmark's numbers compared: the build against each engine per family and in total, and the targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.inputs import InputFile, per_split_families


@dataclass(frozen=True)
class Target:
    """A goal of issue 16: the value measured must be ``le`` (at most) or ``ge`` (at least) ``goal``."""

    label: str
    goal: float
    sense: str  # "le" or "ge"
    unit: str  # "s", "×", "bytes", "%", "MB/s" or "ms"
    at_scale: float | None = None  # the goal holds at this scale only (other scales: shown, not judged)


TARGETS: dict[str, Target] = {
    "scale1_seconds": Target("full release (scale 1) build time, end to end", 300.0, "le", "s"),
    "build_ratio": Target("build time / fastest bare engine, same files (whole process, marts included)", 0.9,
                          "le", "×"),
    "small_boxes_ratio": Target("boxes-only build (scale 0.3) / fastest bare engine, whole processes, best of 3",
                                1.2, "le", "×"),
    "sample_seconds": Target("build of the bundled sample, whole process, best of 3", 2.0, "le", "s"),
    "help_seconds": Target("`oilake --help`, whole process, best of 3", 0.2, "le", "s"),
    "peak_rss_bytes": Target("peak RSS of the build's process tree", 1e9, "le", "bytes"),
    "rss_flat": Target("peak RSS change from the smallest to the largest scale run (0.01 → 1)", 10.0, "le", "%"),
    "marts_seconds": Target("marts (build log line `marts ... (N s)`)", 10.0, "le", "s", at_scale=1.0),
    "incremental_ratio": Target("rebuild after one changed file (validation boxes) / full build", 10.0, "le", "%"),
    "narratives_mb_s": Target("narratives ingest throughput (sum of bytes / sum of per-file seconds)", 150.0, "ge",
                              "MB/s"),
    "query_speedup": Target("slowest dashboard query speed-up, lake vs raw files", 50.0, "ge", "×"),
    "lookup_ms": Target("point lookup `image_boxes_lookup` on the lake, warm", 50.0, "le", "ms", at_scale=1.0),
}  # fmt: skip

PHASE_MISSING = {None: "phase skipped in this run", "absent": "not measured by this (older) run"}


@dataclass(frozen=True)
class Measured:
    """A target's measured value (None: not measured) and what to say about it; ``sound`` False when the
    measurement shows the result is wrong (the target is then missed whatever the time)."""

    value: float | None
    note: str | None = None
    sound: bool = True


def family_summary(build: dict, engines: dict, files: list[InputFile]) -> list[dict[str, object]]:
    """Per family: our numbers next to each engine's, and our time over the fastest engine's."""
    rows = []
    for family, family_files in per_split_families(files).items():
        ours = [f for f in build["files"] if f["family"] == family]
        peaks = [f["peak_rss_bytes"] for f in ours if f["peak_rss_bytes"] is not None]
        entry: dict[str, Any] = {
            "family": family,
            "files": len(family_files),
            "input_bytes": sum(f.bytes for f in family_files),
            "rows": sum(f["rows"] for f in ours),
            "ours": {
                "seconds": sum(f["seconds"] for f in ours),
                "input_bytes": sum(f.bytes for f in family_files),
                "peak_rss_bytes": max(peaks) if peaks else None,
                "output_bytes": sum(f["output_bytes"] for f in ours),
            },
            "engines": {},
        }
        for engine, by_family in engines.items():
            result = by_family[family]
            entry["engines"][engine] = {
                k: result.get(k)
                for k in (
                    "seconds",
                    "rows",
                    "input_bytes",
                    "output_bytes",
                    "peak_rss_bytes",
                    "cpu_seconds",
                    "process_seconds",
                    "complete",
                    "skipped",
                    "errors",
                )
            } | {"rows_equal": result.get("rows") == entry["rows"] if result.get("complete") else None}
        complete = {e: r["seconds"] for e, r in entry["engines"].items() if r["complete"]}
        fastest = min(complete, key=lambda e: complete[e]) if complete else None
        entry["fastest_engine"] = fastest
        entry["ratio"] = entry["ours"]["seconds"] / complete[fastest] if fastest and complete[fastest] else None
        rows.append(entry)
    return rows


def total_summary(build: dict, engines: dict, families: list[dict]) -> dict[str, object]:
    """Totals: the whole build (wall time of the process) against each engine summed over the same files."""
    per_engine: dict[str, dict[str, Any]] = {}
    for engine in engines:
        results = [f["engines"][engine] for f in families]
        per_engine[engine] = {
            "complete": all(r["complete"] for r in results),
            "seconds": sum(r["seconds"] or 0 for r in results),
            "input_bytes": sum(r["input_bytes"] or 0 for r in results),
            "cpu_seconds": sum(r["cpu_seconds"] or 0 for r in results),
            "process_seconds": sum(r["process_seconds"] or 0 for r in results),
            "rows": sum(r["rows"] or 0 for r in results),
            "output_bytes": sum(r["output_bytes"] or 0 for r in results),
            "peak_rss_bytes": max((r["peak_rss_bytes"] or 0 for r in results), default=0),
        }
    complete = {e: r["seconds"] for e, r in per_engine.items() if r["complete"]}
    fastest = min(complete, key=lambda e: complete[e]) if complete else None
    ingest = sum(f["ours"]["seconds"] for f in families)
    return {
        "input_bytes": sum(f["input_bytes"] for f in families),
        "rows": sum(f["rows"] for f in families),
        "ours": {
            "seconds": build["seconds"],
            "cpu_seconds": build["cpu_seconds"],
            "ingest_seconds": ingest,
            "peak_rss_bytes": build["peak_rss_bytes"],
            "output_bytes": build["output_bytes"],
        },
        "engines": per_engine,
        "fastest_engine": fastest,
        "ratio": build["seconds"] / complete[fastest] if fastest else None,
        "ratio_ingest_only": ingest / complete[fastest] if fastest else None,
    }


def evaluate_targets(results: dict, runs: Sequence[dict] = ()) -> list[dict[str, Any]]:
    """Every target of ``TARGETS`` judged on ``results``, in order: the value, met or not, status, gap and note.

    ``runs`` are the results of other runs (any scale; ``results`` itself may be among them): the memory's
    flatness compares the peak at the smallest and the largest scale found. Results of older formats
    lack some phases: those targets are ``not measured``.
    """
    values = {
        "scale1_seconds": _projected_seconds(results),
        "build_ratio": Measured(results["total"].get("ratio")),
        **_small_jobs(results),
        "peak_rss_bytes": Measured(results["build"].get("peak_rss_bytes")),
        "rss_flat": _rss_flat(results, runs),
        "marts_seconds": _marts(results),
        "incremental_ratio": _incremental(results),
        "narratives_mb_s": _narratives(results),
        **_queries(results),
    }
    return [judge(name, target, values[name], results.get("scale")) for name, target in TARGETS.items()]


def judge(name: str, target: Target, measured: Measured, scale: float | None) -> dict[str, Any]:
    """One target's verdict: ``met`` (None when not judged), ``status`` and ``gap_factor`` (> 1: off by)."""
    value, note = measured.value, measured.note
    met: bool | None = None
    gap = None
    projected = name == "scale1_seconds" and scale != 1 and value is not None
    if value is None:
        status = "not measured"
    elif target.at_scale is not None and scale != target.at_scale:
        status = "n/a at this scale"
        note = f"the goal is at scale {target.at_scale:g}" + (f"; {note}" if note else "")
    else:
        size = abs(value)  # a change (rss_flat) is judged either way
        met = measured.sound and (size <= target.goal if target.sense == "le" else size >= target.goal)
        if size:
            gap = size / target.goal if target.sense == "le" else target.goal / size
        status = ("projected: " if projected else "") + ("met" if met else "missed")
    return {
        "name": name, "label": target.label, "target": target.goal, "sense": target.sense, "unit": target.unit,
        "at_scale": target.at_scale, "value": value, "met": met, "status": status, "projected": projected,
        "gap_factor": gap, "note": note,
    }  # fmt: skip


def _projected_seconds(results: dict) -> Measured:
    scale, seconds = results.get("scale"), results["total"]["ours"]["seconds"]
    if not scale:
        return Measured(None, "no scale (--source run)")
    if scale == 1:
        return Measured(seconds)
    return Measured(seconds / scale, f"projected linearly from {seconds:,.1f} s at scale {scale:g}")


def _phase(results: dict, key: str) -> tuple[dict | None, str | None]:
    """A phase's results, or None and why they are missing."""
    if key not in results:
        return None, PHASE_MISSING["absent"]
    phase = results[key]
    if phase is None:
        return None, PHASE_MISSING[None]
    if phase.get("skipped"):
        return None, f"phase skipped: {phase['skipped']}"
    return phase, None


def _small_jobs(results: dict) -> dict[str, Measured]:
    jobs, why = _phase(results, "small_jobs")
    if jobs is None:
        return {name: Measured(None, why) for name in ("small_boxes_ratio", "sample_seconds", "help_seconds")}
    fastest, boxes = jobs.get("fastest_engine"), jobs["boxes_build"]
    if fastest:
        note = (
            f"at scale {jobs['scale']:g}: build {boxes['best_seconds']:.2f} s, {fastest} "
            f"{jobs['engines'][fastest]['best_seconds']:.2f} s"
        )
    else:
        note = "no engine converted every file"
    return {
        "small_boxes_ratio": Measured(jobs.get("boxes_ratio"), note, sound=jobs.get("rows_equal") is not False),
        "sample_seconds": Measured(jobs["sample_build"]["best_seconds"]),
        "help_seconds": Measured(jobs["help"]["best_seconds"]),
    }


def scaled_peaks(results: dict, runs: Sequence[dict]) -> list[tuple[float, int]]:
    """(scale, build peak RSS) of the latest run at each scale, ``results`` standing for its own scale."""
    latest: dict[float, dict] = {}
    for run in runs:
        scale = run.get("scale")
        if scale is not None and (scale not in latest or run["date"] > latest[scale]["date"]):
            latest[scale] = run
    if results.get("scale") is not None:
        latest[results["scale"]] = results
    return sorted((scale, run["build"]["peak_rss_bytes"]) for scale, run in latest.items())


def _rss_flat(results: dict, runs: Sequence[dict]) -> Measured:
    peaks = scaled_peaks(results, runs)
    if len(peaks) < 2:
        return Measured(None, "needs runs at two scales or more (results-scale-*.json)")
    (small, low), (large, high) = peaks[0], peaks[-1]
    note = (
        f"{low / 1e6:,.0f} MB at scale {small:g} → {high / 1e6:,.0f} MB at scale {large:g} "
        f"({large / small:g}× the data)"
    )
    if small > 0.01 or large < 1:
        note += "; the goal spans scales 0.01 to 1"
    return Measured((high - low) / low * 100, note)


def _marts(results: dict) -> Measured:
    seconds = results["build"].get("marts_seconds")
    return Measured(seconds, None if seconds is not None else "no `marts` line in the build log")


def _incremental(results: dict) -> Measured:
    inc, why = _phase(results, "incremental")
    if inc is None:
        return Measured(None, why)
    note = (
        f"{inc['seconds']:,.2f} s against {inc['full_seconds']:,.2f} s; {len(inc['ingested'])} file(s) ingested, "
        f"{len(inc['reused'])} reused"
    )
    if not inc["rows_check"]:
        dropped = inc["validation_rows_before"] - inc["validation_rows_after"]
        note += f"; **rows check failed**: the validation boxes lost {dropped:,} rows, not 1"
    return Measured(inc["ratio"] * 100, note, sound=inc["rows_check"])


def _narratives(results: dict) -> Measured:
    files = [f for f in results["build"]["files"] if f["family"] == "narratives"]
    seconds = sum(f["seconds"] for f in files)
    if not files or not seconds:
        return Measured(None, "no narratives file in this run")
    size = sum(f["bytes"] for f in files)
    return Measured(size / seconds / 1e6, f"{len(files)} file(s), {size / 1e6:,.0f} MB in {seconds:,.1f} s")


def warm_seconds(seconds: Sequence[float]) -> float | None:
    """A query's warm time: the median of its runs after the first (which warms caches), else its one run."""
    if not seconds:
        return None
    return statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]


def _queries(results: dict) -> dict[str, Measured]:
    items = results["queries"]["items"]
    speedups = {q["name"]: q["speedup"] for q in items}
    speedup = Measured(None, "no queries")
    if speedups:
        slowest = min(speedups, key=lambda n: speedups[n])
        geomean = math.exp(statistics.fmean(math.log(v) for v in speedups.values()))
        note = f"slowest: {slowest}; geometric mean of all {len(speedups)}: {geomean:.1f}×"
        speedup = Measured(speedups[slowest], note)
    lookup = next((q for q in items if q["name"] == "image_boxes_lookup"), None)
    if lookup is None or not lookup["lake_seconds"]:
        return {"query_speedup": speedup, "lookup_ms": Measured(None, "no point lookup in this run")}
    times = lookup["lake_seconds"]
    how = f"median of runs 2–{len(times)}" if len(times) > 2 else "run 2" if len(times) == 2 else "its one run"
    warm = warm_seconds(times)
    note = f"{how}; first run {times[0] * 1000:,.1f} ms"
    return {"query_speedup": speedup, "lookup_ms": Measured(None if warm is None else warm * 1000, note)}
