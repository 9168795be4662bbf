"""``oilake sql`` and ``oilake image-list``: read a lake through its catalog."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.options import examples, lake_option, lake_storage_option, output_option
from pipeline.core.errors import OilakeError, QueryError

if TYPE_CHECKING:
    import polars as pl

    from pipeline.query.api import Lake


@click.command(
    "sql",
    epilog=examples(
        "oilake sql \"select label_name, boxes from class_stats where split = 'train' order by boxes desc limit 5\"",
        'oilake sql --format parquet --output boxes.parquet "select * from boxes_named"',
        'oilake sql --lake s3://my-bucket/lake --format json "select count(*) as n from images"',
        "oilake sql",
    ),
)
@click.argument("query", required=False)
@lake_option
@lake_storage_option
@click.option(
    "--format", "output_format", type=click.Choice(["table", "csv", "json", "parquet"]), default=None,
    help="Output format. Default: table on a terminal, csv otherwise. json is one object per line.",
)  # fmt: skip
@output_option()
@click.option(
    "--allow-file-access", is_flag=True,
    help="Let SQL read and write files other than the lake's (copy … to, read_csv, attach). Off by default.",
)  # fmt: skip
def sql_command(
    query: str | None, lake: str, lake_storage_options: dict[str, str] | None, output_format: str | None,
    output: Path | None, allow_file_access: bool,
) -> None:  # fmt: skip
    """Run QUERY on the lake's catalog; without QUERY, an interactive SQL shell."""
    import duckdb

    from pipeline.query.api import open_lake

    with open_lake(lake, lake_storage_options, file_access=allow_file_access) as opened:
        if query is None:
            _shell(opened)
            return
        try:
            frame = opened.sql(query)
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from exc
        fmt = output_format or ("table" if output is None and sys.stdout.isatty() else "csv")
        _write_frame(frame, fmt, output)


@click.command(
    "image-list",
    epilog=examples(
        'oilake image-list --classes "Cat,Dog" --split validation --output cats-dogs.txt',
        "oilake image-list --classes Animal --include-descendants --min-boxes 2",
        'oilake image-list --classes Person --where "not is_group_of and not is_depiction"',
    ),
)
@lake_option
@lake_storage_option
@click.option("--classes", required=True, help='Comma-separated display names, e.g. "Cat,Dog".')
@click.option("--include-descendants", is_flag=True, help="Also every subcategory descendant of those classes.")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default=None, help="Only this split.")
@click.option("--min-boxes", type=click.IntRange(min=1), default=1, show_default=True, help="Boxes of those classes.")
@click.option("--where", default=None, help="Extra SQL condition on the boxes counted (columns of boxes_named).")
@output_option()
def image_list_command(
    lake: str, lake_storage_options: dict[str, str] | None, classes: str, include_descendants: bool,
    split: str | None, min_boxes: int, where: str | None, output: Path | None,
) -> None:  # fmt: skip
    """Write SPLIT/IMAGE_ID lines, the input of the official Open Images downloader.py."""
    import duckdb

    from pipeline.query.api import open_lake

    names = [c.strip() for c in classes.split(",") if c.strip()]
    _check_output(output)  # before the query: fail fast
    with open_lake(lake, lake_storage_options) as opened:
        try:
            lines = opened.image_list(names, include_descendants, split, min_boxes, where)
        except duckdb.Error as exc:
            raise QueryError(
                f"--where: {str(exc).strip()}", hint="--where takes an SQL condition on columns of boxes_named"
            ) from exc
    _emit("".join(f"{line}\n" for line in lines).encode(), output)
    click.echo(f"{len(lines)} image(s)", err=True)


def _write_frame(frame: pl.DataFrame, fmt: str, output: Path | None) -> None:
    import polars as pl

    if fmt == "table":
        with pl.Config(
            tbl_rows=100, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200, tbl_hide_dataframe_shape=True
        ):
            text = f"{frame}\n"
        _emit(text.encode(), output)
    elif fmt == "csv":
        _check_flat(frame)
        _emit(frame.write_csv().encode(), output)
    elif fmt == "json":
        _emit(frame.write_ndjson().encode(), output)
    else:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd")
        _emit(buffer.getvalue(), output)


def _check_flat(frame: pl.DataFrame) -> None:
    """CSV holds flat values only: name the nested columns (lists, structs) and the formats that hold them."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if nested:
        raise QueryError(
            f"column(s) {', '.join(nested)} hold nested values (lists or structs), which CSV cannot hold",
            hint="use --format json or --format parquet, or turn the column into text in the query, "
            "e.g. `select to_json(clicks) as clicks from masks`",
        )


def _check_output(output: Path | None) -> None:
    if output is not None and not output.parent.is_dir():
        raise QueryError(
            f"--output {output}: the folder {output.parent} does not exist",
            hint=f"make the folder first (mkdir -p {output.parent}), or choose another --output",
        )


def _emit(data: bytes, output: Path | None) -> None:
    _check_output(output)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)


def _shell(lake: Lake) -> None:
    """A small SQL shell: statements end with ';', `.tables` lists names, `.quit` or EOF leaves."""
    import duckdb

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing and history when available
    click.echo(f"oilake SQL shell on {lake.root} (read-only). End statements with ';'.", err=True)
    buffer: list[str] = []
    while True:
        try:
            line = input("oilake> " if not buffer else "   ...> ")
        except EOFError:
            click.echo(err=True)
            return
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit"):
            return
        if not buffer and stripped == ".tables":
            click.echo("\n".join(lake.tables()))
            continue
        buffer.append(line)
        if not stripped.endswith(";"):
            continue
        statement, buffer = "\n".join(buffer), []
        try:
            _write_frame(lake.sql(statement), "table", None)
        except duckdb.Error as exc:
            click.echo(f"error: {str(exc).strip()}", err=True)
        except OilakeError as exc:
            click.echo(f"error: {exc}\nhint: {exc.hint}", err=True)
