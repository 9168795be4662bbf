"""The benchmark behind ``oilake bench`` / ``make bench``: the lake build against the bare engines.

One run: generate (or reuse) data at a scale with ``pipeline.synth``; build the lake with ``oilake
build`` in a child process; convert the same per-split files with each bare engine
(``benchmarks/engines.py``, one child process per engine and family); time dashboard queries on
the lake and over the raw files (``benchmarks.queries``). Peak RSS is measured for each child's
whole process tree: the largest kernel high-water mark (VmHWM) of any of its processes and the
sampled sum of the tree's resident memory, whichever is larger, both read from ``/proc`` every 0.1 s.
Results go to a JSON file and the markdown report is rendered from the JSON files
(``benchmarks.report``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from benchmarks import queries as bench_queries
from pipeline.core.progress import log
from pipeline.families import family_specs
from pipeline.lake.manifest import MANIFEST, read_manifest

ENGINES = ("duckdb", "polars", "pandas")
LIBRARIES = ("pyarrow", "polars", "duckdb", "pandas", "numpy", "psutil")
TARGETS = {"build_ratio": 1.2, "peak_rss_bytes": 1.5e9, "scale1_seconds": 360.0, "query_speedup": 20.0}
# pandas reads a whole file into memory: read_csv peaked at ~3.4x the CSV size and read_json(lines=True) at
# ~28x (a Python object per nested value) at scale 0.05. A file over these fractions of RAM (so a peak of
# about a third of RAM) is skipped, with the reason.
PANDAS_RAM_FRACTION = {"csv": 1 / 10, "jsonl": 1 / 100}
ENGINE_SCRIPT = Path(__file__).with_name("engines.py")
_FINISHED_FILE = re.compile(r"← (\S+): [\d,]+ rows")
_MARTS = re.compile(r"^marts .*\(([\d.]+)s\)$")


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

    def results_path(self) -> Path:
        if self.results is not None:
            return self.results
        tag = f"scale-{self.scale:g}" if self.source is None else f"source-{self.source.resolve().name}"
        return Path("benchmarks") / f"results-{tag}.json"

    def data_path(self) -> Path:
        return self.data if self.data is not None else Path(".bench") / f"data-{self.scale:g}"


@dataclass
class ProcessRun:
    """A finished child process: wall time, peak memory of its tree, output."""

    seconds: float
    returncode: int
    peak_rss_bytes: int  # the larger of hwm_bytes and sampled_peak_bytes
    hwm_bytes: int  # the largest VmHWM (kernel high-water mark of resident memory) of any process of the tree
    sampled_peak_bytes: int  # the largest sampled sum of the tree's resident memory
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system time of the tree (its reaped processes)
    samples: list[tuple[float, int]] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)


def _rss_hwm(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, from ``/proc/PID/status``."""
    values = {"VmRSS:": 0, "VmHWM:": 0}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        key = line.split(None, 1)[0] if line else ""
        if key in values:
            values[key] = int(line.split()[1]) * 1024
    return values["VmRSS:"], values["VmHWM:"]


def _sample_tree(root: object, program: str, hwm: dict[int, int]) -> int | None:
    """The summed RSS of ``root`` and its descendants, updating each one's VmHWM in ``hwm``.

    None until ``root`` has executed ``program``: before its exec a child still shares or copies the
    harness's memory. (For the same reason the ``ru_maxrss`` of ``wait4`` is not used: Linux carries the
    forking parent's high-water mark into it.)
    """
    import psutil

    assert isinstance(root, psutil.Process)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid == root.pid and proc.cmdline()[:1] != [program]:
                return None
            rss, peak = _rss_hwm(proc.pid)
            total += rss
            hwm[proc.pid] = max(hwm.get(proc.pid, 0), peak)
    return total


