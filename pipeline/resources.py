"""Locate the data bundled with oilake: the sample, the schema files, the SQL files, the official file list."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """A top-level folder of the project (``schemas``, ``sql``): in the installed wheel, else the repository."""
    for candidate in (PACKAGE / name, PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name} folder not found next to {PACKAGE}")


def schemas_dir() -> Path:
    """The declarative table schemas (``schemas/*.toml``)."""
    return bundled_dir("schemas")


def sql_dir() -> Path:
    """The query layer's SQL files (``sql/<layer>/*.sql``)."""
    return bundled_dir("sql")


def sample_dir() -> Path:
    """The bundled sample of genuine Open Images files (the default ``--source``)."""
    return PACKAGE / "sample"


def official_files_tsv() -> Path:
    """The list of every official V6 file with URL, size and md5."""
    return PACKAGE / "data" / "official-files.tsv"
