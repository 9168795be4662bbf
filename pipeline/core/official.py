"""The official Open Images V6 file list, shipped as package data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from pipeline.resources import official_files_tsv

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class OfficialFile:
    """One file of the official release."""

    family: str
    split: str | None
    name: str
    url_prefix: str
    bytes: int | None
    md5: str | None
    rows: int | None

    @property
    def url(self) -> str:
        return self.url_prefix + self.name


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


@cache
def official_files() -> tuple[OfficialFile, ...]:
    """Every official V6 file, in the order of the list."""
    return parse_official_files(official_files_tsv().read_text("utf-8"))


def parse_official_files(text: str) -> tuple[OfficialFile, ...]:
    """Files listed in the format of ``official-files.tsv`` (tab-separated, with its header)."""
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    missing = {"family", "split", "file", "url_prefix", "bytes", "md5"} - set(rows.fieldnames or ())
    if missing:
        raise ValueError(f"missing column(s) {', '.join(sorted(missing))}")
    return tuple(
        OfficialFile(
            family=r["family"],
            split=r["split"] or None,
            name=r["file"],
            url_prefix=r["url_prefix"],
            bytes=_int_or_none(r["bytes"]),
            md5=r["md5"].strip().lower() or None,
            rows=_int_or_none(r.get("rows_official") or ""),
        )
        for r in rows
    )


def families() -> list[str]:
    """Family names in list order, each once."""
    return list(dict.fromkeys(f.family for f in official_files()))
