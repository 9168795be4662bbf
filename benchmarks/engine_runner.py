"""The bare engines as benchmark runners: each engine over each family's files in its own child process."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.inputs import InputFile, per_split_families
from benchmarks.monitor import run_monitored
from pipeline.core.progress import log

# pandas reads a whole file into memory: read_csv peaked at ~3.4x the CSV size and read_json(lines=True) at
# ~28x (a Python object per nested value) at scale 0.05. A file over these fractions of RAM (so a peak of
# about a third of RAM) is skipped, with the reason.
PANDAS_RAM_FRACTION = {"csv": 1 / 10, "jsonl": 1 / 100}
ENGINE_SCRIPT = Path(__file__).with_name("engines.py")


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
    by_family = per_split_families(files)
    results: dict[str, dict[str, dict[str, object]]] = {}
    for engine in engines:
        results[engine] = {}
        for family, family_files in by_family.items():
            log(f"bench {engine}: {family} ({len(family_files)} file(s))")
            results[engine][family] = run_engine(engine, family, family_files, out_dir, ram_bytes)
    shutil.rmtree(out_dir, ignore_errors=True)
    return results
