"""Generate the data dictionary (``docs/data-dictionary.md``) from the schema files."""

from __future__ import annotations

from pipeline.core.schema import TableSchema, all_schemas, output_schemas


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_data_dictionary() -> str:
    """The data dictionary as Markdown: one section per table, one row per column."""
    out = [
        "# Data dictionary",
        "",
        "<!-- Generated from schemas/*.toml by `make docs` (oilake docs). Do not edit by hand:",
        "     tests/test_datadict.py fails when this file is stale. -->",
        "",
        "Every table is a folder of zstd Parquet files under the lake root and a view of the same name in",
        "`lake.duckdb`. Partitioned tables are Hive-partitioned by `split` (`split=train/...`); the `split`",
        "column comes from the folder name and is not stored in the files. Marts are computed at build",
        "time from the tables by the SQL of `sql/40_marts/` (their live views are `<mart>_live`).",
        "",
        "| table | kind | partitioned by | sorted by | columns |",
        "|---|---|---|---|---|",
    ]
    schemas = dict(sorted(all_schemas().items(), key=lambda item: item[1].is_mart))
    for name, schema in schemas.items():
        out.append(
            f"| [`{name}`](#{name}) | {schema.kind} | {', '.join(schema.partition_by) or '—'} | "
            f"{', '.join(schema.sort_by) or '—'} | {len(schema.columns)} |"
        )
    for name, schema in schemas.items():
        out += _section(name, schema)
    evaluation = output_schemas("evaluation")
    out += [
        "",
        "## Evaluation outputs",
        "",
        "Not lake tables: the files `oilake evaluate --output DIR` writes (declared in `schemas/evaluation/`;",
        "`phrase_per_class` and `phrase_pr_curves` have the columns of `per_class` and `pr_curves`). Registered runs",
        "are read through the views `evaluation_per_class`, `evaluation_pr_curves` and `evaluation_matches`, with",
        "the run's name in `run` (see docs/evaluation.md).",
        "",
        "| output | columns |",
        "|---|---|",
    ]
    out += [f"| [`{name}.parquet`](#{name}) | {len(schema.columns)} |" for name, schema in evaluation.items()]
    for name, schema in evaluation.items():
        out += _section(name, schema, level="###")
    return "\n".join(out) + "\n"


def _section(name: str, schema: TableSchema, level: str = "##") -> list[str]:
    """One table's section: its description and one row per column."""
    out = ["", f"{level} {name}", "", _cell(schema.description), ""]
    if schema.families:
        out += [f"Fed by families: {', '.join(f'`{f}`' for f in schema.families)}.", ""]
    if schema.slice_by:
        merge = (
            f"the slices' rows are added up over {', '.join(f'`{c}`' for c in schema.slice_sum)}"
            if schema.slice_sum
            else "the slices' rows are disjoint and concatenated"
        )
        out += [f"Computed at build time in disjoint ranges of `{schema.slice_by}`; {merge}.", ""]
    if schema.split_local:
        out += [
            "Each split's rows read only that split: an incremental build recomputes the splits whose "
            "source files changed and keeps the other splits' rows.",
            "",
        ]
    out += ["| column | type | nullable | from | description |", "|---|---|---|---|---|"]
    for column in schema.columns:
        out.append(
            f"| `{column.name}` | `{_cell(str(column.arrow_type))}` | {'yes' if column.nullable else 'no'} | "
            f"`{_cell(column.source)}` | {_cell(column.description)} |"
        )
    if schema.partition_by:
        out.append("| `split` | `string` (partition) | no | file | `train`, `validation` or `test`. |")
    return out
