"""``BENCHMARKS.md`` rendered from the JSON results of ``oilake bench`` (never edited by hand).

The report shows one run in full (the JSON passed in), a table of every ``results-*.json`` next to it
(so peak RSS can be compared across scales), and the hand-written analysis in ``notes.md`` of the
same folder, if present.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from benchmarks.summary import evaluate_targets

NOTES = "notes.md"
FAMILY_HEADER = [
    "family", "runner", "files", "input MB", "rows", "seconds", "rows/s", "MB/s", "peak RSS MB", "output MB",
    "× fastest", "note",
]  # fmt: skip
RUNS_HEADER = [
    "date", "scale", "input MB", "rows", "build s", "peak RSS MB", "× fastest", "marts s", "narratives MB/s",
    "incremental %", "min query speed-up", "load (1 min)", "results",
]  # fmt: skip


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:,.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _rate(amount: float | None, seconds: float | None, scale: float = 1.0, digits: int = 0) -> str:
    if amount is None or not seconds:
        return "—"
    return f"{amount / scale / seconds:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _seconds(value: float | None) -> str:
    """Seconds with the digits that matter: 0.07 s, 3.21 s, 17.3 s, 401 s."""
    if value is None:
        return "—"
    return f"{value:,.{0 if value >= 100 else 1 if value >= 10 else 2}f} s"


def _goal(target: dict) -> str:
    sense, goal, unit = "≤" if target["sense"] == "le" else "≥", target["target"], target["unit"]
    text = (
        f"{sense} {goal / 1e9:g} GB" if unit == "bytes" else f"{sense} {goal:g}×" if unit == "×"
        else f"{sense} {goal:g} {unit}"
    )  # fmt: skip
    return text + (f" at scale {target['at_scale']:g}" if target.get("at_scale") is not None else "")


def _measured(target: dict) -> str:
    value, unit = target["value"], target["unit"]
    if value is None:
        return "—"
    if unit == "bytes":
        return _mb(value) + " MB"
    if unit == "s":
        return _seconds(value)
    if unit == "×":
        return _ratio(value)
    if unit == "%":
        return f"{value:+.1f} %" if target["name"] == "rss_flat" else f"{value:.1f} %"
    return f"{value:,.1f} {unit}"


def _status(target: dict) -> str:
    return str(target["status"]).replace("missed", "**missed**")


def _gap(target: dict) -> str:
    gap = target["gap_factor"]
    if gap is None or target["met"] is None:
        return "—"
    if target["met"]:
        return f"{1 / gap:.2f}× headroom" if gap else "—"
    return f"{gap:.2f}× off" if gap > 1 else "—"


def _target_rows(targets: list[dict]) -> list[list[str]]:
    return [
        [t["label"], _goal(t), _measured(t), _status(t), _gap(t), t["note"] or ""] for t in targets
    ]  # fmt: skip


def targets_by_scale_lines(runs: list[dict]) -> list[str]:
    """Every target judged on every run, one column per run (by scale): the measured value and its status."""
    if len(runs) < 2:
        return []
    judged = [evaluate_targets(run, runs) for run in runs]
    header = ["target", "goal", *(f"scale {run.get('scale'):g} ({str(run.get('date', ''))[:10]})" for run in runs)]
    rows = [
        [first["label"], _goal(first), *(f"{_measured(t[i])}: {_status(t[i])}" for t in judged)]
        for i, first in enumerate(judged[0])
    ]
    return [
        "### The targets at every scale",
        "",
        'The same goals judged on each run of "All runs" (a run\'s own value, then its verdict).',
        "",
        *_table(header, rows),
        "",
    ]


def _skip_note(result: dict) -> str:
    """Why an engine converted none of a family's files, in one short cell."""
    skipped, errors = result.get("skipped") or [], result.get("errors") or []
    parts = []
    if skipped:
        limit = skipped[0]["reason"].split(">", 1)[-1].strip()
        parts.append(f"skipped {len(skipped)} file(s) over the memory limit ({limit})")
    if errors:
        parts.append(f"{len(errors)} file(s) failed: {errors[0]['error'][:120]}")
    return "; ".join(parts) or "not run"


