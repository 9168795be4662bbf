"""Read a predictions file (official CSV, Parquet, or the Kaggle form), local or remote, into typed Parquet.

Streaming: the file is read in chunks (CSV through the lake's own reader, so every row knows its
physical line; Parquet a row group at a time) and written as it is read, so memory stays bounded
whatever the size. A row whose values cannot be used (a field count that does not match the
header, a number that does not parse, an empty ID, a score that is not a finite number >= 0, a
segmentation mask that does not decode: ``mask_predictions``) is written to the rejects with its
line, column and reason, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import PredictionsError
from pipeline.core.schema import output_schemas
from pipeline.evaluate.mask_predictions import with_masks
from pipeline.read.batches import CsvBatch
from pipeline.read.csv_reader import parse_header, read_csv_then
from pipeline.read.redact import redact, redact_text
from pipeline.read.storage_options import resolve_storage_options

DETECTION = ("ImageID", "LabelName", "Score", "XMin", "XMax", "YMin", "YMax")
RELATIONSHIPS = (
    "ImageID", "LabelName1", "LabelName2", "XMin1", "XMax1", "YMin1", "YMax1",
    "XMin2", "XMax2", "YMin2", "YMax2", "RelationshipLabel", "Score",
)  # fmt: skip
SEGMENTATION = ("ImageID", "ImageWidth", "ImageHeight", "LabelName", "Score")  # and Mask, or rle_counts
MASK_COLUMNS = ("Mask", "rle_counts")  # official base64(zlib(counts)); plain counts (string, or list of integers)
COLUMNS = {"detection": DETECTION, "relationships": RELATIONSHIPS, "segmentation": SEGMENTATION}
KAGGLE = ("ImageId", "PredictionString")
# The official column names and the lake's own (Parquet predictions may use either).
LAKE_NAMES = {
    "ImageID": "image_id", "LabelName": "label_mid", "Score": "score", "XMin": "x_min", "XMax": "x_max",
    "YMin": "y_min", "YMax": "y_max", "LabelName1": "label_mid_1", "LabelName2": "label_mid_2",
    "XMin1": "x_min_1", "XMax1": "x_max_1", "YMin1": "y_min_1", "YMax1": "y_max_1", "XMin2": "x_min_2",
    "XMax2": "x_max_2", "YMin2": "y_min_2", "YMax2": "y_max_2", "RelationshipLabel": "relationship",
    "ImageWidth": "image_width", "ImageHeight": "image_height",
}  # fmt: skip
PARQUET_ALIASES = {"mask_width": "ImageWidth", "mask_height": "ImageHeight"}  # a mask's size is its image's here
TEXT_COLUMNS = frozenset({"ImageID", "LabelName", "LabelName1", "LabelName2", "RelationshipLabel"})
SIZE_COLUMNS = frozenset({"ImageWidth", "ImageHeight"})
PARQUET_BATCH = 1 << 20


@dataclass
class ReadReport:
    """What reading the predictions found: rows read, written, rejected (by reason), the form."""

    file: str
    form: str
    rows_read: int = 0
    rows_written: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())


def staged_schema(task: str) -> pa.Schema:
    """The typed predictions as staged for the evaluation (``line``: the source line, ``item``: Kaggle position).

    Segmentation adds the mask: its size, area, box (normalized, from the mask) and COCO counts string.
    """
    fields = [pa.field("line", pa.int64(), nullable=False), pa.field("item", pa.int32())]
    if task == "segmentation":
        return pa.schema([*fields, *SEGMENTATION_FIELDS])
    names = COLUMNS[task]
    for name in names:
        kind = pa.large_string() if name in TEXT_COLUMNS else pa.float64()  # Polars' own: no copy when written
        fields.append(pa.field(LAKE_NAMES[name], kind, nullable=False))
    return pa.schema(fields)


SEGMENTATION_FIELDS = [
    pa.field("image_id", pa.large_string(), nullable=False), pa.field("label_mid", pa.large_string(), nullable=False),
    pa.field("score", pa.float64(), nullable=False), pa.field("image_width", pa.int32(), nullable=False),
    pa.field("image_height", pa.int32(), nullable=False), pa.field("area", pa.int64(), nullable=False),
    *(pa.field(name, pa.float64(), nullable=False) for name in ("x_min", "x_max", "y_min", "y_max")),
    pa.field("rle_counts", pa.large_string(), nullable=False),
]  # fmt: skip


# One id per prediction of a file: its line, and its position in a Kaggle PredictionString.
PREDICTION_ID = "line * 1000000 + coalesce(item, 0)"
REJECTS_SCHEMA = output_schemas("evaluation")["prediction_rejects"].arrow


def stage_predictions(uri: str, task: str, dest: Path, rejects: Path,
                      storage_options: dict[str, object] | None = None) -> ReadReport:  # fmt: skip
    """Read ``uri`` into ``dest`` (typed, ``staged_schema(task)``) and its refused rows into ``rejects``."""
    display = redact(uri)
    try:
        fs, path = fsspec.core.url_to_fs(uri, **resolve_storage_options(uri, storage_options))
        if not fs.isfile(path):
            raise PredictionsError(f"{display}: no such predictions file", hint="check --predictions")
    except PredictionsError:
        raise
    except Exception as exc:  # each backend has its own types
        raise PredictionsError(f"cannot open predictions {display}: {redact_text(str(exc))}") from exc
    is_parquet = path.endswith(".parquet") or path.endswith(".parq")
    if is_parquet:
        with fs.open(path, "rb") as raw:
            batches, report = _parquet_batches(raw, display, task)
            _write(batches, report, task, dest, rejects)
        return report
    compressed = path.endswith(".gz")
    with _open_stream(fs, path, compressed) as stream:
        header = parse_header(stream.read(1 << 16))
    if header is None:
        raise PredictionsError(f"{display}: the file is empty (no header line)")
    if isinstance(header, str):
        raise PredictionsError(f"{display}: line 1: cannot read the header: {header}")
    with _open_stream(fs, path, compressed) as stream:
        batches, report = _csv_batches(stream, display, header, task)
        _write(batches, report, task, dest, rejects)
    return report


def _open_stream(fs: fsspec.AbstractFileSystem, path: str, compressed: bool) -> pa.NativeFile:
    stream: pa.NativeFile = pa.PythonFile(fs.open(path, "rb"), mode="r")
    return pa.CompressedInputStream(stream, "gzip") if compressed else stream


def _write(batches: Batches, report: ReadReport, task: str, dest: Path, rejects: Path) -> None:
    schema = staged_schema(task)
    with pq.ParquetWriter(dest, schema, compression="lz4") as good, \
            pq.ParquetWriter(rejects, REJECTS_SCHEMA, compression="zstd") as bad:  # fmt: skip
        for frame, refused in batches:
            report.rows_written += frame.height
            if frame.height:
                good.write_table(frame.to_arrow().cast(schema))
            if refused.height:
                bad.write_table(refused.sort("line").to_arrow().cast(REJECTS_SCHEMA))  # batches come in file order
                counted = (
                    pl.col("column").is_null()
                    | (pl.col("column") == "PredictionString")
                    | pl.col("reason").str.starts_with("RLE counts cover")
                )
                reason = pl.when(counted).then(pl.col("reason").str.replace_all(r"\d+", "N")).otherwise("reason")
                keys = refused.select(key=pl.concat_str(pl.col("column").fill_null("row"), pl.lit(": "), reason))
                for key, count in keys.group_by("key").len().iter_rows():
                    report.rejected[key] = report.rejected.get(key, 0) + count


Batches = Iterator[tuple[pl.DataFrame, pl.DataFrame]]


def _csv_batches(stream: pa.NativeFile, display: str, header: list[str], task: str) -> tuple[Batches, ReadReport]:
    form = _form(display, header, task)
    report = ReadReport(file=display, form=form)

    def then(batch: CsvBatch) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        malformed = pl.DataFrame(
            {
                "line": [m.line for m in batch.malformed],
                "column": [None] * len(batch.malformed),
                "reason": [m.reason for m in batch.malformed],
                "value": [m.raw[:200] for m in batch.malformed],
            },
            schema={"line": pl.Int64, "column": pl.String, "reason": pl.String, "value": pl.String},
        )
        frame = batch.frame.with_columns(line=pl.Series(batch.lines, dtype=pl.Int64))
        good, refused = _typed(frame, form, task)
        return good, pl.concat([malformed, refused]), batch.frame.height + len(batch.malformed)

    def batches() -> Batches:
        for good, refused, read in read_csv_then(stream, display, header, True, then):
            report.rows_read += read
            yield good, refused

    return batches(), report


def _parquet_batches(raw: object, display: str, task: str) -> tuple[Batches, ReadReport]:
    try:
        parquet = pq.ParquetFile(raw)
    except (pa.ArrowInvalid, OSError) as exc:
        raise PredictionsError(f"{display}: not a readable Parquet file ({exc})") from exc
    names = parquet.schema_arrow.names
    official = [{v: k for k, v in LAKE_NAMES.items()}.get(n, PARQUET_ALIASES.get(n, n)) for n in names]
    form = _form(display, official, task)
    report = ReadReport(file=display, form=form)

    def batches() -> Batches:
        first = 1
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.rename(dict(zip(names, official, strict=True)))
            frame = frame.with_columns(line=pl.int_range(first, first + frame.height, dtype=pl.Int64))
            first += frame.height
            report.rows_read += frame.height
            yield _typed(frame, form, task)

    return batches(), report


def _form(display: str, header: list[str], task: str) -> str:
    """Which form the header says the file is in; a clear error naming the missing columns otherwise."""
    if task == "detection" and all(c in header for c in KAGGLE) and "LabelName" not in header:
        return "kaggle"
    expected = COLUMNS[task]
    missing = [c for c in expected if c not in header]
    if task == "segmentation" and not any(c in header for c in MASK_COLUMNS):
        missing.append("Mask")
    if missing:
        raise PredictionsError(
            f"{display}: line 1: missing column(s) {', '.join(missing)} for {task} predictions.\n"
            f"  expected: {','.join(expected)}" + (",Mask (or rle_counts)" if task == "segmentation" else "")
            + (f"\n        or: {','.join(KAGGLE)}" if task == "detection" else "")
            + f"\n  found:    {','.join(header)}"
        )  # fmt: skip
    return "rle" if task == "segmentation" and "Mask" not in header else "official"


def _typed(frame: pl.DataFrame, form: str, task: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed rows, and the rows refused with their line, column and reason.

    Every value is converted once; reasons are worked out only for the rows that fail (few or none).
    """
    if form == "kaggle":
        frame, refused_rows = _explode_kaggle(frame)
    else:
        frame = frame.with_columns(item=pl.lit(None, dtype=pl.Int32))
        refused_rows = None
    names = COLUMNS[task]
    typed = frame.select("line", "item", *[_converted(n).alias(LAKE_NAMES[n]) for n in names])
    failed = [_failed(n, pl.col(LAKE_NAMES[n])) for n in names]
    mask = typed.select(pl.any_horizontal(failed)).to_series()
    refused = _reasons(frame.filter(mask), typed.filter(mask), names) if mask.any() else _NO_REJECTS
    if refused_rows is not None:
        refused = pl.concat([refused_rows, refused])
    good = typed.filter(~mask) if mask.any() else typed
    if task == "segmentation":
        masks = frame.filter(~mask) if mask.any() else frame
        good, bad_masks = with_masks(good, masks.get_column("Mask" if form == "official" else "rle_counts"))
        refused = pl.concat([refused, bad_masks])
    return good, refused


