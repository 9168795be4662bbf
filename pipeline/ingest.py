"""Ingest one source file: stream, parse, validate, write good rows, quarantine the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.csv_reader import CsvBatch, prefetch, read_csv, to_csv_line
from pipeline.errors import InputFormatError
from pipeline.families import Family
from pipeline.jsonl_reader import read_jsonl
from pipeline.parquet_writer import PartWriter
from pipeline.progress import FileProgress
from pipeline.rejects import RejectSink
from pipeline.schema import table_schema
from pipeline.sources import Source, SourceFile


@dataclass
class FileReport:
    """What happened to one source file; the manifest records it and the counts must reconcile."""

    family: str
    split: str | None
    file: str
    table: str
    path: str = ""
    bytes: int = 0
    md5: str = ""
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    blank_lines: int = 0
    output: str | None = None
    resorted: bool = False
    seconds: float = 0.0
    etag: str | None = None
    reused_from: str | None = None

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_rejected + self.rows_duplicate

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def output_name(file: SourceFile) -> str:
    """``oidv6-train-annotations-bbox.csv.gz`` → ``oidv6-train-annotations-bbox.parquet``."""
    stem = file.official.name.rsplit(".", 1)[0]
    return f"{stem}.parquet"


def iter_frames(
    source: Source,
    file: SourceFile,
    spec: Family,
    header: list[str] | None,
    rejects: RejectSink,
    report: FileReport,
) -> Iterator[pl.DataFrame]:
    """Good rows of ``file`` as frames of the table's columns; rejects go to ``rejects``."""
    progress = FileProgress(file.name, file.size)
    with source.open(file) as opened:
        if spec.json_schema is not None and spec.check_line is not None:
            batches: Iterator[CsvBatch] = prefetch(
                read_jsonl(opened.stream, file.name, spec.json_schema, spec.check_line)
            )
        else:
            batches = read_csv(opened.stream, file.name, list(header or spec.headers[0]), spec.has_header)
        for batch in batches:
            report.blank_lines += batch.blank_lines
            report.rows_read += batch.table.num_rows + len(batch.malformed)
            if batch.malformed:
                rejects.add(
                    report.table, file.name,
                    [m.line for m in batch.malformed], [m.reason for m in batch.malformed],
                    [m.raw for m in batch.malformed],
                )  # fmt: skip
                report.rows_rejected += len(batch.malformed)
            if batch.table.num_rows:
                frame = pl.from_arrow(batch.table)
                assert isinstance(frame, pl.DataFrame)
                frame = frame.with_columns(pl.Series("_line", batch.lines, dtype=pl.Int64))
                parsed = spec.apply(frame)
                bad = parsed.get_column("_reason").is_not_null()
                if bad.any():
                    bad_rows = frame.filter(bad)
                    explained = spec.apply(bad_rows, explain=True)
                    _quarantine(bad_rows, explained, spec.json_schema is not None, rejects, report, file.name)
                    parsed = parsed.filter(~bad)
                yield parsed.drop("_line", "_reason")
            progress.update(opened.hashed.bytes_read)
        report.md5 = opened.finish()
        report.bytes = opened.hashed.bytes_read
        if file.size is not None and report.bytes != file.size:  # a shorter read is caught by sources.py already
            raise InputFormatError(
                f"{file.name}: the file changed while being read: expected {file.size:,} bytes, read {report.bytes:,}"
            )
    report.seconds = progress.close()


def _quarantine(
    source_rows: pl.DataFrame, explained: pl.DataFrame, is_json: bool,
    rejects: RejectSink, report: FileReport, file: str,
) -> None:  # fmt: skip
    reasons = explained.get_column("_reason").to_list()
    lines = source_rows.get_column("_line").to_list()
    values = source_rows.drop("_line")
    if is_json:
        raws = [json.dumps(row, ensure_ascii=False) for row in values.to_dicts()]
    else:
        raws = [to_csv_line(list(row)) for row in values.iter_rows()]
    rejects.add(report.table, file, lines, reasons, raws)
    report.rows_rejected += len(lines)


def ingest_to_parquet(
    source: Source,
    file: SourceFile,
    spec: Family,
    header: list[str] | None,
    staging: Path,
    rejects: RejectSink,
) -> FileReport:
    """Stream ``file`` into ``staging/<table>/split=<split>/<name>.parquet``."""
    table = spec.table
    report = FileReport(
        family=file.official.family, split=file.official.split, file=file.name, table=table, path=file.display_path
    )
    relative = Path(table) / f"split={file.official.split}" / output_name(file)
    writer = PartWriter(staging / relative, table_schema(table))
    try:
        for frame in iter_frames(source, file, spec, header, rejects, report):
            writer.write(frame.to_arrow())
    finally:
        report.resorted = writer.close()
    report.rows_written = writer.rows
    report.output = relative.as_posix()
    return report


def read_small(
    source: Source, file: SourceFile, spec: Family, header: list[str] | None, rejects: RejectSink
) -> tuple[pl.DataFrame, FileReport]:
    """Read a small metadata file into memory (good rows only)."""
    report = FileReport(
        family=file.official.family, split=file.official.split, file=file.name, table=spec.table, path=file.display_path
    )
    frames = list(iter_frames(source, file, spec, header, rejects, report))
    frame = pl.concat(frames) if frames else spec.apply(_empty_source(spec)).drop("_line", "_reason")
    return frame, report


def _empty_source(spec: Family) -> pl.DataFrame:
    data = {c: pa.array([], pa.string()) for c in spec.headers[0]}
    frame = pl.from_arrow(pa.table(data))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(pl.Series("_line", np.empty(0, dtype=np.int64)))