def _family_rows(results: dict) -> list[list[str]]:
    rows = []
    for family in results["families"]:
        fastest = family["fastest_engine"]
        fastest_seconds = family["engines"][fastest]["seconds"] if fastest else None
        runners = {"ours": family["ours"] | {"complete": True, "rows": family["rows"]}} | family["engines"]
        for name, r in runners.items():
            label = "**lake build**" if name == "ours" else name
            if not r.get("complete") and not r.get("seconds"):
                rows.append([family["family"], label, *["—"] * 8, _skip_note(r)])
                continue
            ratio = r["seconds"] / fastest_seconds if fastest_seconds and r.get("complete") else None
            note = "" if r.get("complete") else "partial: " + "; ".join(s["reason"] for s in r.get("skipped") or [])
            if name != "ours" and r.get("rows_equal") is False:
                note = (note + " rows differ from the build").strip()
            rows.append(
                [
                    family["family"], label, str(family["files"]), _mb(family["input_bytes"]), f"{r['rows']:,}",
                    _num(r["seconds"]), _rate(r["rows"], r["seconds"]),
                    _rate(r.get("input_bytes") or family["input_bytes"], r["seconds"], 1e6, 1),
                    _mb(r["peak_rss_bytes"]), _mb(r["output_bytes"]),
                    _ratio(ratio) + (" (fastest)" if name == fastest else ""), note,
                ]
            )  # fmt: skip
    return rows


def _total_rows(results: dict) -> list[list[str]]:
    total = results["total"]
    fastest = total["fastest_engine"]
    fastest_seconds = total["engines"][fastest]["seconds"] if fastest else None
    ours = total["ours"]
    rows = [
        [
            "**lake build** (whole process)", _num(ours["seconds"]), _num(ours.get("cpu_seconds")),
            _rate(total["rows"], ours["seconds"]), _rate(total["input_bytes"], ours["seconds"], 1e6, 1),
            _mb(ours["peak_rss_bytes"]), _mb(ours["output_bytes"]), _ratio(total["ratio"]), "yes",
        ],
        [
            "lake build, per-file ingest only", _num(ours["ingest_seconds"]), "",
            _rate(total["rows"], ours["ingest_seconds"]), _rate(total["input_bytes"], ours["ingest_seconds"], 1e6, 1),
            "", "", _ratio(total["ratio_ingest_only"]), "yes",
        ],
    ]  # fmt: skip
    for name, r in total["engines"].items():
        ratio = r["seconds"] / fastest_seconds if fastest_seconds and r["complete"] else None
        rows.append(
            [
                name + (" (fastest)" if name == fastest else ""), _num(r["seconds"]), _num(r.get("cpu_seconds")),
                _rate(r["rows"], r["seconds"]), _rate(r.get("input_bytes"), r["seconds"], 1e6, 1),
                _mb(r["peak_rss_bytes"]), _mb(r["output_bytes"]), _ratio(ratio),
                "yes" if r["complete"] else "no (files skipped)",
            ]
        )  # fmt: skip
    return rows


def _file_rows(results: dict) -> list[list[str]]:
    return [
        [
            f["file"], f["family"], f["split"] or "", _mb(f["bytes"]), f"{f['rows']:,}", _num(f["seconds"]),
            _rate(f["bytes"], f["seconds"], 1e6, 1), _mb(f["peak_rss_bytes"]), _mb(f["output_bytes"]),
        ]
        for f in results["build"]["files"]
    ]  # fmt: skip


def _query_rows(results: dict) -> list[list[str]]:
    rows = []
    for q in results["queries"]["items"]:
        equal = "yes" if q["equal"] else f"**no**: {q['difference']}"
        rows.append(
            [
                q["name"], q["kind"], f"{q['rows']:,}", _num(q["lake_median"] * 1000, 1),
                _num(q["raw_median"] * 1000, 1), f"{len(q['lake_seconds'])}/{len(q['raw_seconds'])}",
                f"{q['speedup']:,.1f}×", equal,
            ]
        )  # fmt: skip
    return rows


