"""The benchmark's inputs: the data folder (given, or synthesized and reused) and each official file in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.families import family_specs

if TYPE_CHECKING:
    from benchmarks.run import BenchOptions


@dataclass
class InputFile:
    """An official file to benchmark: its family and split, and how a bare engine reads it."""

    family: str
    split: str | None
    path: Path
    kind: str
    has_header: bool

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size


def find_files(folder: Path) -> dict[tuple[str, str | None], list[Path]]:
    """The official files present in ``folder`` (plain or ``.gz``), by (family, split), in list order."""
    from pipeline.core.official import official_files

    found: dict[tuple[str, str | None], list[Path]] = {}
    for official in official_files():
        for name in (official.name, official.name + ".gz"):
            if (folder / name).is_file():
                found.setdefault((official.family, official.split), []).append(folder / name)
                break
    return found


def input_files(folder: Path) -> list[InputFile]:
    """Every official file in ``folder`` a bare engine reads, with how (the mask archives: ``make bench-masks``)."""
    specs = family_specs()
    files = []
    for (family, split), paths in find_files(folder).items():
        if family == "mask_pixels":
            continue
        for path in paths:
            kind = "jsonl" if ".jsonl" in path.name else "csv" if family in specs else "json"
            has_header = specs[family].has_header if family in specs else False
            files.append(InputFile(family, split, path, kind, has_header))
    return files


def generate(options: BenchOptions) -> tuple[Path, dict[str, object] | None]:
    """The folder to benchmark: ``--source`` as it is, or synthesized (reused when identical) data."""
    if options.source is not None:
        return options.source, None
    from pipeline.synth import synthesize

    assert options.scale is not None
    # the mask archives have their own benchmark (make bench-masks); these are the 36 GB of CSV and JSON lines
    report = synthesize(options.data_path(), options.scale, seed=options.seed, progress=True, exclude=["mask_pixels"])
    return report.dest, {
        "dest": str(report.dest),
        "scale": report.scale,
        "seed": report.seed,
        "seconds": report.seconds,
        "rows_by_table": report.rows_by_table(),
        "files": [
            {"family": f.family, "split": f.split, "file": f.name, "rows": f.rows, "bytes": f.bytes,
             "seconds": f.seconds}
            for f in report.files
        ],
    }  # fmt: skip


def per_split_families(files: list[InputFile]) -> dict[str, list[InputFile]]:
    """The row-data families (per-split files) that the bare engines convert, in file-list order."""
    by_family: dict[str, list[InputFile]] = {}
    for file in files:
        if file.split is not None:
            by_family.setdefault(file.family, []).append(file)
    return by_family
