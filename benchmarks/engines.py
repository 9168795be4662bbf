"""Bare-engine baselines for the benchmark: one file in, one zstd Parquet file out, engine defaults.

Run as a script in its own process (``python benchmarks/engines.py JOB.json``) so that its peak
RSS is the engine's alone: it imports nothing from ``pipeline`` (whose ``__init__`` loads every engine).
The job is ``{"engine": ..., "files": [{"path", "kind", "has_header", "output"}]}``; the result, one
JSON object on stdout, is ``{"files": [{"path", "rows", "seconds", "output_bytes", "error"}]}``.
Each engine infers types itself and validates nothing: this is the floor the lake build is compared with.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ENGINES = ("duckdb", "polars", "pandas")
KINDS = ("csv", "jsonl")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_convert(path: str, kind: str, has_header: bool, output: str) -> int:
    """``COPY (SELECT * FROM read_csv/read_json(...)) TO ... (FORMAT parquet, COMPRESSION zstd)``."""
    import duckdb

    if kind == "csv":
        reader = f"read_csv({_sql_string(path)}, header = {str(has_header).lower()})"
    else:
        reader = f"read_json({_sql_string(path)}, format = 'newline_delimited')"
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"copy (select * from {reader}) to {_sql_string(output)} (format parquet, compression zstd)"
        ).fetchall()
    finally:
        con.close()
    return int(rows[0][0])


def polars_convert(path: str, kind: str, has_header: bool, output: str) -> int:
    """``scan_csv(...).sink_parquet(...)`` or ``scan_ndjson(...).sink_parquet(...)``."""
    import polars as pl
    import pyarrow.parquet as pq

    frame = pl.scan_csv(path, has_header=has_header) if kind == "csv" else pl.scan_ndjson(path)
    frame.sink_parquet(output, compression="zstd")
    return pq.ParquetFile(output).metadata.num_rows


def pandas_convert(path: str, kind: str, has_header: bool, output: str) -> int:
    """``read_csv`` (whole file) + ``to_parquet``, or ``read_json(lines=True)`` + ``to_parquet``."""
    import pandas as pd

    if kind == "csv":
        frame = pd.read_csv(path, header=0 if has_header else None)
        frame.columns = [str(c) for c in frame.columns]
    else:
        frame = pd.read_json(path, lines=True)
    frame.to_parquet(output, compression="zstd", index=False)
    return len(frame)


CONVERTERS: dict[str, Callable[[str, str, bool, str], int]] = {
    "duckdb": duckdb_convert,
    "polars": polars_convert,
    "pandas": pandas_convert,
}


IMPORTS = {"duckdb": ("duckdb",), "polars": ("polars", "pyarrow.parquet"), "pandas": ("pandas", "pyarrow")}


def run_job(job: dict) -> dict:
    """Convert every file of the job in order; a failing file is reported, not raised.

    The engine is imported before the clock starts: ``seconds`` is conversion time only.
    """
    started = time.perf_counter()
    for module in IMPORTS[job["engine"]]:
        importlib.import_module(module)
    import_seconds = time.perf_counter() - started
    convert = CONVERTERS[job["engine"]]
    results = []
    for item in job["files"]:
        output = Path(item["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        try:
            rows = convert(item["path"], item["kind"], item["has_header"], str(output))
            error = None
        except Exception as exc:  # an engine that cannot read a file is a result, not a crash
            rows, error = None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        seconds = time.perf_counter() - started
        size = output.stat().st_size if output.exists() else 0
        results.append({"path": item["path"], "rows": rows, "seconds": seconds, "output_bytes": size, "error": error})
        if job.get("delete_outputs"):
            output.unlink(missing_ok=True)
    return {"engine": job["engine"], "import_seconds": import_seconds, "files": results, "vm_hwm_bytes": vm_hwm()}


def vm_hwm() -> int | None:
    """This process's peak resident memory (VmHWM) in bytes, where ``/proc`` has it."""
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    sys.stdout.write(json.dumps(run_job(job)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    # Run as a script: drop this folder from the path so no module here shadows a library's.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    raise SystemExit(main(sys.argv))