def _profile_lines(results: dict) -> list[str]:
    """The build's log with timestamps, and the py-spy profile when the run was made with ``--profile``."""
    out = ["## Where the build's time goes", ""]
    log = results["build"].get("log") or []
    if log:
        out += [
            "<details><summary>Build log, seconds since the process started</summary>",
            "",
            "```",
            *[f"{at:8.2f}  {line}" for at, line in log],
            "```",
            "",
            "</details>",
            "",
        ]
    profile = results.get("profile")
    if not profile:
        out += ["No profile in this run (`oilake bench --profile` builds once more under py-spy).", ""]
    elif profile.get("error"):
        out += [f"Profile not taken: {profile['error']}", ""]
    else:
        out += [
            f"py-spy, 100 samples/s over every busy thread ({profile['samples']:,} samples) of a second, identical "
            "build: the project's functions by inclusive share (time in them and what they call), and all "
            "functions by own share (time in their own code, native code included in the Python caller).",
            "",
            *_table(
                ["inclusive", "function", "own", "function "],
                [
                    [f"{a['share']:.1%}", f"`{a['function']}`", f"{b['share']:.1%}", f"`{b['function']}`"]
                    for a, b in zip(profile["inclusive"], profile["own"], strict=False)
                ],
            ),
            "",
        ]
    return out


def _run_summary(path: Path, results: dict, runs: list[dict]) -> list[str]:
    total = results["total"]
    values: dict[str, Any] = {t["name"]: t["value"] for t in evaluate_targets(results, runs)}
    query, narratives, incremental = values["query_speedup"], values["narratives_mb_s"], values["incremental_ratio"]
    return [
        results["date"], "—" if results["scale"] is None else f"{results['scale']:g}", _mb(total["input_bytes"]),
        f"{total['rows']:,}", _num(total["ours"]["seconds"], 1), _mb(total["ours"]["peak_rss_bytes"]),
        _ratio(total["ratio"]), _num(values["marts_seconds"], 1), _num(narratives, 1),
        "—" if incremental is None else f"{incremental:.1f} %", "—" if query is None else f"{query:,.1f}×",
        _num(results["machine"]["load_average"][0]), f"`{path.name}`",
    ]  # fmt: skip


def _machine_lines(results: dict) -> list[str]:
    machine = results["machine"]
    libraries = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items() if v)
    load = ", ".join(f"{x:.2f}" for x in machine["load_average"])
    load_end = ", ".join(f"{x:.2f}" for x in machine["load_average_end"])
    synth = results.get("synth")
    scale = "—" if results["scale"] is None else f"{results['scale']:g} (seed {results['seed']})"
    lines = [
        f"- **Date**: {results['date']}; whole benchmark {results['seconds']:,.0f} s",
        f"- **Scale**: {scale}; input {_mb(results['total']['input_bytes'])} MB of per-split files "
        f"({results['total']['rows']:,} rows) plus {len(results['inputs'])} files in all, from `{results['source']}`",
        f"- **Machine**: {machine['cpu']}, {machine['cores']} cores / {machine['logical_cpus']} logical CPUs, "
        f"{machine['ram_bytes'] / 2**30:.1f} GiB RAM; {machine['platform']}",
        f"- **Load average** (1, 5, 15 min) at the start: {load}; at the end: {load_end} "
        f"(the machine is shared with other work){_phase_loads(machine)}",
        f"- **Versions**: Python {machine['python']}, {libraries}",
    ]
    if synth:
        size = sum(f["bytes"] for f in synth["files"])
        generated = sum(f["seconds"] for f in synth["files"])
        how = f"generated in {synth['seconds']:,.1f} s" if generated else "reused, generated by an earlier run"
        lines.append(
            f"- **Data**: `pipeline.synth` at scale {synth['scale']:g}, seed {synth['seed']}: {size / 1e6:,.0f} MB in "
            f"{len(synth['files'])} files ({how})"
        )
    return lines


def _notes_lines(notes: Path) -> list[str]:
    """The hand-written analysis, when there is one."""
    if not notes.exists():
        return []
    return ["## Notes", "", notes.read_text(encoding="utf-8").strip(), ""]


def _phase_loads(machine: dict) -> str:
    phases = machine.get("load_average_phases") or {}
    if not phases:
        return ""
    return "; 1-minute load when each phase started: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in phases.items())


