"""Ingest one source file: stream, parse, validate, write good rows, quarantine the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.core.contract import FileReport
from pipeline.core.errors import InputFormatError
from pipeline.core.layout import file_path
from pipeline.core.progress import FileProgress
from pipeline.core.schema import TableSchema, table_schema
from pipeline.families import Family
from pipeline.read.batches import CsvBatch, Malformed, to_csv_line
from pipeline.read.csv_reader import read_csv_then
from pipeline.read.files import SourceFile
from pipeline.read.jsonl_reader import read_jsonl
from pipeline.read.sources import Source
from pipeline.read.threads import prefetch
from pipeline.write.parquet_writer import PartWriter, conform
from pipeline.write.rejects import RejectSink


def output_name(file: SourceFile) -> str:
    """``oidv6-train-annotations-bbox.csv.gz`` → ``oidv6-train-annotations-bbox.parquet``."""
    stem = file.official.name.rsplit(".", 1)[0]
    return f"{stem}.parquet"


@dataclass
class CheckedBatch:
    """One batch after the family's checks: its good rows as the table's columns, and what to quarantine."""

    rows_read: int
    blank_lines: int
    good: pl.DataFrame | None  # None when no row of the batch is good, or when ``arrow`` holds them
    rejected: list[Malformed]
    arrow: pa.Table | None = None  # the good rows conformed to the table's schema, when a schema is given


def check_batch(batch: CsvBatch, spec: Family, is_json: bool, schema: TableSchema | None = None) -> CheckedBatch:
    """Run the family's checks on ``batch`` (in a parse worker): split good rows from rows to quarantine."""
    checked = CheckedBatch(batch.frame.height + len(batch.malformed), batch.blank_lines, None, list(batch.malformed))
    if not batch.frame.height:
        return checked
    frame = batch.frame.with_columns(pl.Series("_line", batch.lines, dtype=pl.Int64))
    parsed = spec.apply(frame)
    bad = parsed.get_column("_reason").is_not_null()
    some_bad = bool(bad.any())
    if some_bad:
        bad_rows = frame.filter(bad)
        checked.rejected += _explain(bad_rows, spec.apply(bad_rows, explain=True), is_json)
        parsed = parsed.filter(~bad)
    good = parsed.drop("_line", "_reason")
    if schema is None:
        checked.good = good
    else:  # only the Arrow form is kept: batches in flight hold one copy of their rows
        arrow = good.to_arrow()
        if some_bad:  # a filtered list column still holds the rejected rows' items (a NULL point) underneath
            arrow = arrow.take(np.arange(arrow.num_rows))
        checked.arrow = conform(arrow, schema)
    return checked


def iter_checked(
    source: Source,
    file: SourceFile,
    spec: Family,
    header: list[str] | None,
    rejects: RejectSink,
    report: FileReport,
    schema: TableSchema | None = None,
) -> Iterator[CheckedBatch]:
    """Checked batches of ``file`` (with ``schema``: also as conformed Arrow); rejects go to ``rejects``."""
    progress = FileProgress(file.name, file.size)
    is_json = spec.json_schema is not None

    def then(batch: CsvBatch) -> CheckedBatch:
        return check_batch(batch, spec, is_json, schema)

    with source.open(file) as opened:
        if spec.json_schema is not None and spec.check_line is not None:
            checked: Iterator[CheckedBatch] = prefetch(
                map(then, read_jsonl(opened.stream, file.name, spec.json_schema, spec.check_line))
            )
        else:
            columns = list(header or spec.headers[0])
            checked = read_csv_then(opened.stream, file.name, columns, spec.has_header, then)
        for batch in checked:
            report.blank_lines += batch.blank_lines
            report.rows_read += batch.rows_read
            if batch.rejected:
                rejected = sorted(batch.rejected, key=lambda m: m.line)
                rejects.add(
                    report.table, file.name, [m.line for m in rejected], [m.reason for m in rejected],
                    [m.raw for m in rejected],
                )  # fmt: skip
                report.rows_rejected += len(rejected)
            yield batch
            progress.update(opened.hashed.bytes_read)
        report.md5 = opened.finish()
        report.bytes = opened.hashed.bytes_read
        if file.size is not None and report.bytes != file.size:  # a shorter read is caught by sources.py already
            raise InputFormatError(
                f"{file.name}: the file changed while being read: expected {file.size:,} bytes, read {report.bytes:,}"
            )
    report.seconds = progress.close()


def _explain(source_rows: pl.DataFrame, explained: pl.DataFrame, is_json: bool) -> list[Malformed]:
    reasons = explained.get_column("_reason").to_list()
    lines = source_rows.get_column("_line").to_list()
    values = source_rows.drop("_line")
    if is_json:
        raws = [json.dumps(row, ensure_ascii=False) for row in values.to_dicts()]
    else:
        raws = [to_csv_line(list(row)) for row in values.iter_rows()]
    return [Malformed(line, reason, raw) for line, reason, raw in zip(lines, reasons, raws, strict=True)]


def ingest_to_parquet(
    source: Source,
    file: SourceFile,
    spec: Family,
    header: list[str] | None,
    staging: Path,
    rejects: RejectSink,
) -> FileReport:
    """Stream ``file`` into its table's partition of its split, ``staging/<table>/<key>=<split>/<name>.parquet``."""
    table = spec.table
    report = FileReport(
        family=file.official.family, split=file.official.split, file=file.name, table=table, path=file.display_path
    )
    schema = table_schema(table)
    relative = file_path(schema, output_name(file), *([file.official.split] if file.official.split else []))
    writer = PartWriter(staging / relative, schema)
    try:
        for batch in iter_checked(source, file, spec, header, rejects, report, schema):
            if batch.arrow is not None:
                writer.write(batch.arrow)
    finally:
        report.resorted = writer.close()
    report.rows_written = writer.rows
    report.output = relative
    return report


def read_small(
    source: Source, file: SourceFile, spec: Family, header: list[str] | None, rejects: RejectSink
) -> tuple[pl.DataFrame, FileReport]:
    """Read a small metadata file into memory (good rows only)."""
    report = FileReport(
        family=file.official.family, split=file.official.split, file=file.name, table=spec.table, path=file.display_path
    )
    checked = iter_checked(source, file, spec, header, rejects, report)
    frames = [batch.good for batch in checked if batch.good is not None]
    frame = pl.concat(frames) if frames else spec.apply(_empty_source(spec)).drop("_line", "_reason")
    return frame, report


def _empty_source(spec: Family) -> pl.DataFrame:
    data = {c: pa.array([], pa.string()) for c in spec.headers[0]}
    frame = pl.from_arrow(pa.table(data))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(pl.Series("_line", np.empty(0, dtype=np.int64)))
