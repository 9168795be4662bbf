"""The ``oilake`` command: parses options, calls the library, turns errors into advice."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import click
import duckdb
import polars as pl

from pipeline.build.run import BuildOptions, build_lake
from pipeline.catalog.datadict import render_data_dictionary
from pipeline.catalog.viewdoc import render_views_doc
from pipeline.catalog.views import write_catalog
from pipeline.core.errors import (
    AccessDeniedError,
    FetchError,
    HeaderError,
    InputFormatError,
    LakeError,
    OilakeError,
    RejectLimitError,
    SourceError,
    SourceNotFoundError,
    SourceUnreachableError,
)
from pipeline.core.official import parse_official_files
from pipeline.families.selection import SelectionError
from pipeline.fetch import FetchOptions, fetch
from pipeline.lake.local import DEFAULT_KEEP, LakeLayout
from pipeline.lake.lock import LakeLockedError, lake_lock
from pipeline.lake.remote import is_remote
from pipeline.lake.verify import verify_lake
from pipeline.query.api import Lake, open_lake
from pipeline.query.labels import UnknownClassError
from pipeline.resources import sample_dir


def _split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _storage_options(items: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--storage-option")
        options[key] = value
    return options


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
    help="Lake folder to (re)build, or an object-store URL (s3://bucket/prefix).",
)
@click.option(
    "--lake-storage-option",
    "lake_storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec option for a lake on object storage (repeatable).",
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
@click.option("--full", is_flag=True, help="Ingest every file again, even those unchanged since the last build.")
@click.option(
    "--keep",
    default=DEFAULT_KEEP,
    show_default=True,
    type=click.IntRange(min=1),
    help="Releases to keep after publishing, the new one included (older ones can be rolled back to).",
)
def build(
    source: str | None, lake: str, lake_storage_options: tuple[str, ...], only: str | None, splits: str | None,
    max_rejects: int, storage_options: tuple[str, ...], full: bool, keep: int,
) -> None:  # fmt: skip
    """Build the lake from SOURCE into LAKE as a new release, published only when the build succeeds."""
    options = _storage_options(storage_options)
    build_options = BuildOptions(
        source=source or str(sample_dir()),
        lake=lake if is_remote(lake) else Path(lake),
        lake_storage_options=_storage_options(lake_storage_options) or None,
        only=_split_list(only),
        splits=_split_list(splits),
        max_rejects=max_rejects,
        storage_options=options or None,
        full=full,
        keep=keep,
    )
    try:
        manifest = build_lake(build_options)
    except HeaderError as exc:
        _fail(str(exc), "the file is not in the official format for its name; check that it is the right file")
    except RejectLimitError as exc:
        _fail(str(exc), "fix the source rows, or pass --max-rejects N to publish with them quarantined in `rejects`")
    except SelectionError as exc:
        _fail(str(exc))
    except LakeLockedError as exc:
        _fail(str(exc), "wait for that build to finish; a lock left by a process that died is taken over automatically")
    except (AccessDeniedError, SourceUnreachableError, SourceNotFoundError) as exc:
        _fail(str(exc), _REMOTE_HINTS[type(exc)])
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
    if is_remote(lake):
        click.echo(f"lake ready: {lake} (query it with `oilake sql --lake {lake}` or pipeline.open_lake)", err=True)
    else:
        click.echo(f"lake ready: {Path(lake).resolve()} (open {Path(lake) / 'lake.duckdb'} with DuckDB)", err=True)


_REMOTE_HINTS: dict[type[OilakeError], str] = {
    AccessDeniedError: (
        "s3:// is read anonymously unless AWS credentials are configured (AWS_ACCESS_KEY_ID/AWS_PROFILE or "
        "~/.aws); give them, or --storage-option anon=false / key=... secret=...; for http(s), put user:password@ "
        "in the URL"
    ),
    SourceUnreachableError: (
        "check the host and port in --source (for S3: AWS_ENDPOINT_URL or --storage-option endpoint_url=...) "
        "and that the server is up"
    ),
    SourceNotFoundError: "the file was listed but could not be read: check that --source still holds it, and retry",
}


@cli.command("fetch")
@click.option("--dest", required=True, help="Folder or fsspec URL (s3://...) to download the official files into.")
@click.option("--only", default=None, help="Comma-separated families or tables, as for build (default: all).")
@click.option("--splits", default=None, help="Comma-separated splits (train,validation,test); metadata always.")
@click.option("--base-url", default=None, help="Download NAME from BASE_URL/NAME instead of its official URL.")
@click.option(
    "--file-list",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A TSV in the format of official-files.tsv to use instead of the official list (a mirror's own list).",
)
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1), help="Parallel transfers.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(min=0), help="Retries per file.")
@click.option("--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE", help="fsspec option (DEST).")
def fetch_command(
    dest: str, only: str | None, splits: str | None, base_url: str | None, file_list: Path | None, workers: int,
    retries: int, storage_options: tuple[str, ...],
) -> None:  # fmt: skip
    """Download the official files into DEST, verified against their size and md5; re-runs skip verified files."""
    files = None
    if file_list is not None:
        try:
            files = parse_official_files(file_list.read_text("utf-8"))
        except (ValueError, OSError) as exc:
            _fail(f"--file-list {file_list}: {exc}", "use the columns of pipeline/data/official-files.tsv")
    options = FetchOptions(
        dest=dest, only=_split_list(only), splits=_split_list(splits), base_url=base_url, files=files,
        workers=workers, retries=retries, storage_options=_storage_options(storage_options) or None,
    )  # fmt: skip
    try:
        summary = fetch(options)
    except SelectionError as exc:
        _fail(str(exc))
    except FetchError as exc:
        _fail(str(exc), "check --dest")
    except OSError as exc:
        _fail(f"cannot use --dest {dest}: {exc}", "check --dest and, for s3://, the credentials")
    click.echo(summary.describe(), err=True)
    failed = [r for r in summary.results if r.status == "failed"]
    if failed:
        listing = "\n".join(f"  {r.name}: {r.detail}" for r in failed)
        _fail(
            f"{len(failed)} file(s) not fetched:\n{listing}",
            "a re-run retries (cut downloads resume); 'not found' or a size that differs from the list means the "
            "URL serves another file (check --base-url); a file kept aside as .bad-md5 arrived corrupt",
        )


def _layout(lake: Path) -> LakeLayout:
    layout = LakeLayout(lake.resolve())
    if not layout.is_lake():
        _fail(f"{lake} is not an oilake lake (no current release)", "pass the folder that `oilake build --lake` wrote")
    return layout


@cli.command()
@click.option(
    "--lake", default="lake", show_default=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
def catalog(lake: Path) -> None:
    """Rewrite the catalog so its views point at the lake's current place (after a move or copy)."""
    release = _layout(lake).current_release()
    assert release is not None
    click.echo(f"wrote {write_catalog(release)}", err=True)


