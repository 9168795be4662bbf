"""The ``oilake`` command: parses options, calls the library; errors become ``error:`` + ``hint:``.

One module per command group (``source``, ``lake``, ``query``, ``dev``); options shared by
several commands are in ``options``, error handling and help sections in ``group``. Engines
(DuckDB, Polars, Arrow) are imported inside the commands, so ``oilake -h`` stays fast.
"""

from __future__ import annotations

import click

from pipeline.cli.ddl import ddl_command
from pipeline.cli.dev import bench_command, docs_command, synth_command
from pipeline.cli.evaluate import evaluate_command
from pipeline.cli.group import OilakeGroup
from pipeline.cli.lake import catalog_command, releases_command, rollback_command, verify_command
from pipeline.cli.masks import masks_group
from pipeline.cli.options import examples
from pipeline.cli.query import image_list_command, sql_command
from pipeline.cli.reference import WIDTH
from pipeline.cli.report import report_command
from pipeline.cli.source import build_command, fetch_command

__all__ = ["cli", "main"]


@click.group(
    "oilake",
    cls=OilakeGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": WIDTH},
    epilog=examples(
        "oilake build",
        'oilake sql "select label_name, boxes from class_stats order by boxes desc limit 5"',
        "oilake fetch --dest openimages && oilake build --source openimages",
        "oilake build -h",
    ),
)
@click.version_option(package_name="oilake")
def cli() -> None:
    """oilake: Open Images V6 annotations as a typed, partitioned Parquet lake."""


assert isinstance(cli, OilakeGroup)
for _command in (
    fetch_command, build_command, sql_command, image_list_command, masks_group, evaluate_command, report_command,
    releases_command, rollback_command, verify_command, catalog_command, ddl_command,
):  # fmt: skip
    cli.add_command(_command)
for _command in (synth_command, bench_command, docs_command):
    cli.add_command(_command, developer=True)


def main(args: list[str] | None = None) -> None:
    """The console script ``oilake``: run the command line ``args`` (default: ``sys.argv[1:]``)."""
    cli.main(args=args, prog_name="oilake")