def run_monitored(command: Sequence[str], interval: float = 0.1, env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``command``; its wall time, stdout, timestamped stderr lines and the peak RSS of its tree."""
    import psutil

    before = _children_cpu()
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env
    )
    out: list[str] = []
    lines: list[tuple[float, str]] = []
    readers = [
        threading.Thread(target=lambda: out.append(child.stdout.read() if child.stdout else "")),
        threading.Thread(target=_read_lines, args=(child, lines, started)),
    ]
    for reader in readers:
        reader.start()
    root = psutil.Process(child.pid)
    samples: list[tuple[float, int]] = []
    hwm: dict[int, int] = {}
    while child.poll() is None:
        total = _sample_tree(root, command[0], hwm)
        if total is not None:
            samples.append((time.perf_counter() - started, total))
        time.sleep(interval if samples else 0.005)
    seconds = time.perf_counter() - started
    for reader in readers:
        reader.join()
    sampled = max((rss for _, rss in samples), default=0)
    highest = max(hwm.values(), default=0)
    return ProcessRun(
        seconds=seconds, returncode=child.returncode, peak_rss_bytes=max(highest, sampled), hwm_bytes=highest,
        sampled_peak_bytes=sampled, stdout="".join(out), stderr="".join(line for _, line in lines),
        cpu_seconds=_children_cpu() - before, samples=samples, lines=lines,
    )  # fmt: skip


def _children_cpu() -> float:
    """User + system seconds of every child process reaped so far (one child runs at a time here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_lines(child: subprocess.Popen, lines: list[tuple[float, str]], started: float) -> None:
    assert child.stderr is not None
    for line in child.stderr:
        lines.append((time.perf_counter() - started, line))


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, object]:
    """CPU, cores, RAM, load average now, Python and library versions."""
    import psutil

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(logical=False),
        "logical_cpus": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "load_average": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


@dataclass
class InputFile:
    family: str
    split: str | None
    path: Path
    kind: str
    has_header: bool

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size


def input_files(folder: Path) -> list[InputFile]:
    """Every official file in ``folder``, with how a bare engine reads it."""
    specs = family_specs()
    files = []
    for (family, split), paths in bench_queries.find_files(folder).items():
        for path in paths:
            kind = "jsonl" if ".jsonl" in path.name else "csv" if family in specs else "json"
            has_header = specs[family].has_header if family in specs else False
            files.append(InputFile(family, split, path, kind, has_header))
    return files


def generate(options: BenchOptions) -> tuple[Path, dict[str, object] | None]:
    """The folder to benchmark: ``--source`` as it is, or synthesized (reused when identical) data."""
    if options.source is not None:
        return options.source, None
    from pipeline.synth import synthesize

    assert options.scale is not None
    report = synthesize(options.data_path(), options.scale, seed=options.seed, progress=True)
    return report.dest, {
        "dest": str(report.dest),
        "scale": report.scale,
        "seed": report.seed,
        "seconds": report.seconds,
        "rows_by_table": report.rows_by_table(),
        "files": [
            {"family": f.family, "split": f.split, "file": f.name, "rows": f.rows, "bytes": f.bytes,
             "seconds": f.seconds}
            for f in report.files
        ],
    }  # fmt: skip


def run_build(folder: Path, lake: Path) -> dict[str, object]:
    """``oilake build`` in a child process: wall time, peak RSS, per-file numbers from the manifest."""
    if lake.exists():
        shutil.rmtree(lake)
    command = [sys.executable, "-m", "pipeline.cli", "build", "--source", str(folder), "--lake", str(lake)]
    run = run_monitored([*command, "--max-rejects", str(10**12)])
    if run.returncode != 0:
        raise RuntimeError(f"build failed ({run.returncode}):\n{run.stderr[-3000:]}")
    release = (lake / MANIFEST).resolve().parent  # the lake's current release folder
    manifest = read_manifest(release)
    windows = _file_windows(run)
    files = []
    for source in manifest.sources:
        output = release / source.output if source.output else None
        start, end = windows.get(source.file, (None, None))
        peak = max((rss for t, rss in run.samples if start <= t <= end), default=None) if start is not None else None
        # The manifest's time stops when the last row is read; the file's Parquet writer is closed after
        # that (the last row group, a re-sort). The time between the log lines of consecutive files has
        # both; the first file's window would also hold the interpreter start, so it keeps its own time.
        seconds = end - start if start else source.seconds
        files.append(
            {
                "family": source.family, "split": source.split, "file": source.file,
                "bytes": source.bytes, "rows": source.rows_read, "rows_rejected": source.rows_rejected,
                "seconds": seconds, "manifest_seconds": source.seconds, "peak_rss_bytes": peak,
                "output_bytes": output.stat().st_size if output and output.exists() else 0,
            }
        )  # fmt: skip
    ingest = sum(f["seconds"] for f in files)
    marts = [float(m.group(1)) for _, line in run.lines if (m := _MARTS.match(line.strip()))]
    return {
        "command": " ".join(command),
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "ingest_seconds": ingest,
        "overhead_seconds": run.seconds - ingest,
        "marts_seconds": marts[0] if marts else None,
        "peak_rss_bytes": run.peak_rss_bytes,
        "hwm_bytes": run.hwm_bytes,
        "sampled_peak_bytes": run.sampled_peak_bytes,
        "rows": sum(f["rows"] for f in files),
        "rows_rejected": sum(f["rows_rejected"] for f in files),
        "output_bytes": _folder_bytes(release),
        "tables": manifest.table_rows(),
        "files": files,
        "log": [[round(at, 3), line.rstrip()] for at, line in run.lines],
    }


def profile_build(folder: Path, lake: Path, top: int = 25) -> dict[str, object]:
    """Build again under py-spy (sampling, not blocking the build); the functions with the most samples."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return {"error": "py-spy is not installed (pip install py-spy, or the bench extra)"}
    if lake.exists():
        shutil.rmtree(lake)
    raw = lake.parent / "profile.txt"
    build = [sys.executable, "-m", "pipeline.cli", "build", "--source", str(folder), "--lake", str(lake)]
    command = [py_spy, "record", "--rate", "100", "--format", "raw", "--nonblocking", "--subprocesses", "-o", str(raw)]
    done = subprocess.run([*command, "--", *build, "--max-rejects", str(10**12)], capture_output=True, text=True)
    if done.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}"}
    summary = summarize_profile(raw.read_text(encoding="utf-8"), top)
    raw.unlink()
    shutil.rmtree(lake, ignore_errors=True)
    return summary


_PROCESS_FRAME = re.compile(r'^process \d+:"')
_FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    """``func (/x/site-packages/pyarrow/parquet/core.py:1225)`` → ``func (pyarrow/parquet/core.py)``."""
    found = _FRAME.match(frame)
    if not found:
        return frame
    function, path = found.groups()
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/pipeline/" in f"/{path}":
        path = "pipeline/" + f"/{path}".rsplit("/pipeline/", 1)[1]
    elif path.startswith("/"):
        path = path.rsplit("/", 1)[-1]
    return f"{function} ({path})"


def summarize_profile(raw: str, top: int = 25) -> dict[str, object]:
    """py-spy raw stacks (``frame;frame;... count``) → the top functions by own samples, and the
    project's functions (``pipeline/``) by inclusive samples. Shares are of all samples of busy threads."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame_name(frame) for frame in stack.split(";") if not _PROCESS_FRAME.match(frame)] or ["(idle)"]
        for frame in {f for f in frames if "(pipeline/" in f}:
            inclusive[frame] = inclusive.get(frame, 0) + samples
        own[frames[-1]] = own.get(frames[-1], 0) + samples

    def ranked(counts: dict[str, int]) -> list[dict[str, object]]:
        best = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return [{"function": name, "share": count / total} for name, count in best]

    return {"samples": total, "inclusive": ranked(inclusive), "own": ranked(own)}


def _folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symbolic links not followed)."""
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def _file_windows(run: ProcessRun) -> dict[str, tuple[float, float]]:
    """When each file was being read: from the previous ``read ... ← FILE`` log line to its own."""
    windows: dict[str, tuple[float, float]] = {}
    previous = 0.0
    for at, line in run.lines:
        found = _FINISHED_FILE.search(line)
        if found:
            windows[found.group(1)] = (previous, at)
            previous = at
    return windows


def pandas_skip_reason(file: InputFile, ram_bytes: int) -> str | None:
    """Why pandas is not run on ``file`` (too big to read whole into this machine's RAM), or None."""
    limit = int(ram_bytes * PANDAS_RAM_FRACTION[file.kind])
    if file.bytes > limit:
        share = PANDAS_RAM_FRACTION[file.kind]
        return f"{file.bytes / 1e6:,.0f} MB > RAM/{round(1 / share)} = {limit / 1e6:,.0f} MB ({file.kind})"
    return None


def run_engine(engine: str, family: str, files: list[InputFile], out_dir: Path, ram_bytes: int) -> dict[str, object]:
    """One bare engine over one family's files, in its own child process."""
    skipped = []
    todo = []
    for file in files:
        reason = pandas_skip_reason(file, ram_bytes) if engine == "pandas" else None
        if reason:
            skipped.append({"file": file.path.name, "reason": reason})
        else:
            todo.append(file)
    result: dict[str, object] = {"files": [], "skipped": skipped, "errors": []}
    if not todo:
        return result | {"complete": False, "seconds": None, "peak_rss_bytes": None}
    job = {
        "engine": engine,
        "delete_outputs": True,
        "files": [
            {"path": str(f.path), "kind": f.kind, "has_header": f.has_header,
             "output": str(out_dir / engine / f"{f.path.name}.parquet")}
            for f in todo
        ],
    }  # fmt: skip
    job_file = out_dir / f"job-{engine}-{family}.json"
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(json.dumps(job), encoding="utf-8")
    run = run_monitored([sys.executable, str(ENGINE_SCRIPT), str(job_file)])
    if run.returncode != 0:
        error = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"
        return result | {"complete": False, "seconds": None, "peak_rss_bytes": run.peak_rss_bytes, "crash": error}
    answer = json.loads(run.stdout)
    per_file = [
        {"file": Path(item["path"]).name, "rows": item["rows"], "seconds": item["seconds"],
         "output_bytes": item["output_bytes"], "error": item["error"]}
        for item in answer["files"]
    ]  # fmt: skip
    errors = [{"file": f["file"], "error": f["error"]} for f in per_file if f["error"]]
    ok = [f for f in per_file if not f["error"]]
    sizes = {f.path.name: f.bytes for f in todo}
    return {
        "input_bytes": sum(sizes[f["file"]] for f in ok),
        "files": per_file,
        "skipped": skipped,
        "errors": errors,
        "complete": not skipped and not errors,
        "seconds": sum(f["seconds"] for f in ok),
        "rows": sum(f["rows"] for f in ok),
        "output_bytes": sum(f["output_bytes"] for f in ok),
        "peak_rss_bytes": max(run.peak_rss_bytes, answer.get("vm_hwm_bytes") or 0),
        "process_seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "import_seconds": answer["import_seconds"],
    }


def run_engines(
    files: list[InputFile], engines: Sequence[str], out_dir: Path, ram_bytes: int
) -> dict[str, dict[str, dict[str, object]]]:
    """Every engine over every per-split family: ``{engine: {family: result}}``."""
    by_family = _per_split_families(files)
    results: dict[str, dict[str, dict[str, object]]] = {}
    for engine in engines:
        results[engine] = {}
        for family, family_files in by_family.items():
            log(f"bench {engine}: {family} ({len(family_files)} file(s))")
            results[engine][family] = run_engine(engine, family, family_files, out_dir, ram_bytes)
    shutil.rmtree(out_dir, ignore_errors=True)
    return results


def _per_split_families(files: list[InputFile]) -> dict[str, list[InputFile]]:
    """The row-data families (per-split files) that the bare engines convert, in file-list order."""
    by_family: dict[str, list[InputFile]] = {}
    for file in files:
        if file.split is not None:
            by_family.setdefault(file.family, []).append(file)
    return by_family


def run_queries(folder: Path, lake: Path, repeat: int, budget: float) -> dict[str, object]:
    """Every dashboard query on the lake and over the raw files: times, speed-up, results equal."""
    from pipeline.query.api import open_lake

    raw = bench_queries.open_raw(folder)
    items = []
    with open_lake(lake) as opened:
        image_id = bench_queries.lookup_image(opened.con)
        for query in bench_queries.QUERIES:
            sql = query.sql.format(image_id=image_id)
            log(f"bench query: {query.name}")
            lake_times, lake_rows = bench_queries.time_query(opened.con, sql, repeat, budget)
            raw_times, raw_rows = bench_queries.time_query(raw, sql, repeat, budget)
            difference = bench_queries.compare(lake_rows, raw_rows)
            lake_median, raw_median = bench_queries.median(lake_times), bench_queries.median(raw_times)
            items.append(
                {
                    "name": query.name, "kind": query.kind, "sql": sql, "rows": len(lake_rows),
                    "lake_seconds": lake_times, "raw_seconds": raw_times,
                    "lake_median": lake_median, "raw_median": raw_median, "speedup": raw_median / lake_median,
                    "equal": difference is None, "difference": difference,
                }
            )  # fmt: skip
    raw.close()
    return {"image_id": image_id, "repeat": repeat, "budget_seconds": budget, "items": items}


def family_summary(build: dict, engines: dict, files: list[InputFile]) -> list[dict[str, object]]:
    """Per family: our numbers next to each engine's, and our time over the fastest engine's."""
    rows = []
    for family, family_files in _per_split_families(files).items():
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


def run_bench(options: BenchOptions) -> dict[str, object]:
    """Run the whole benchmark and write the JSON results and the markdown report."""
    from benchmarks.report import write_report

    started = time.perf_counter()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()
    folder, synth = generate(options)
    files = input_files(folder)
    work = options.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    lake = work / "lake"
    load = {"build": list(os.getloadavg())}
    log(f"bench build: {folder} → {lake}")
    build = run_build(folder, lake)
    load["engines"] = list(os.getloadavg())
    engines = run_engines(files, options.engines, work / "engines", int(machine["ram_bytes"]))
    load["queries"] = list(os.getloadavg())
    queries = run_queries(folder, lake, options.repeat, options.query_budget)
    profile = None
    if options.profile:
        log("bench profile: the build again under py-spy")
        profile = profile_build(folder, work / "profiled-lake")
    families = family_summary(build, engines, files)
    total = total_summary(build, engines, families)
    results = {
        "format": 1,
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
        "targets": evaluate_targets(options.scale if options.source is None else None, total, queries),
        "profile": profile,
        "seconds": time.perf_counter() - started,
    }
    path = options.results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"bench wrote {path}")
    if options.output is not None:
        write_report(path, options.output)
        log(f"bench wrote {options.output}")
    if not options.keep:
        shutil.rmtree(lake, ignore_errors=True)
    return results
