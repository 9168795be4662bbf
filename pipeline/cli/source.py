"""``oilake fetch`` and ``oilake build``: from the official files to a published release."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import (
    KEEP_DEFAULT,
    examples,
    lake_option,
    lake_storage_option,
    only_option,
    splits_option,
    storage_option,
)
from pipeline.core.errors import FetchError, FileListError
from pipeline.core.official import OfficialFile, parse_official_files


def _file_list(ctx: click.Context, param: click.Parameter, path: Path | None) -> tuple[OfficialFile, ...] | None:
    if path is None:
        return None
    try:
        return parse_official_files(path.read_text("utf-8"))
    except (ValueError, OSError) as exc:
        raise FileListError(f"--file-list {path}: {exc}") from exc


@click.command(
    "fetch",
    epilog=examples(
        "oilake fetch --dest openimages",
        "oilake fetch --dest openimages --only boxes,image_labels --splits validation",
        "oilake fetch --dest s3://my-bucket/openimages --base-url https://mirror.example/oi/",
    ),
)
@click.option("--dest", required=True, help="Folder or fsspec URL (s3://...) to download the official files into.")
@only_option
@splits_option
@click.option("--base-url", default=None, help="Download NAME from BASE_URL/NAME instead of its official URL.")
@click.option(
    "--file-list",
    "files",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    callback=_file_list,
    help="A TSV in the format of official-files.tsv to use instead of the official list (a mirror's own list).",
)
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1), help="Parallel transfers.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(min=0), help="Retries per file.")
@storage_option
def fetch_command(
    dest: str, only: list[str] | None, splits: list[str] | None, base_url: str | None,
    files: tuple[OfficialFile, ...] | None, workers: int,
    retries: int, storage_options: dict[str, str] | None,
) -> None:  # fmt: skip
    """Download the official files into DEST, verified against their size and md5; re-runs skip verified files.

    The metadata files (classes, hierarchy) are fetched whatever --splits says.
    """
    from pipeline.fetch.run import FetchOptions, fetch

    options = FetchOptions(
        dest=dest, only=only, splits=splits, base_url=base_url, files=files,
        workers=workers, retries=retries, storage_options=storage_options,
    )  # fmt: skip
    summary = fetch(options)
    click.echo(summary.describe(), err=True)
    failed = [r for r in summary.results if r.status == "failed"]
    if failed:
        listing = "\n".join(f"  {r.name}: {r.detail}" for r in failed)
        raise FetchError(
            f"{len(failed)} file(s) not fetched:\n{listing}",
            hint="a re-run retries (cut downloads resume); 'not found' or a size that differs from the list means "
            "the URL serves another file (check --base-url); a file kept aside as .bad-md5 arrived corrupt",
        )


@click.command(
    "build",
    epilog=examples(
        "oilake build",
        "oilake build --source openimages --lake lake",
        "oilake build --source openimages --lake lake --only boxes,image_labels --splits validation",
        "oilake build --source s3://my-bucket/openimages --storage-option anon=true --lake s3://my-bucket/lake",
    ),
)
@click.option(
    "--source",
    default=None,
    help="Folder, http(s) prefix or fsspec URL holding the official files. Default: the bundled sample.",
)
@lake_option
@lake_storage_option
@only_option
@splits_option
@click.option(
    "--max-rejects",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Publish even with up to this many quarantined rows.",
)
@storage_option
@click.option("--full", is_flag=True, help="Ingest every file again, even those unchanged since the last build.")
@click.option(
    "--keep",
    default=KEEP_DEFAULT,
    show_default=True,
    type=click.IntRange(min=1),
    help="Releases to keep after publishing, the new one included (older ones can be rolled back to).",
)
def build_command(
    source: str | None, lake: str, lake_storage_options: dict[str, str] | None, only: list[str] | None,
    splits: list[str] | None, max_rejects: int, storage_options: dict[str, str] | None, full: bool, keep: int,
) -> None:  # fmt: skip
    """Build the lake from SOURCE into LAKE as a new release, published only when the build succeeds."""
    from pipeline.build.run import BuildOptions, build_lake
    from pipeline.lake.store import is_remote
    from pipeline.resources import sample_dir

    result = build_lake(
        BuildOptions(
            source=source or str(sample_dir()),
            lake=lake if is_remote(lake) else Path(lake),
            lake_storage_options=lake_storage_options,
            only=only,
            splits=splits,
            max_rejects=max_rejects,
            storage_options=storage_options,
            full=full,
            keep=keep,
        )
    )
    for name, rows in result.table_rows().items():
        if rows:
            click.echo(f"{name}\t{rows}")
    if is_remote(lake):
        from pipeline.read.redact import redact

        shown = redact(lake)
        click.echo(f"lake ready: {shown} (query it with `oilake sql --lake {shown}` or pipeline.open_lake)", err=True)
    else:
        click.echo(f"lake ready: {Path(lake).resolve()} (open {Path(lake) / 'lake.duckdb'} with DuckDB)", err=True)