@cli.command()
@click.option(
    "--lake", default="lake", show_default=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
def releases(lake: Path) -> None:
    """List the kept releases of LAKE (tab-separated: id, status, finished, rows)."""
    for release in _layout(lake).list_releases():
        status = "current" if release.current else ("published" if release.published else "unpublished")
        manifest = release.manifest()
        tables = manifest["tables"]
        assert isinstance(tables, dict)
        rows = sum(int(t["rows"]) for name, t in tables.items() if name != "rejects")
        click.echo(f"{release.id}\t{status}\t{manifest['finished']}\t{rows}")


@cli.command()
@click.option(
    "--lake", default="lake", show_default=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--to", "to", default=None, help="Release id to make current (default: the previously published one).")
def rollback(lake: Path, to: str | None) -> None:
    """Make an older kept release of LAKE current again (see `oilake releases`)."""
    layout = _layout(lake)
    try:
        with lake_lock(layout.root, "rollback"):
            release = layout.rollback(to)
    except LakeLockedError as exc:
        _fail(str(exc), "wait for the build to finish, then roll back")
    except LakeError as exc:
        _fail(str(exc), "`oilake releases --lake LAKE` lists the kept releases")
    click.echo(f"current release: {release}", err=True)


@cli.command()
@click.option(
    "--lake", default="lake", show_default=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--release", "release_id", default=None, help="Release id to check (default: the current one).")
@click.option("--rehash", is_flag=True, help="Also read every source file again and compare its size and md5.")
@click.option("--source", default=None, help="Where the sources are now, for --rehash (default: the recorded one).")
@click.option("--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE", help="fsspec option.")
def verify(
    lake: Path, release_id: str | None, rehash: bool, source: str | None, storage_options: tuple[str, ...]
) -> None:
    """Re-check a published lake against its manifest; exits 1 on any difference."""
    try:
        result = verify_lake(lake, release_id, rehash, source, _storage_options(storage_options) or None)
    except LakeError as exc:
        _fail(str(exc), "pass the folder that `oilake build --lake` wrote")
    for line in result.checked:
        click.echo(f"ok    {line}", err=True)
    for problem in result.problems:
        click.echo(f"FAIL  {problem}")
    if not result.ok:
        _fail(f"release {result.release}: {len(result.problems)} problem(s)", "rebuild with `oilake build --full`")
    click.echo(f"release {result.release}: verified", err=True)


@cli.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
@click.option("--views", is_flag=True, help="Document the views and macros of sql/ instead (builds the sample).")
def docs(output: Path | None, views: bool) -> None:
    """Print (or write) the data dictionary generated from schemas/, or with --views the query layer."""
    text = _views_doc() if views else render_data_dictionary()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _views_doc() -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as temp:
        lake = Path(temp) / "lake"
        build_lake(BuildOptions(source=str(sample_dir()), lake=lake))
        with open_lake(lake) as opened:
            return render_views_doc(opened.con)


@cli.command()
@click.argument("query", required=False)
@click.option("--lake", default="lake", show_default=True, help="Lake folder or object-store URL.")
@click.option(
    "--format", "output_format", type=click.Choice(["table", "csv", "json", "parquet"]), default=None,
    help="Output format. Default: table on a terminal, csv otherwise. json is one object per line.",
)  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
def sql(query: str | None, lake: str, output_format: str | None, output: Path | None) -> None:
    """Run QUERY on the lake's catalog; without QUERY, an interactive SQL shell."""
    try:
        opened = open_lake(lake)
    except LakeError as exc:
        _fail(str(exc), "build it first (make build-lake) or pass --lake")
    with opened:
        if query is None:
            _shell(opened)
            return
        try:
            frame = opened.sql(query)
        except duckdb.Error as exc:
            _fail(str(exc).strip(), "the catalog's views and columns are listed in docs/views.md")
        fmt = output_format or ("table" if output is None and sys.stdout.isatty() else "csv")
        _write_frame(frame, fmt, output)


def _write_frame(frame: pl.DataFrame, fmt: str, output: Path | None) -> None:
    if fmt == "table":
        with pl.Config(
            tbl_rows=100, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200, tbl_hide_dataframe_shape=True
        ):
            text = f"{frame}\n"
        _emit(text.encode(), output)
    elif fmt == "csv":
        _emit(frame.write_csv().encode(), output)
    elif fmt == "json":
        _emit(frame.write_ndjson().encode(), output)
    else:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd")
        _emit(buffer.getvalue(), output)


def _emit(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)


def _shell(lake: Lake) -> None:
    """A small SQL shell: statements end with ';', `.tables` lists names, `.quit` or EOF leaves."""
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


@cli.command("image-list")
@click.option("--lake", default="lake", show_default=True, help="Lake folder or object-store URL.")
@click.option("--classes", required=True, help='Comma-separated display names, e.g. "Cat,Dog".')
@click.option("--include-descendants", is_flag=True, help="Also every subcategory descendant of those classes.")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default=None, help="Only this split.")
@click.option("--min-boxes", type=click.IntRange(min=1), default=1, show_default=True, help="Boxes of those classes.")
@click.option("--where", default=None, help="Extra SQL condition on the boxes counted (columns of boxes_named).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
def image_list_command(
    lake: str, classes: str, include_descendants: bool, split: str | None, min_boxes: int,
    where: str | None, output: Path | None,
) -> None:  # fmt: skip
    """Write SPLIT/IMAGE_ID lines, the input of the official Open Images downloader.py."""
    names = [c.strip() for c in classes.split(",") if c.strip()]
    try:
        with open_lake(lake) as opened:
            lines = opened.image_list(names, include_descendants, split, min_boxes, where)
    except UnknownClassError as exc:
        _fail(str(exc), "names are exact display names (case-insensitive); see the classes table")
    except LakeError as exc:
        _fail(str(exc), "build it first (make build-lake) or pass --lake")
    except duckdb.Error as exc:
        _fail(f"--where: {str(exc).strip()}", "--where takes an SQL condition on columns of boxes_named")
    _emit("".join(f"{line}\n" for line in lines).encode(), output)
    click.echo(f"{len(lines)} image(s)", err=True)


@cli.command("bench")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=0.01, show_default=True,
              help="Data size as a fraction of the full V6 release (1 = ~36 GB).")  # fmt: skip
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to generate (or reuse) the data. Default: .bench/data-SCALE.")  # fmt: skip
@click.option("--source", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Benchmark this folder of official files as it is instead of generating data.")  # fmt: skip
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path(".bench/work"),
              show_default=True, help="Scratch folder for the lake and the engines' outputs.")  # fmt: skip
@click.option("--engines", default="duckdb,polars,pandas", show_default=True, help="Bare engines to compare with.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("BENCHMARKS.md"),
              show_default=True, help="Markdown report.")  # fmt: skip
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON results. Default: benchmarks/results-scale-SCALE.json.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True, help="Runs per query.")
@click.option("--keep", is_flag=True, help="Keep the benchmark lake in WORK.")
@click.option("--profile", is_flag=True, help="Also build once more under py-spy and report where the time goes.")
@click.option("--render", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Run nothing: render OUTPUT again from this results JSON (after editing notes.md).")  # fmt: skip
def bench_command(
    scale: float, data: Path | None, source: Path | None, work: Path, engines: str, output: Path,
    results: Path | None, seed: int, repeat: int, keep: bool, profile: bool, render: Path | None,
) -> None:  # fmt: skip
    """Benchmark the build against bare DuckDB, Polars and pandas, and lake queries against raw CSV."""
    from benchmarks.report import write_report
    from benchmarks.run import ENGINES, BenchOptions, run_bench

    if render is not None:
        click.echo(f"wrote {write_report(render, output)}", err=True)
        return

    chosen = _split_list(engines) or []
    unknown = sorted(set(chosen) - set(ENGINES))
    if unknown:
        raise click.BadParameter(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    options = BenchOptions(
        scale=scale, data=data, work=work, engines=chosen, output=output, results=results, source=source,
        seed=seed, repeat=repeat, keep=keep, profile=profile,
    )  # fmt: skip
    try:
        run_bench(options)
    except ImportError as exc:
        _fail(str(exc), "install the benchmark extra: make bench, or pip install -e '.[bench]'")
    except (OilakeError, RuntimeError) as exc:
        _fail(str(exc))
    click.echo(f"wrote {options.results_path()} and {output}", err=True)


@cli.command("synth")
@click.option("--dest", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@click.option("--scale", required=True, type=float, help="Rows as a fraction of the full V6 release (1 = ~36 GB).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--only", default=None, help="Comma-separated families or tables to generate (as for build).")
def synth_command(dest: Path, scale: float, seed: int, only: str | None) -> None:
    """Write synthetic Open Images V6 files under their official names into DEST."""
    from pipeline.synth import SynthError, synthesize

    try:
        report = synthesize(dest, scale, seed=seed, only=_split_list(only), progress=True)
    except SelectionError as exc:
        _fail(str(exc))
    except SynthError as exc:
        _fail(str(exc), "pass --scale > 0 (e.g. 0.01), --seed >= 0 and a new or earlier `oilake synth` folder")
    click.echo("file\trows\tbytes\tseconds")
    for file in report.files:
        click.echo(f"{file.name}\t{file.rows}\t{file.bytes}\t{file.seconds:.2f}")
    made = [f for f in report.files if f.seconds > 0]
    made_mb = sum(f.bytes for f in made) / 1e6
    rate = f", {made_mb / report.seconds:,.0f} MB/s" if made and report.seconds else ""
    click.echo(
        f"{dest}: {len(report.files)} files, {report.bytes / 1e6:,.1f} MB; generated {made_mb:,.1f} MB in "
        f"{report.seconds:.1f} s{rate}; the rest reused or copied",
        err=True,
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