def _converted(name: str) -> pl.Expr:
    """Column ``name`` as the evaluation reads it: text stripped, numbers as float64 (NULL where none)."""
    if name in TEXT_COLUMNS:
        return pl.col(name).cast(pl.String).str.strip_chars()
    return pl.col(name).cast(pl.Float64, strict=False)


_NO_REJECTS = pl.DataFrame(schema={"line": pl.Int64, "column": pl.String, "reason": pl.String, "value": pl.String})
_REASONS = {
    "text": "empty", "Score": "not a finite number >= 0", "number": "not a finite number",
    "size": "not a whole number of pixels from 1 to 2^20",
}  # fmt: skip


def _failed(name: str, value: pl.Expr) -> pl.Expr:
    """True where the typed ``value`` of column ``name`` cannot be used."""
    if name in TEXT_COLUMNS:
        return value.is_null() | (value == "")
    bad = value.is_null() | value.is_nan() | value.is_infinite()
    if name in SIZE_COLUMNS:
        return bad | (value < 1) | (value > 1 << 20) | (value != value.floor())
    return bad | (value < 0) if name == "Score" else bad


def _reasons(source: pl.DataFrame, typed: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """The refused rows: line, the first column at fault, the reason, and the value as written."""
    kind = {n: "text" if n in TEXT_COLUMNS else "size" if n in SIZE_COLUMNS else "Score" if n == "Score" else "number"
            for n in names}  # fmt: skip
    checks = [pl.when(_failed(n, pl.col(LAKE_NAMES[n]))).then(pl.lit(f"{n}: {_REASONS[kind[n]]}")) for n in names]
    bad_rows = pl.concat([source.select(names), typed], how="horizontal").with_columns(_reason=pl.coalesce(checks))
    return bad_rows.select(
        "line",
        column=pl.col("_reason").str.split(":").list.first(),
        reason=pl.col("_reason").str.split(": ").list.last(),
        value=_value_of(bad_rows, names),
    )


def _value_of(bad: pl.DataFrame, names: tuple[str, ...]) -> pl.Expr:
    """The refused value itself (of the column the reason names), for the rejects."""
    branches = [
        pl.when(pl.col("_reason").str.starts_with(f"{n}:")).then(pl.col(n).cast(pl.String).str.slice(0, 200))
        for n in names
        if n in bad.columns
    ]
    return pl.coalesce(branches) if branches else pl.lit(None, dtype=pl.String)


def _explode_kaggle(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per prediction of the ``PredictionString`` (LabelName Score XMin YMin XMax YMax, repeated)."""
    parts = frame.select(
        "line",
        ImageID=pl.col("ImageId"),
        parts=pl.col("PredictionString").fill_null("").str.strip_chars().str.split(" ").list.eval(
            pl.element().filter(pl.element() != "")
        ),
    )  # fmt: skip
    uneven = parts.filter(pl.col("parts").list.len() % 6 != 0)
    refused = uneven.select(
        "line",
        column=pl.lit("PredictionString"),
        reason=pl.format("{} values, not a multiple of 6 (LabelName Score XMin YMin XMax YMax)",
                         pl.col("parts").list.len()).cast(pl.String),
        value=pl.col("parts").list.join(" ").str.slice(0, 200),
    )  # fmt: skip
    even = parts.filter(pl.col("parts").list.len() % 6 == 0)
    fields = ("LabelName", "Score", "XMin", "YMin", "XMax", "YMax")
    exploded = even.select(
        "line",
        "ImageID",
        item=pl.int_ranges(0, pl.col("parts").list.len() // 6, dtype=pl.Int32),
        **{name: pl.col("parts").list.gather_every(6, offset=k) for k, name in enumerate(fields)},
    ).explode("item", *fields)
    exploded = exploded.filter(pl.col("item").is_not_null())
    return exploded, refused