def render(results: dict, path: Path, report_dir: Path) -> str:
    """The markdown report for ``results`` (read from ``path``), with every run found next to it.

    Links are relative to ``report_dir``, the folder the report is written to.
    """
    folder = path.parent
    runs = load_runs(folder)
    if all(p.resolve() != path.resolve() for p, _ in runs):  # results not named results-*.json
        runs = sorted([*runs, (path, results)], key=_run_order)
    others = [r for _, r in runs]
    build = results["build"]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`oilake bench`) from [`{path.name}`]({_rel(path, report_dir)}); do not edit "
        f"by hand (the notes come from [`{NOTES}`]({_rel(folder / NOTES, report_dir)})). Sizes are MB = 10^6 bytes; "
        "peak RSS is of the whole process tree (the larger of the kernel's per-process high-water mark and the "
        "sampled sum of the tree); times are wall-clock seconds.",
        "",
        "## Run",
        "",
        *_machine_lines(results),
        "",
        "## Targets",
        "",
        "Each goal of issue 16, judged on this run (`benchmarks/summary.py`, `TARGETS`): `projected` is a full-release "
        "time scaled linearly from this run's; a goal at scale 1 only is shown but not judged at other scales; "
        "`not measured` when this run's results lack the phase (older runs, `--no-small-jobs`).",
        "",
        *_table(
            ["target", "goal", "measured", "status", "gap", "note"], _target_rows(evaluate_targets(results, others))
        ),
        "",
        *targets_by_scale_lines(others),
        *_notes_lines(folder / NOTES),
        "## Build against the bare engines, per family",
        "",
        "The lake build's time per family is the sum of its per-file times: the time between the build's log "
        "lines for consecutive files (open, read, validate, convert, write, close and re-sort if needed; the "
        "first file's from the manifest, as its window also holds the interpreter start); each bare engine "
        "converts the same files in its own process "
        "(`COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)`, `scan_csv(...).sink_parquet(...)`, "
        "`read_csv` + `to_parquet`; `read_json` / `scan_ndjson` / `read_json(lines=True)` for narratives), with "
        "its own type inference, zstd output, no validation, no sorting. `× fastest` divides by the fastest "
        "engine that converted every file of the family. The bare engines do not convert the small metadata "
        "files (class lists, hierarchy JSON): the build's cost for those is in its overhead.",
        "",
        *_table(FAMILY_HEADER, _family_rows(results)),
        "",
        "## Totals over the same files",
        "",
        f"The build's whole-process wall time (`{build['command']} ...`, interpreter start and imports "
        f"included) is {build['seconds']:,.2f} s: {build['ingest_seconds']:,.2f} s ingesting the files and "
        f"{build['overhead_seconds']:,.2f} s of overhead (interpreter start and imports, header checks of every "
        "file before any work, class graph, overlap removal, "
        + (f"materializing the marts: {build['marts_seconds']:,.2f} s, " if build.get("marts_seconds") else "")
        + "reconciliation and schema checks, catalog, publish). "
        "The engines' times are conversion time only (their "
        "import is not counted). `CPU s` is user + system time of the whole process (engines: of their "
        "processes, imports included): on 2 cores a runner that keeps both busy shows about twice its wall time.",
        "",
        *_table(
            ["runner", "seconds", "CPU s", "rows/s", "MB/s", "peak RSS MB", "output MB", "× fastest", "every file"],
            _total_rows(results),
        ),
        "",
        *incremental_lines(results),
        *small_jobs_lines(results),
        "## Build, per file",
        "",
        *_table(
            ["file", "family", "split", "MB", "rows", "seconds", "MB/s", "peak RSS MB", "output MB"],
            _file_rows(results),
        ),
        "",
        "## Dashboard queries: lake against raw CSV",
        "",
        "Each query runs on the lake's catalog (`pipeline.query.api.open_lake`) and on an in-memory DuckDB whose lake "
        "tables are views over the raw files (`benchmarks/raw_views.py`: `read_csv` / `read_json` with the same "
        "conversions the build makes, `-boxable` overlap removed, classes merged, the hierarchy closure by a "
        "recursive CTE over the JSON), with the same `sql/` views on top, so both run the same query text. "
        "A run is timed until its result is an Arrow table (as Polars or a dashboard reads it; results "
        "become Python rows for the comparison after the clock stops). "
        f"Median of up to {results['queries']['repeat']} runs (fewer when a query's runs exceed "
        f"{results['queries']['budget_seconds']:g} s); `results equal` compares the two result sets row by row. "
        f"The point lookup is image `{results['queries']['image_id']}`.",
        "",
        *_table(
            ["query", "kind", "rows", "lake ms", "raw CSV ms", "runs", "speed-up", "results equal"],
            _query_rows(results),
        ),
        "",
        "<details><summary>Query SQL</summary>",
        "",
        *[f"- `{q['name']}`: `{q['sql']}`" for q in results["queries"]["items"]],
        "",
        "</details>",
        "",
        *_profile_lines(results),
        *_evaluation_lines(folder / EVALUATION, report_dir),
        *_segmentation_lines(folder / SEGMENTATION, report_dir),
        *_masks_lines(folder / MASKS, report_dir),
        "## All runs",
        "",
        *_table(RUNS_HEADER, [_run_summary(p, r, others) for p, r in runs]),
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench SCALE=0.1 ARGS=--profile   # generate (or reuse) data in .bench/, build, baselines, queries",
        ".venv/bin/oilake bench --scale 0.1 --engines duckdb,polars --output BENCHMARKS.md",
        ".venv/bin/oilake bench --scale 0.01 --no-small-jobs   # a quick run: no boxes at scale 0.3",
        "```",
        "",
    ]
    return "\n".join(out)


