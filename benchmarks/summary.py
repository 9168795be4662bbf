"""The benchmark's numbers compared: the build against each engine per family and in total, and the targets."""

from __future__ import annotations

import math
import statistics

from benchmarks.inputs import InputFile, per_split_families

TARGETS = {"build_ratio": 1.2, "peak_rss_bytes": 1.5e9, "scale1_seconds": 360.0, "query_speedup": 20.0}


def family_summary(build: dict, engines: dict, files: list[InputFile]) -> list[dict[str, object]]:
    """Per family: our numbers next to each engine's, and our time over the fastest engine's."""
    rows = []
    for family, family_files in per_split_families(files).items():
        ours = [f for f in build["files"] if f["family"] == family]
        peaks = [f["peak_rss_bytes"] for f in ours if f["peak_rss_bytes"] is not None]
        entry: dict[str, object] = {
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
    per_engine = {}
    for engine in engines:
        results = [f["engines"][engine] for f in families]
        complete = all(r["complete"] for r in results)
        per_engine[engine] = {
            "complete": complete,
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


def evaluate_targets(scale: float | None, total: dict, queries: dict) -> list[dict[str, object]]:
    """Each target of the issue with the measured value, met or not, and the gap."""
    speedups = {q["name"]: q["speedup"] for q in queries["items"]}
    slowest = min(speedups, key=lambda n: speedups[n]) if speedups else None
    geomean = math.exp(statistics.fmean(math.log(v) for v in speedups.values())) if speedups else None
    projected = total["ours"]["seconds"] / scale if scale else None
    items = [
        ("build_ratio", "build time / fastest bare engine, same files", total["ratio"], "×", "le", None),
        ("peak_rss_bytes", "peak RSS of the build's process tree", total["ours"]["peak_rss_bytes"], "bytes", "le",
         None),
        (
            "scale1_seconds", "full release (scale 1) build time", projected, "s", "le",
            None if scale == 1 else f"projected linearly from scale {scale:g}" if scale else "no scale (--source run)",
        ),
        (
            "query_speedup", "slowest dashboard query speed-up, lake vs raw CSV",
            speedups[slowest] if slowest else None, "×", "ge",
            f"slowest: {slowest}; geometric mean of all {len(speedups)}: {geomean:.1f}×" if slowest else None,
        ),
    ]  # fmt: skip
    out = []
    for name, label, value, unit, sense, note in items:
        target = TARGETS[name]
        met = None if value is None else (value <= target if sense == "le" else value >= target)
        gap = None if value is None else (value / target if sense == "le" else target / value)
        out.append(
            {"name": name, "label": label, "target": target, "sense": sense, "value": value, "unit": unit,
             "met": met, "gap_factor": gap, "note": note}
        )  # fmt: skip
    return out
