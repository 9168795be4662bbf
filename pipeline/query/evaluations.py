"""Registered evaluation runs as views (``evaluation_runs``, ``evaluation_per_class``, ...): models compared in SQL.

The views are ``evaluation_runs``, ``evaluation_per_class``, ``evaluation_pr_curves``, ``evaluation_matches``
and ``evaluation_mask_matches`` (segmentation runs).

``oilake evaluate --register NAME`` keeps a run's outputs in ``LAKE/evaluations/NAME/``; every session
on the lake sees each run there (the views are made when the lake is opened, one row source per run,
with the run's name in the column ``run``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.progress import log
from pipeline.core.schema import output_schemas
from pipeline.core.sql_text import sql_literal

EVALUATIONS = "evaluations"
# view name -> the output file of each run it reads (and its declared schema)
VIEWS = {
    "evaluation_per_class": "per_class",
    "evaluation_pr_curves": "pr_curves",
    "evaluation_matches": "matches",
    "evaluation_mask_matches": "mask_matches",  # segmentation runs only
}
RUN_COLUMNS = (
    ("run", "varchar"), ("task", "varchar"), ("metric", "varchar"), ("official", "boolean"), ("split", "varchar"),
    ("release", "varchar"), ("map", "double"), ("predictions_file", "varchar"), ("predictions", "bigint"),
    ("tp", "bigint"), ("fp", "bigint"), ("ignored", "bigint"), ("classes_with_ground_truth", "bigint"),
    ("seconds", "double"),
)  # fmt: skip
_SQL_TYPES = {
    "string": "varchar", "bool": "boolean", "int32": "integer", "int64": "bigint", "float32": "float",
    "float64": "double",
}  # fmt: skip


def registered_runs(root: Path) -> list[Path]:
    """The run folders of ``LAKE/evaluations/`` (hidden ones are registrations in progress).

    A run whose summary or tables cannot be read as declared is left out with a warning on stderr,
    so that one damaged run never keeps the lake from opening.
    """
    folder = root / EVALUATIONS
    if not folder.is_dir():
        return []
    runs = sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "summary.json").is_file()
    )
    return [run for run in runs if _readable(run)]


def _readable(run: Path) -> bool:
    import pyarrow.parquet as pq

    schemas = output_schemas("evaluation")
    try:
        json.loads((run / "summary.json").read_text(encoding="utf-8"))
        for output in VIEWS.values():
            path = run / f"{output}.parquet"
            if path.is_file() and pq.read_schema(path) != schemas[output].arrow:
                raise ValueError(f"{output}.parquet does not have the declared columns")
    except (OSError, ValueError) as exc:
        log(f"warning: evaluation run {run.name} left out of the evaluation_* views: {exc}")
        return False
    return True


def evaluation_views(root: Path) -> list[tuple[str, list[str]]]:
    """``create temp view`` statements for the registered runs, each with the files it reads."""
    runs = registered_runs(root)
    rows = []
    for run in runs:
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        counts = summary.get("counts", {})
        values = (
            run.name, summary.get("task"), summary.get("metric"), summary.get("official"), summary.get("split"),
            summary.get("release"), summary.get("map"), summary.get("predictions"), counts.get("predictions"),
            counts.get("tp"), counts.get("fp"), counts.get("ignored"), summary.get("classes_with_ground_truth"),
            summary.get("seconds"),
        )  # fmt: skip
        rows.append(
            "select "
            + ", ".join(f"cast({sql_literal(v)} as {t}) as {n}" for v, (n, t) in zip(values, RUN_COLUMNS, strict=True))
        )
    empty = "select " + ", ".join(f"cast(null as {t}) as {n}" for n, t in RUN_COLUMNS) + " where false"
    statements: list[tuple[str, list[str]]] = [
        (f"create or replace temp view evaluation_runs as {' union all '.join(rows) or empty}", [])
    ]
    schemas = output_schemas("evaluation")
    for view, output in VIEWS.items():
        schema = schemas[output]
        columns = ", ".join(f"cast(null as {_SQL_TYPES[c.type]}) as {c.name}" for c in schema.columns)
        files = [str(run / f"{output}.parquet") for run in runs if (run / f"{output}.parquet").is_file()]
        parts = [
            f"select {sql_literal(Path(f).parent.name)} as run, * from read_parquet({sql_literal(f)})" for f in files
        ]  # fmt: skip
        body = " union all by name ".join(parts) or f"select cast(null as varchar) as run, {columns} where false"
        statements.append((f"create or replace temp view {view} as {body}", files))
    return statements
