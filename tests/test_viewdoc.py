"""docs/views.md lists every view and macro with its columns and must not be stale."""

from __future__ import annotations

from pathlib import Path

from pipeline.catalog import sql_files
from pipeline.lake import open_lake
from pipeline.schema import mart_schemas
from pipeline.viewdoc import render_views_doc

DOC = Path(__file__).resolve().parents[1] / "docs" / "views.md"


def test_views_doc_is_fresh(sample_lake: tuple[Path, dict[str, object]]) -> None:
    with open_lake(sample_lake[0]) as lake:
        text = render_views_doc(lake.con)
    assert DOC.read_text(encoding="utf-8") == text, "run `make docs` to regenerate it"
    marts = {m.table for m in mart_schemas()}
    for path in sql_files():
        name = f"{path.stem}_live" if path.stem in marts else path.stem
        assert f"### `{name}`" in text