def load_runs(folder: Path) -> list[tuple[Path, dict]]:
    """Every ``results-*.json`` of ``folder``, by scale (``--source`` runs last), then date."""
    return sorted(
        ((p, json.loads(p.read_text(encoding="utf-8"))) for p in folder.glob("results-*.json")), key=_run_order
    )


def _run_order(item: tuple[Path, dict]) -> tuple[bool, float, str]:
    return item[1]["scale"] is None, item[1]["scale"] or 0, item[1]["date"]


def _missing(results: dict, key: str, what: str) -> list[str] | None:
    """The section's text when ``results`` has no ``key`` phase, else None."""
    phase = results.get(key, "absent")
    if phase == "absent":
        return [f"Not measured: these results predate the {what} phase.", ""]
    if phase is None:
        return ["Not measured: the phase was skipped in this run (`--no-small-jobs`).", ""]
    if phase.get("skipped"):
        return [f"Not measured: {phase['skipped']}.", ""]
    return None


def _runs_text(seconds: list[float]) -> str:
    return ", ".join(f"{s:,.2f}" for s in seconds) or "—"


def small_jobs_lines(results: dict) -> list[str]:
    """The small jobs: a boxes-only build against the engines, the sample build, ``--help``."""
    head = ["## Small jobs", ""]
    missing = _missing(results, "small_jobs", "small jobs")
    if missing is not None:
        return head + missing
    jobs = results["small_jobs"]
    boxes, fastest = jobs["boxes_build"], jobs["fastest_engine"]
    best = jobs["engines"][fastest]["best_seconds"] if fastest else None
    marts = "" if boxes.get("marts_seconds") is None else f"; marts {boxes['marts_seconds']:.2f} s"
    rows = [
        ["boxes-only build", "**lake build**", _runs_text(boxes["seconds"]), _num(boxes["best_seconds"]), "",
         _mb(boxes["peak_rss_bytes"]), _ratio(boxes["best_seconds"] / best if best else None),
         f"`oilake build --only boxes`{marts}"],
    ]  # fmt: skip
    for name, r in jobs["engines"].items():
        if r["best_seconds"] is None:
            rows.append(["boxes-only build", name, "—", "—", "—", "—", "—", _skip_note(r)])
            continue
        note = f"import {r['import_seconds']:.2f} s" + ("" if r["rows_equal"] else "; rows differ from the build")
        rows.append(
            ["boxes-only build", name + (" (fastest)" if name == fastest else ""), _runs_text(r["seconds"]),
             _num(r["best_seconds"]), _num(r["convert_seconds"]), _mb(r["peak_rss_bytes"]),
             _ratio(r["best_seconds"] / best if best else None), note]
        )  # fmt: skip
    for job, key, note in (
        ("bundled sample build", "sample_build", "`oilake build` (the bundled sample) into a new lake"),
        ("`oilake --help`", "help", "`oilake --help`"),
    ):
        r = jobs[key]
        rows.append([job, "**lake build**" if key == "sample_build" else "**oilake**", _runs_text(r["seconds"]),
                     _num(r["best_seconds"]), "", _mb(r["peak_rss_bytes"]), "", note])  # fmt: skip
    return [
        *head,
        f"Jobs a user waits for, each a whole process (interpreter start and imports included) run "
        f"{jobs['repeat']} times in turn, the best counting. The boxes-only build reads the boxes synthesized at "
        f"scale {jobs['scale']:g} ({len(jobs['files'])} files, {_mb(jobs['input_bytes'])} MB, "
        f"{boxes['rows']:,} rows, in `{jobs['synth']['dest']}`); each bare engine converts the same files in "
        "its own process, timed the same way (`process` seconds: Python start, engine import and conversion; "
        "`conversion s` is the conversion alone in that best run). The sample build writes a new lake each "
        "time; it and `--help` are timed without memory sampling, which notices a process's end up to 0.1 s late.",
        "",
        *_table(["job", "runner", "runs, s", "best s", "conversion s", "peak RSS MB", "× fastest", "note"], rows),
        "",
    ]


