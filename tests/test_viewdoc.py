"""docs/views.md lists every view and macro with its columns and must not be stale."""

from __future__ import annotations

from pathlib import Path

from pipeline.catalog.viewdoc import render_views_doc
from pipeline.catalog.views import sql_files
from pipeline.query.api import open_lake

DOC = Path(__file__).resolve().parents[1] / "docs" / "views.md"


def test_views_doc_is_fresh(sample_lake: tuple[Path, dict[str, object]]) -> None:
    with open_lake(sample_lake[0]) as lake:
        text = render_views_doc(lake.con)
    assert DOC.read_text(encoding="utf-8") == text, "run `make docs` to regenerate it"
    for path in sql_files():
        assert f"### `{path.stem}`" in text
