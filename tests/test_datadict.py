"""The data dictionary is generated from the schemas and must not be stale."""

from __future__ import annotations

from pathlib import Path

from pipeline.catalog.datadict import render_data_dictionary
from pipeline.core.schema import all_schemas

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


def test_data_dictionary_is_fresh() -> None:
    assert DOC.read_text(encoding="utf-8") == render_data_dictionary(), "run `make docs` to regenerate it"


def test_data_dictionary_lists_every_column() -> None:
    text = render_data_dictionary()
    for name, schema in all_schemas().items():
        assert f"## {name}" in text
        for column in schema.columns:
            assert f"| `{column.name}` |" in text