def incremental_lines(results: dict) -> list[str]:
    """The rebuild after one changed file, next to the full build."""
    head = ["## Incremental rebuild", ""]
    missing = _missing(results, "incremental", "incremental rebuild")
    if missing is not None:
        return head + missing
    inc, build = results["incremental"], results["build"]
    changed = inc["changed"]
    rows = [
        ["full build", _num(build["seconds"]), _num(build.get("cpu_seconds")), _mb(build["peak_rss_bytes"]),
         _num(build.get("marts_seconds")), f"{len(build['files'])}", "0", "100.0 %"],
        ["after one changed file", _num(inc["seconds"]), _num(inc["cpu_seconds"]), _mb(inc["peak_rss_bytes"]),
         _num(inc["marts_seconds"]), f"{len(inc['ingested'])} ({_mb(inc['ingested_bytes'])} MB)",
         f"{len(inc['reused'])} ({_mb(inc['reused_bytes'])} MB)", f"{inc['ratio'] * 100:.1f} %"],
    ]  # fmt: skip
    check = "yes" if inc["rows_check"] else "**no**"
    header = ["build", "seconds", "CPU s", "peak RSS MB", "marts s", "files ingested", "files reused",
              "% of the full build"]  # fmt: skip
    log = [f"{at:8.2f}  {line}" for at, line in inc.get("log") or []]
    details = ["<details><summary>Rebuild log, seconds since the process started</summary>", "", "```", *log, "```",
               "", "</details>", ""]  # fmt: skip
    return [
        *head,
        f"After the full build, `{changed['file']}` lost its last data row ({changed['bytes_removed']:,} of "
        f"{changed['bytes_before']:,} bytes; a copy, every other file a symbolic link to the data folder) and "
        "the full build's command rebuilt the same lake from that folder, whole process: the build lends the "
        "previous release's output of every file whose name, size and md5 are unchanged (md5 hashed again) and "
        "ingests the rest; marts and checks run as in a full build.",
        "",
        *_table(header, rows),
        "",
        f"Validation boxes: {inc['validation_rows_before']:,} rows before, {inc['validation_rows_after']:,} after "
        f"(exactly one fewer: {check}). Ingested: {', '.join(f'`{f}`' for f in inc['ingested']) or 'none'}.",
        "",
        *(details if log else []),
    ]


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


EVALUATION = "evaluation-results.json"
SEGMENTATION = "evaluation-segmentation-results.json"
MASKS = "masks-results.json"


def _masks_lines(path: Path, report_dir: Path) -> list[str]:
    """The section of ``make bench-masks``'s results, when there are any."""
    if not path.is_file():
        return []
    from benchmarks.masks import section

    return section(json.loads(path.read_text(encoding="utf-8")), path, report_dir)


