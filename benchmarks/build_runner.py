"""The lake build as a benchmark runner: ``oilake build`` in a child process, its per-file windows and profile."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.monitor import ProcessRun, run_monitored
from pipeline.lake.manifest import MANIFEST, read_manifest

_FINISHED_FILE = re.compile(r"← (\S+): [\d,]+ rows")
_MARTS = re.compile(r"^marts .*\(([\d.]+)s\)$")


OILAKE = (sys.executable, "-m", "pipeline.cli")  # the ``oilake`` script's interpreter and imports


def build_command(folder: Path | None, lake: Path, *options: str) -> list[str]:
    """``oilake build`` of ``folder`` (None: the bundled sample) into ``lake``, rejects never failing it."""
    source = [] if folder is None else ["--source", str(folder)]
    return [*OILAKE, "build", *source, "--lake", str(lake), *options, "--max-rejects", str(10**12)]


def marts_seconds(run: ProcessRun) -> float | None:
    """The marts' time from the build log's ``marts ... (Ns)`` line, if any."""
    marts = [float(m.group(1)) for _, line in run.lines if (m := _MARTS.match(line.strip()))]
    return marts[0] if marts else None


def current_release(lake: Path) -> Path:
    """The lake's current release folder."""
    return (lake / MANIFEST).resolve().parent


def run_build(folder: Path, lake: Path) -> dict[str, Any]:
    """``oilake build`` in a child process: wall time, peak RSS, per-file numbers from the manifest."""
    if lake.exists():
        shutil.rmtree(lake)
    command = build_command(folder, lake)
    run = run_monitored(command)
    if run.returncode != 0:
        raise RuntimeError(f"build failed ({run.returncode}):\n{run.stderr[-3000:]}")
    release = current_release(lake)
    manifest = read_manifest(release)
    windows = _file_windows(run)
    files: list[dict[str, Any]] = []
    for source in manifest.sources:
        output = release / source.output if source.output else None
        start, end = windows.get(source.file, (0.0, -1.0))  # no window: a file the build did not read
        peak = max((rss for t, rss in run.samples if start <= t <= end), default=None) if end >= 0 else None
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
    return {
        "command": " ".join(command[: command.index("--max-rejects")]),
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "ingest_seconds": ingest,
        "overhead_seconds": run.seconds - ingest,
        "marts_seconds": marts_seconds(run),
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
    command = [py_spy, "record", "--rate", "100", "--format", "raw", "--nonblocking", "--subprocesses", "-o", str(raw)]
    done = subprocess.run([*command, "--", *build_command(folder, lake)], capture_output=True, text=True)
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
