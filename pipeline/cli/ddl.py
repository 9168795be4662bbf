"""``oilake ddl``: catalog tables for another engine over one release of the lake."""

from __future__ import annotations

import click

from pipeline.cli.options import examples, lake_option, lake_storage_option, split_list

ENGINE_NAMES = ("spark",)  # pipeline.catalog.ddl.ENGINES, literal so `oilake -h` loads no engine


@click.command(
    "ddl",
    epilog=examples(
        "oilake ddl --engine spark > lake.sql && spark-sql -f lake.sql",
        "oilake ddl --engine spark --database oi --tables boxes,classes",
        "oilake ddl --engine spark --lake s3://bucket/oi --scheme s3a",
    ),
)
@lake_option
@lake_storage_option
@click.option("--engine", type=click.Choice(ENGINE_NAMES), default="spark", show_default=True, help="Target engine.")
@click.option("--release", "release_id", default=None, help="Release id to point at (default: the current one, now).")
@click.option("--database", default=None, help="Create the tables in this database (created if absent).")
@click.option("--tables", default=None, help="Comma-separated tables (default: every table).")
@click.option("--scheme", default=None, help="URL scheme of LOCATION on an object store (e.g. s3a for Hadoop's S3A).")
def ddl_command(
    lake: str, lake_storage_options: dict[str, str] | None, engine: str, release_id: str | None,
    database: str | None, tables: str | None, scheme: str | None,
) -> None:  # fmt: skip
    """Print CREATE TABLE statements for Spark SQL over one release's files.

    CREATE TABLE ... USING parquet ... LOCATION for every table, and MSCK REPAIR TABLE after each
    partitioned one (docs/engines.md). The tables are external and pinned to the release current
    now (or --release): run the statements again after a publish, and keep the release (--keep)
    while jobs read it.
    """
    from pipeline.catalog.ddl import ddl_script
    from pipeline.lake.pin import pin_release
    from pipeline.lake.store import open_store

    pinned = pin_release(lake, release_id, lake_storage_options, scheme)
    archives = open_store(lake, lake_storage_options).manifest(pinned.release).sources
    click.echo(f"-- oilake ddl --engine {engine}: release {pinned.release} of {pinned.url}\n")
    click.echo(ddl_script(engine, pinned.url, database, split_list(tables), archives), nl=False)
