"""The incremental rebuild: one file of the release changed, the lake built again in place, against the full build.

The changed source is a folder of symbolic links to every file of the data folder but the validation
boxes, which is a real copy without its last data row (another size and md5), so nothing big is
copied. The rebuild is the full build's command on that folder into the same lake: the build reuses
the outputs of the files whose name, size and md5 are unchanged (``pipeline/build/reuse.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.build_runner import build_command, current_release, marts_seconds
from benchmarks.monitor import run_monitored
from pipeline.core.contract import Manifest
from pipeline.lake.manifest import read_manifest

CHANGED = "validation-annotations-bbox.csv"
TABLE, SPLIT = "boxes", "validation"


def drop_last_row(source: Path, dest: Path) -> int:
    """Copy ``source`` to ``dest`` without its last line; the bytes removed."""
    shutil.copyfile(source, dest)
    size = dest.stat().st_size
    with dest.open("rb+") as file:
        tail = min(size, 1 << 20)
        file.seek(size - tail)
        chunk = file.read(tail)
        body = chunk[:-1] if chunk.endswith(b"\n") else chunk
        cut = body.rfind(b"\n")
        if cut < 0:
            raise ValueError(f"{source}: no row to remove in its last MiB")
        file.truncate(size - tail + cut + 1)
    return size - dest.stat().st_size


def changed_source(folder: Path, dest: Path, changed: str = CHANGED) -> dict[str, object]:
    """``dest``: a link to every file of ``folder`` but ``changed``, a copy of it without its last row."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != changed:
            (dest / path.name).symlink_to(path.resolve())
    removed = drop_last_row(folder / changed, dest / changed)
    return {"file": changed, "bytes_before": (folder / changed).stat().st_size, "bytes_removed": removed}


def split_rows(manifest: Manifest, table: str = TABLE, split: str = SPLIT) -> int:
    """Rows of one split of a table, from the manifest's list of the table's files."""
    entry = manifest.tables.get(table)
    return sum(f.rows for f in entry.files if f"/split={split}/" in f"/{f.path}") if entry else 0


def run_incremental(folder: Path, lake: Path, work: Path, full_seconds: float) -> dict[str, object]:
    """Change one file of ``folder`` (a linked copy in ``work``), rebuild ``lake`` from it: time, memory, reuse."""
    if not (folder / CHANGED).is_file():
        return {"skipped": f"no {CHANGED} in {folder}"}
    before = split_rows(read_manifest(current_release(lake)))
    source = work / "incremental-source"
    changed = changed_source(folder, source)
    command = build_command(source, lake)
    try:
        run = run_monitored(command)
        if run.returncode != 0:
            raise RuntimeError(f"incremental build failed ({run.returncode}):\n{run.stderr[-3000:]}")
        manifest = read_manifest(current_release(lake))
    finally:
        shutil.rmtree(source, ignore_errors=True)
    after = split_rows(manifest)
    reused = [s for s in manifest.sources if s.reused_from]
    ingested = [s for s in manifest.sources if not s.reused_from]
    return {
        "command": " ".join(command[: command.index("--max-rejects")]),
        "changed": changed,
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "peak_rss_bytes": run.peak_rss_bytes,
        "marts_seconds": marts_seconds(run),
        "reused": [s.file for s in reused],
        "ingested": [s.file for s in ingested],
        "reused_bytes": sum(s.bytes for s in reused),
        "ingested_bytes": sum(s.bytes for s in ingested),
        "validation_rows_before": before,
        "validation_rows_after": after,
        "rows_check": before - after == 1,
        "full_seconds": full_seconds,
        "ratio": run.seconds / full_seconds,
        "log": [[round(at, 3), line.rstrip()] for at, line in run.lines],
    }
