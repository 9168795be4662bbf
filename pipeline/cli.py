"""The ``oilake`` command: parses options, calls the library, turns errors into advice."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.build import BuildOptions, SelectionError, build_lake, sample_dir
from pipeline.catalog import write_catalog
from pipeline.datadict import render_data_dictionary
from pipeline.errors import HeaderError, InputFormatError, LakeError, OilakeError, RejectLimitError, SourceError
from pipeline.manifest import MANIFEST


def _split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _fail(message: str, hint: str | None = None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(1)


@click.group()
@click.version_option(package_name="oilake")
def cli() -> None:
    """oilake: Open Images V6 annotations as a typed, partitioned Parquet lake."""


@cli.command()
@click.option(
    "--source",
    default=None,
    help="Folder, http(s) prefix or fsspec URL holding the official files. Default: the bundled sample.",
)
@click.option(
    "--lake",
    default="lake",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Lake folder to (re)build.",
)
@click.option("--only", default=None, help="Comma-separated families or tables to ingest (e.g. boxes,image_labels).")
@click.option("--splits", default=None, help="Comma-separated splits to ingest (train,validation,test).")
@click.option(
    "--max-rejects",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Publish even with up to this many quarantined rows.",
)
@click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec option for a remote source (repeatable).",
)
def build(
    source: str | None, lake: Path, only: str | None, splits: str | None, max_rejects: int,
    storage_options: tuple[str, ...],
) -> None:  # fmt: skip
    """Build the lake from SOURCE into LAKE (replaced only when the build succeeds)."""
    options = {}
    for item in storage_options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--storage-option")
        options[key] = value
    build_options = BuildOptions(
        source=source or str(sample_dir()),
        lake=lake,
        only=_split_list(only),
        splits=_split_list(splits),
        max_rejects=max_rejects,
        storage_options=options or None,
    )
    try:
        manifest = build_lake(build_options)
    except HeaderError as exc:
        _fail(str(exc), "the file is not in the official format for its name; check that it is the right file")
    except RejectLimitError as exc:
        _fail(str(exc), "fix the source rows, or pass --max-rejects N to publish with them quarantined in `rejects`")
    except SelectionError as exc:
        _fail(str(exc))
    except InputFormatError as exc:
        _fail(
            str(exc),
            "the file is damaged or not in its official format; download it again (`.gz` files are read as gzip)",
        )
    except SourceError as exc:
        _fail(str(exc), "check --source: a folder or URL holding files under their official names")
    except LakeError as exc:
        _fail(str(exc))
    except OilakeError as exc:
        _fail(str(exc))
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    for name, info in tables.items():
        if info["rows"]:
            click.echo(f"{name}\t{info['rows']}")
    click.echo(f"lake ready: {lake.resolve()} (open {lake / 'lake.duckdb'} with DuckDB)", err=True)


@cli.command()
@click.option(
    "--lake", default="lake", show_default=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
def catalog(lake: Path) -> None:
    """Rewrite LAKE/lake.duckdb so its views point at the lake's current place (after a move or copy)."""
    if not (lake / MANIFEST).exists():
        _fail(f"{lake} is not an oilake lake (no {MANIFEST})", "pass the folder that `oilake build --lake` wrote")
    click.echo(f"wrote {write_catalog(lake)}", err=True)


@cli.command()
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout."
)
def docs(output: Path | None) -> None:
    """Print (or write) the data dictionary generated from schemas/."""
    text = render_data_dictionary()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
