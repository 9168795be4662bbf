"""Developer commands: ``oilake synth``, ``oilake bench`` and ``oilake docs``."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import examples, only_option, output_option, split_list, splits_option
from pipeline.core.errors import BenchError


@click.command(
    "synth",
    epilog=examples(
        "oilake synth --scale 0.01 --dest synth-0.01",
        "oilake synth --scale 0.001 --dest synth --only boxes --seed 7",
        "oilake synth --scale 0.001 --dest synth --only predictions --splits validation",
        "oilake synth --source pipeline/sample --dest predictions --splits validation --form kaggle",
    ),
)
@click.option("--dest", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@click.option("--scale", type=float, default=None,
              help="Rows as a fraction of the full V6 release (1 = ~36 GB). Required unless --source.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@only_option
@splits_option
@click.option("--source", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Generate no data: write predictions for the official files of this folder.")  # fmt: skip
@click.option("--per-image", type=click.IntRange(min=1), default=100, show_default=True,
              help="Predictions per image (with predictions in --only, or --source).")  # fmt: skip
@click.option("--form", type=click.Choice(["csv", "parquet", "kaggle"]), default="csv", show_default=True,
              help="Predictions in the official CSV columns, as Parquet, or as a Kaggle submission.")  # fmt: skip
@click.option("--bad-fraction", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of prediction rows made invalid (XMin > XMax, YMin = YMax, XMax > 1).")  # fmt: skip
def synth_command(
    dest: Path, scale: float | None, seed: int, only: list[str] | None, splits: list[str] | None,
    source: Path | None, per_image: int, form: str, bad_fraction: float,
) -> None:  # fmt: skip
    """Write synthetic Open Images V6 files under their official names into DEST.

    With `predictions` in --only, also synthetic detector output on that ground truth (detection and
    relationships, --per-image an image); with --source, only that output, for the files of SOURCE.
    """
    from pipeline.synth import synthesize
    from pipeline.synth.predictions import write_all

    if source is not None:
        if scale is not None or (only and only != ["predictions"]):
            raise click.UsageError("--source writes predictions only: pass no --scale and no --only but predictions")
        files = write_all(source, dest, splits, per_image, seed, form, bad_fraction, progress=True)
        _file_table([(p.path.name, p.rows, p.bytes, p.seconds) for p in files])
        return
    if scale is None:
        raise click.UsageError("pass --scale (or --source to write predictions for existing files)")
    report = synthesize(dest, scale, seed=seed, only=only, progress=True, splits=splits, per_image=per_image,
                        prediction_form=form, bad_fraction=bad_fraction)  # fmt: skip
    _file_table([(f.name, f.rows, f.bytes, f.seconds) for f in report.files]
                + [(p.path.name, p.rows, p.bytes, p.seconds) for p in report.predictions])  # fmt: skip
    made = [f for f in report.files if f.seconds > 0]
    made_mb = sum(f.bytes for f in made) / 1e6
    rate = f", {made_mb / report.seconds:,.0f} MB/s" if made and report.seconds else ""
    predicted = f"; {len(report.predictions)} predictions files" if report.predictions else ""
    click.echo(
        f"{dest}: {len(report.files)} files, {report.bytes / 1e6:,.1f} MB; generated {made_mb:,.1f} MB in "
        f"{report.seconds:.1f} s{rate}; the rest reused or copied{predicted}",
        err=True,
    )


def _file_table(rows: list[tuple[str, int, int, float]]) -> None:
    """stdout: one line per file written (name, rows, bytes, seconds)."""
    click.echo("file\trows\tbytes\tseconds")
    for name, count, size, seconds in rows:
        click.echo(f"{name}\t{count}\t{size}\t{seconds:.2f}")


@click.command(
    "bench",
    epilog=examples(
        "oilake bench --scale 0.01",
        "oilake bench --source /data/openimages --engines duckdb,polars --repeat 1",
        "oilake bench --render benchmarks/results-scale-0.01.json",
    ),
)
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=0.01, show_default=True,
              help="Data size as a fraction of the full V6 release (1 = ~36 GB).")  # fmt: skip
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to generate (or reuse) the data. Default: .bench/data-SCALE.")  # fmt: skip
@click.option("--source", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Benchmark this folder of official files as it is instead of generating data.")  # fmt: skip
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path(".bench/work"),
              show_default=True, help="Scratch folder for the lake and the engines' outputs.")  # fmt: skip
@click.option("--engines", default="duckdb,polars,pandas", show_default=True, help="Bare engines to compare with.")
@output_option("the markdown report", default=Path("BENCHMARKS.md"))
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON results. Default: benchmarks/results-scale-SCALE.json.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True, help="Runs per query.")
@click.option("--keep", is_flag=True, help="Keep the benchmark lake in WORK.")
@click.option("--profile", is_flag=True, help="Also build once more under py-spy and report where the time goes.")
@click.option("--no-small-jobs", is_flag=True,
              help="Skip the small jobs (boxes-only build at scale 0.3, the sample, --help).")  # fmt: skip
@click.option("--render", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Run nothing: render OUTPUT again from this results JSON (after editing notes.md).")  # fmt: skip
def bench_command(
    scale: float, data: Path | None, source: Path | None, work: Path, engines: str, output: Path,
    results: Path | None, seed: int, repeat: int, keep: bool, profile: bool, no_small_jobs: bool,
    render: Path | None,
) -> None:  # fmt: skip
    """Benchmark the build against bare DuckDB, Polars and pandas, and lake queries against raw CSV.

    The benchmark lives in the repository's benchmarks/ folder, not in the installed package.
    """
    try:
        from benchmarks.report import write_report
        from benchmarks.run import ENGINES, BenchOptions, run_bench
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks" and not (exc.name or "").startswith("benchmarks."):
            raise BenchError(str(exc), hint=_EXTRA_HINT) from exc
        raise BenchError("the benchmark is not installed: it runs from a clone of the repository") from exc

    if render is not None:
        click.echo(f"wrote {write_report(render, output)}", err=True)
        return
    chosen = split_list(engines) or []
    unknown = sorted(set(chosen) - set(ENGINES))
    if unknown:
        raise click.BadParameter(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    options = BenchOptions(
        scale=scale, data=data, work=work, engines=chosen, output=output, results=results, source=source,
        seed=seed, repeat=repeat, keep=keep, profile=profile, small_jobs=not no_small_jobs,
    )  # fmt: skip
    try:
        run_bench(options)
    except ImportError as exc:
        raise BenchError(str(exc), hint=_EXTRA_HINT) from exc
    except RuntimeError as exc:  # a benchmark run failed: its own output says why
        raise BenchError(str(exc), hint="the build's error is quoted above; fix it and run again") from exc
    click.echo(f"wrote {options.results_path()} and {output}", err=True)


_EXTRA_HINT = "install the benchmark extra: make bench, or pip install -e '.[bench]'"


@click.command(
    "docs",
    epilog=examples(
        "oilake docs --output docs/data-dictionary.md",
        "oilake docs --views --output docs/views.md",
        "oilake docs --cli --output docs/cli.md",
    ),
)
@output_option()
@click.option("--views", is_flag=True, help="Document the views and macros of sql/ instead (builds the sample).")
@click.option("--cli", "cli_reference", is_flag=True, help="Document the oilake commands instead (from their help).")
def docs_command(output: Path | None, views: bool, cli_reference: bool) -> None:
    """Print (or write) a generated reference: the data dictionary (schemas/), the views (sql/) or the commands."""
    if views and cli_reference:
        raise click.UsageError("pass --views or --cli, not both")
    if cli_reference:
        from pipeline.cli import cli
        from pipeline.cli.reference import render_cli_reference

        text = render_cli_reference(cli)
    elif views:
        text = _views_doc()
    else:
        from pipeline.catalog.datadict import render_data_dictionary

        text = render_data_dictionary()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _views_doc() -> str:
    import tempfile

    from pipeline.build.run import BuildOptions, build_lake
    from pipeline.catalog.viewdoc import render_views_doc
    from pipeline.query.api import open_lake
    from pipeline.resources import sample_dir

    with tempfile.TemporaryDirectory() as temp:
        lake = Path(temp) / "lake"
        build_lake(BuildOptions(source=str(sample_dir()), lake=lake))
        with open_lake(lake) as opened:
            return render_views_doc(opened.con)
