"""``oilake report``: one self-contained HTML page about a lake, drawn from its marts and manifest."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import examples, lake_option, lake_storage_option, output_option


@click.command(
    "report",
    epilog=examples(
        "oilake report",
        "oilake report --lake lake --output report.html && xdg-open report.html",
        "oilake report --lake s3://bucket/lake --output s3-lake.html",
    ),
)
@lake_option
@lake_storage_option
@output_option(
    "the report (one HTML file: scripts, styles and data inline, it opens without a network)", Path("report.html")
)
def report_command(lake: str, lake_storage_options: dict[str, str] | None, output: Path) -> None:
    """Write an HTML report of the lake's current release: the build, classes, hierarchy, distributions.

    One file with the build (sources, rows, rejects, time), every class's counts per split (sortable,
    searchable), the hierarchy with counts, per-image distributions, box geometry, attributes,
    relationships, narratives and, when runs are registered, the evaluation (mAP, AP, PR curves).
    """
    from pipeline.report import write_report

    result = write_report(lake, output, lake_storage_options)
    click.echo(
        f"written: {result.path} ({result.bytes / 1e6:.1f} MB, {len(result.figures)} charts, release "
        f"{result.release}, {result.seconds:.1f}s): open it in a browser",
        err=True,
    )