def _segmentation_lines(path: Path, report_dir: Path) -> list[str]:
    """The instance-segmentation evaluation's results (``benchmarks/evaluation.py --task segmentation``)."""
    if not path.is_file():
        return []
    ev = json.loads(path.read_text(encoding="utf-8"))
    ours, ref = ev["oilake"], ev["reference"]
    goal = ev.get("targets", {}).get("seconds", 60)
    met = "met" if ours["seconds"] <= goal else "**missed**"
    return [
        "## Evaluation: instance segmentation (`oilake evaluate --task segmentation`)",
        "",
        f"From [`{path.name}`]({_rel(path, report_dir)}) ({ev['date']}): the {ev['split']} split at scale "
        f"{ev['scale']:g} ({ev['images']:,} images, {ev['gt_masks']:,} ground-truth masks, "
        f"{ev['gt_boxes_without_mask']:,} boxes without a mask as ignore regions), {ev['predictions']:,} "
        f"predicted masks ({_mb(ev['predictions_bytes'])} MB of CSV), mAP {ev['map']:.4f}. `oilake evaluate` "
        f"(whole process) took **{ours['seconds']:,.1f} s** (goal ≤ {goal:g} s: {met}), peak RSS "
        f"{_mb(ours['peak_rss_bytes'])} MB. The per-image reference port (`tests/tools/oi_reference.py`, mask "
        f"mode) took {ref['seconds_per_image'] * 1000:,.0f} ms per image over {ref['images']:,} images, "
        f"{ref['extrapolated_seconds']:,.0f} s extrapolated: oilake is {ev['ratio']:,.0f}× faster.",
        "",
    ]


def _evaluation_lines(path: Path, report_dir: Path) -> list[str]:
    """The section of ``make bench-evaluate``'s results, when there are any."""
    if not path.is_file():
        return []
    ev = json.loads(path.read_text(encoding="utf-8"))
    ours, ref, goal = ev["oilake"], ev["reference"], ev["targets"]

    def status(met: bool) -> str:
        return "met" if met else "**missed**"

    rows = [
        ["evaluation time", f"≤ {goal['seconds']:g} s", f"{ours['seconds']:,.1f} s",
         status(ours["seconds"] <= goal["seconds"])],
        ["peak RSS", f"≤ {_mb(goal['peak_rss_bytes'])} MB", f"{_mb(ours['peak_rss_bytes'])} MB",
         status(ours["peak_rss_bytes"] <= goal["peak_rss_bytes"])],
        ["× faster than the per-image reference", f"≥ {goal['ratio']:g}×", f"{ev['ratio']:,.0f}×",
         status(ev["ratio"] >= goal["ratio"])],
    ]  # fmt: skip
    return [
        "## Evaluation: `oilake evaluate` against the per-image reference",
        "",
        f"From [`{path.name}`]({_rel(path, report_dir)}) (`make bench-evaluate`, {ev['date']}): the "
        f"{ev['split']} split synthesized at scale {ev['scale']:g} ({ev['images']:,} images, "
        f"{ev['gt_instances']:,} ground-truth instances after expansion, {ev['classes_with_ground_truth']} classes), "
        f"{ev['predictions']:,} synthetic predictions ({_mb(ev['predictions_bytes'])} MB of CSV), the Challenge "
        f"metric (mAP {ev['map']:.4f}). `oilake evaluate` is the whole process (reading the CSV, matching, "
        "AP, writing every output and the plot). The reference is `tests/tools/oi_reference.py`, a plain "
        "numpy port of tensorflow/models' per-image loop, timed on the evaluation alone (its inputs already "
        f"in memory) over the first {ref['images']:,} images ({ref['predictions']:,} predictions): "
        f"{ref['seconds']:,.1f} s, {ref['seconds_per_image'] * 1000:,.1f} ms per image, extrapolated "
        f"linearly to {ref['extrapolated_seconds']:,.0f} s for every image.",
        "",
        *_table(["target", "goal", "measured", "status"], rows),
        "",
    ]


def rerender(output: Path) -> Path:
    """Render ``output`` again from the largest-scale benchmark run (after ``make bench-evaluate``)."""
    folder = Path(__file__).resolve().parent
    runs = [(p, json.loads(p.read_text(encoding="utf-8"))) for p in folder.glob("results-*.json")]
    path = max(runs, key=lambda item: (item[1]["scale"] or 0, item[1]["date"]))[0]
    return write_report(path, output)


def write_report(results_path: Path, output: Path) -> Path:
    """Render ``results_path`` (and its sibling runs and notes) into ``output``."""
    results = json.loads(results_path.read_text(encoding="utf-8"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(results, results_path, output.parent), encoding="utf-8")
    return output
