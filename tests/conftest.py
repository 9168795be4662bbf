"""Fixtures that build tiny real lakes in ``tmp_path``."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from pipeline.build.run import BuildOptions, build_lake
from pipeline.resources import sample_dir

pytest_plugins = ["tests.servers"]  # loopback HTTP and S3 servers (file_server, moto_server, s3_env, s3_bucket)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "openimages"

BOX_HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
)
XCLICK_HEADER = BOX_HEADER + ",XClick1X,XClick2X,XClick3X,XClick4X,XClick1Y,XClick2Y,XClick3Y,XClick4Y"
LABEL_HEADER = "ImageID,Source,LabelName,Confidence"
VAL_BOXES = "validation-annotations-bbox.csv"
VAL_LABELS = "validation-annotations-human-imagelabels.csv"
IMAGE_HEADER = (
    "ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,"
    "OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation"
)

WriteSource = Callable[..., Path]


@pytest.fixture
def write_source(tmp_path: Path) -> WriteSource:
    """Write files (name → text or bytes) into a fresh source folder; ``.gz`` names are gzipped."""
    counter = iter(range(1000))

    def write(files: dict[str, str | bytes]) -> Path:
        folder = tmp_path / f"source{next(counter)}"
        folder.mkdir()
        for name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            if name.endswith(".gz"):
                data = gzip.compress(data)
            (folder / name).write_bytes(data)
        return folder

    return write


def build(source: Path | str, lake: Path | str, **options: Any) -> dict[str, Any]:
    """Build ``lake`` from ``source`` with library defaults; the manifest as ``_manifest.json`` holds it."""
    return build_lake(BuildOptions(source=str(source), lake=lake, **options)).manifest.to_json()


def query(lake: Path, sql: str) -> pl.DataFrame:
    """Run ``sql`` on the lake's catalog, opened read-only."""
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def sources_by_file(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["file"]: s for s in manifest["sources"]}


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The bundled sample, built once for the session."""
    lake = tmp_path_factory.mktemp("sample") / "lake"
    manifest = build(sample_dir(), lake)
    return lake, manifest


@pytest.fixture
def small_lake(tmp_path: Path) -> tuple[Path, Path]:
    """A lake of three validation boxes and one label, with its source folder: ``(source, lake)``."""
    source = tmp_path / "source"
    source.mkdir()
    rows = [f"000000000000000{n},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for n in range(1, 4)]
    (source / VAL_BOXES).write_text(BOX_HEADER + "\n" + "\n".join(rows) + "\n")
    (source / VAL_LABELS).write_text(f"{LABEL_HEADER}\n0000000000000001,verification,/m/0k4j,1\n")
    lake = tmp_path / "lake"
    build(source, lake)
    return source, lake


S3_FIXTURES = {"moto_server", "s3_env", "s3_bucket"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the S3 (moto) server ``s3``: `make test-s3` runs them, `make test` the rest."""
    for item in items:
        if S3_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)
