"""``oilake releases``, ``rollback``, ``verify`` and ``catalog``: look after a built lake."""

from __future__ import annotations

import click

from pipeline.cli.options import examples, lake_option, lake_storage_option, storage_option
from pipeline.core.errors import VerifyError


@click.command(
    "releases",
    epilog=examples("oilake releases", "oilake releases --lake /data/lake"),
)
@lake_option
@lake_storage_option
def releases_command(lake: str, lake_storage_options: dict[str, str] | None) -> None:
    """List the kept releases of LAKE (tab-separated: id, status, finished, rows)."""
    from pipeline.lake.store import list_releases

    for release in list_releases(lake, lake_storage_options):
        click.echo(f"{release.id}\t{release.status}\t{release.finished}\t{release.rows}")


@click.command(
    "rollback",
    epilog=examples("oilake rollback", "oilake rollback --lake lake --to 20240101T000000.000000Z"),
)
@lake_option
@lake_storage_option
@click.option("--to", "to", default=None, help="Release id to make current (default: the previously published one).")
def rollback_command(lake: str, lake_storage_options: dict[str, str] | None, to: str | None) -> None:
    """Make an older kept release of LAKE current again (see `oilake releases`)."""
    from pipeline.lake.store import rollback

    click.echo(f"current release: {rollback(lake, to, lake_storage_options)}", err=True)


@click.command(
    "verify",
    epilog=examples(
        "oilake verify",
        "oilake verify --lake lake --rehash",
        "oilake verify --lake lake --rehash --source /data/openimages",
    ),
)
@lake_option
@click.option("--release", "release_id", default=None, help="Release id to check (default: the current one).")
@click.option("--rehash", is_flag=True, help="Also read every source file again and compare its size and md5.")
@click.option("--source", default=None, help="Where the sources are now, for --rehash (default: the recorded one).")
@storage_option
@lake_storage_option
def verify_command(
    lake: str, release_id: str | None, rehash: bool, source: str | None, storage_options: dict[str, str] | None,
    lake_storage_options: dict[str, str] | None,
) -> None:  # fmt: skip
    """Re-check a published lake against its manifest; exits 1 on any difference."""
    from pipeline.lake.verify import verify_lake

    result = verify_lake(lake, release_id, rehash, source, storage_options, lake_storage_options)
    for line in result.checked:
        click.echo(f"ok    {line}", err=True)
    for problem in result.problems:
        click.echo(f"FAIL  {problem}")
    if not result.ok:
        raise VerifyError(f"release {result.release}: {len(result.problems)} problem(s)")
    click.echo(f"release {result.release}: verified", err=True)


@click.command("catalog", epilog=examples("oilake catalog", "oilake catalog --lake /new/place/lake"))
@lake_option
def catalog_command(lake: str) -> None:
    """Rewrite the catalog so its views point at the lake's current place (after a move or copy)."""
    from pathlib import Path

    from pipeline.catalog.views import write_catalog
    from pipeline.lake.local import LocalStore
    from pipeline.lake.store import StoreCapabilityError, is_remote
    from pipeline.read.redact import redact

    if is_remote(lake):
        raise StoreCapabilityError(
            f"oilake catalog rewrites a local lake's catalog; {redact(lake)} is on an object store, "
            "whose catalog each build writes with the store's URLs",
            hint="rebuild the object-store lake (an unchanged source reuses every file), or copy it to a folder",
        )
    store = LocalStore(Path(lake).resolve())
    release_id = store.require_current()
    store.require_release(release_id)
    release = store.release_path(release_id)
    click.echo(f"wrote {write_catalog(release)}", err=True)
