"""Evaluate predictions against a lake's ground truth: read, match, score, and write the outputs.

The outputs go to a hidden folder inside ``output`` first and are moved into place only when every
one is written, so a failed run never leaves a half-written result next to an older one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb

from pipeline.core.errors import EvaluationError, MemoryBudgetError
from pipeline.core.schema import output_schemas
from pipeline.evaluate import average_precision, detection, ground_truth, relationships, segmentation
from pipeline.evaluate.options import EvalOptions, EvalSummary
from pipeline.evaluate.plot import write_pr_plot
from pipeline.evaluate.predictions import ReadReport, stage_predictions
from pipeline.query.api import open_lake
from pipeline.read.redact import redact
from pipeline.write.parquet_writer import write_batches

OUTPUTS = (
    "summary.json", "per_class.parquet", "pr_curves.parquet", "matches.parquet", "prediction_rejects.parquet",
    "pr_curves.html", "phrase_per_class.parquet", "phrase_pr_curves.parquet", "vrd_matches.parquet",
    "mask_matches.parquet",
)  # fmt: skip
ROWS_PER_BATCH = 256 * 1024


def memory_limit() -> str:
    """DuckDB's budget for an evaluation: ``OILAKE_EVAL_MEMORY`` (e.g. ``2GB``), else 1 GB; it spills beyond."""
    return os.environ.get("OILAKE_EVAL_MEMORY", "1GB")


def evaluate(
    lake: Path | str,
    predictions: str,
    output: Path | str,
    options: EvalOptions | None = None,
    storage_options: dict[str, str] | None = None,
    lake_storage_options: dict[str, str] | None = None,
) -> EvalSummary:
    """Score ``predictions`` against the ground truth of ``options.split`` in ``lake``; outputs in ``output``.

    ``storage_options`` are fsspec options for a remote predictions file, ``lake_storage_options`` for a
    lake on object storage.
    """
    options = options or EvalOptions()
    started = time.monotonic()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    work = output / f".oilake-evaluate-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with open_lake(lake, lake_storage_options, file_access=True) as opened:
            con = opened.con
            con.execute("set memory_limit = $m", {"m": memory_limit()})
            con.execute("set temp_directory = $d", {"d": str(work / "spill")})
            con.execute("set enable_progress_bar = false")
            release = Path(str(opened.release)).name
            try:
                summary = _run(con, predictions, work, options, storage_options)
            except duckdb.OutOfMemoryException as exc:
                raise MemoryBudgetError(
                    f"the evaluation needed more than {memory_limit()} even spilling to disk: {exc}",
                    hint="set OILAKE_EVAL_MEMORY higher (e.g. OILAKE_EVAL_MEMORY=3GB)",
                ) from exc
        summary.release = release
        summary.lake = redact(str(lake))
        summary.seconds = round(time.monotonic() - started, 3)
        (work / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
        for name in OUTPUTS:
            if (work / name).exists():
                os.replace(work / name, output / name)
            elif (output / name).exists():
                (output / name).unlink()  # an output of an older run that this task does not write
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def _run(con: duckdb.DuckDBPyConnection, predictions: str, work: Path, options: EvalOptions,
         storage_options: dict[str, str] | None) -> EvalSummary:  # fmt: skip
    if options.task == "segmentation" and (options.expand_predictions or options.metric != "challenge"):
        raise EvaluationError(
            "--task segmentation has one metric, the Challenge's, on the predictions as given",
            hint="drop --metric v2 and --expand-predictions",
        )
    classes = ground_truth.stage_classes(con)
    staged, rejects = work / "predictions.parquet", work / "prediction_rejects.parquet"
    read = stage_predictions(predictions, options.task, staged, rejects, dict(storage_options or {}) or None)
    if options.task == "relationships":
        summary = relationships.evaluate(con, str(staged), options, new_summary(options, read, classes), work)
        relationships.write_outputs(con, work, options.iou_threshold)
        tables = ("vrd_per_class_relationship", "vrd_relationship_pr")
    elif options.task == "segmentation":
        summary = score_segmentation(con, str(staged), options, new_summary(options, read, classes), work)
        _write_outputs(con, work, segmentation.MATCHES, "mask_matches")
        tables = ("eval_per_class", "eval_pr")
    else:
        summary = score_detection(con, str(staged), options, new_summary(options, read, classes), work)
        _write_outputs(con, work, detection.MATCHES, "matches")
        tables = ("eval_per_class", "eval_pr")
    write_pr_plot(con, work / "pr_curves.html", summary, *tables)
    return summary


def new_summary(options: EvalOptions, read: ReadReport, classes: int) -> EvalSummary:
    return EvalSummary(
        task=options.task, metric={"detection": options.metric, "relationships": "vrd"}.get(options.task, "challenge"),
        metric_name=options.metric_name, official=options.official, split=options.split, release="", lake="",
        predictions=read.file, predictions_form=read.form, iou_threshold=options.iou_threshold,
        expand_predictions=options.expand_predictions, map=None, classes_evaluated=classes,
        classes_with_ground_truth=0, images_with_ground_truth=0,
        counts={"rows_read": read.rows_read, "predictions": read.rows_written, "rows_rejected": read.rows_rejected},
        rejected=dict(sorted(read.rejected.items())),
    )  # fmt: skip


def score_detection(
    con: duckdb.DuckDBPyConnection, staged: str, options: EvalOptions, summary: EvalSummary, work: Path
) -> EvalSummary:
    """Match, score and count; the PR curves go to ``work/pr_curves.parquet``, the rest stays in tables."""
    ground_truth.stage_boxes(con, options.split)
    ground_truth.stage_labels(con, options.split)
    images = int(con.execute("select count(*) from eval_images").fetchall()[0][0])
    if images == 0:
        raise EvaluationError(
            f"the lake has no ground truth for split {options.split!r}: no boxes and no human-verified labels",
            hint="pass --split with a split the lake was built with (`oilake releases` shows its files)",
        )
    detection.stage_predictions(con, staged, options.expand_predictions)
    weight = options.group_weight
    detection.match(con, options.metric, options.iou_threshold, weight)
    con.execute(
        f"""
        create or replace temp table eval_instances as
        with

        final as (
            select
                label_mid,
                count(*) filter (where not is_group_of) + {weight!r} * count(*) filter (where is_group_of)
                    as gt_instances,
                count(*) filter (where is_group_of) as gt_group_of,
                count(distinct image_id) as gt_images
            from eval_gt
            group by label_mid
        )

        select * from final
        """
    )
    summarize(con, summary, work, images)
    summary.counts["duplicate_predictions"] = int(con.execute(
        "select count(*) - count(distinct (image_id, label_mid, score, x_min, x_max, y_min, y_max)) from eval_pred"
        " where label_mid = original_label_mid"
    ).fetchall()[0][0])  # fmt: skip
    summary.counts["out_of_range_boxes"] = int(con.execute(
        "select count(*) from eval_pred where label_mid = original_label_mid and not ("
        "x_min between 0 and 1 and x_max between 0 and 1 and y_min between 0 and 1 and y_max between 0 and 1)"
    ).fetchall()[0][0])  # fmt: skip
    if summary.counts["out_of_range_boxes"]:
        summary.warnings.append(
            f"{summary.counts['out_of_range_boxes']:,} predicted boxes reach outside [0, 1]; "
            "they are evaluated as given, as the reference does"
        )
    if summary.counts["duplicate_predictions"]:
        summary.warnings.append(
            f"{summary.counts['duplicate_predictions']:,} predictions repeat another one exactly; each is evaluated "
            "(at most one can be a TP), as the reference does"
        )
    _no_predictions(summary)
    return summary


def score_segmentation(
    con: duckdb.DuckDBPyConnection, staged: str, options: EvalOptions, summary: EvalSummary, work: Path
) -> EvalSummary:
    """Mask matching (``segmentation``), then the detection metric's AP, per-class table and counts."""
    images, masks = segmentation.evaluate_ground_truth(con, options.split)
    segmentation.stage_predictions(con, staged)
    segmentation.match(con, options, work)
    segmentation.instances(con, options.group_weight)
    summarize(con, summary, work, images)
    (boxes_only,), = con.execute("select count(*) from eval_seg_gt where not has_mask").fetchall()  # fmt: skip
    summary.counts["gt_masks"] = masks
    summary.counts["gt_boxes_without_mask"] = int(boxes_only)
    _no_predictions(summary)
    return summary


def _no_predictions(summary: EvalSummary) -> None:
    if summary.counts["predictions"] == 0:
        summary.warnings.append("the predictions file holds no prediction: every AP is 0")


def summarize(con: duckdb.DuckDBPyConnection, summary: EvalSummary, work: Path, images: int) -> None:
    """From ``eval_judged`` and ``eval_instances``: PR curves (``work/pr_curves.parquet``), AP, per class, counts."""
    entries = "select label_mid, score, tp_weight as tp from eval_judged where outcome in ('tp', 'fp')"
    average_precision.stage_curves(con, entries, "select * from eval_instances", work / "pr_curves.parquet", "eval")
    con.execute(
        """
        create or replace temp table eval_per_class as
        with

        counted as (
            select
                label_mid,
                count(*) as predictions,
                count(*) filter (where outcome = 'tp') as tp,
                count(*) filter (where outcome = 'fp') as fp,
                count(*) filter (where outcome = 'ignored') as ignored
            from eval_judged
            group by label_mid
        ),

        final as (
            select
                c.label_mid,
                c.label_name,
                ap.ap,
                coalesce(n.gt_instances, 0) as gt_instances,
                coalesce(n.gt_group_of, 0) as gt_group_of,
                coalesce(n.gt_images, 0) as gt_images,
                coalesce(m.predictions, 0) as predictions,
                coalesce(m.tp, 0) as tp,
                coalesce(m.fp, 0) as fp,
                coalesce(m.ignored, 0) as ignored
            from eval_classes as c
            left join eval_instances as n on n.label_mid = c.label_mid
            left join eval_ap as ap on ap.label_mid = c.label_mid
            left join counted as m on m.label_mid = c.label_mid
        )

        select * from final
        """
    )
    (mean_ap, with_gt), = con.execute("select avg(ap), count(ap) from eval_per_class").fetchall()  # fmt: skip
    summary.map = None if mean_ap is None else float(mean_ap)
    summary.metrics = {"map": summary.map}
    summary.classes_with_ground_truth = int(with_gt)
    summary.images_with_ground_truth = images
    outcomes = dict(con.execute("select outcome, count(*) from eval_judged group by 1 order by 1").fetchall())
    summary.counts.update({k: int(outcomes.get(k, 0)) for k in ("tp", "fp", "ignored")})
    summary.counts["gt_instances"] = int(con.execute("select coalesce(sum(gt_instances), 0) from eval_instances")
                                         .fetchall()[0][0])  # fmt: skip
    summary.ignored = dict(con.execute(
        "select reason, count(*) from eval_judged where outcome = 'ignored' group by 1 order by 2 desc, 1"
    ).fetchall())  # fmt: skip
    unknown = [r[0] for r in con.execute(
        "select distinct label_mid from eval_flagged where flag = 1 order by 1 limit 10"
    ).fetchall()]  # fmt: skip
    if unknown:
        summary.warnings.append(f"predictions of classes the lake does not evaluate (ignored): {', '.join(unknown)}")


def _write_outputs(con: duckdb.DuckDBPyConnection, work: Path, matches: str, name: str) -> None:
    schemas = output_schemas("evaluation")
    queries = {"per_class": "select * from eval_per_class order by label_mid", name: matches}
    for name, query in queries.items():
        write_batches(work / f"{name}.parquet", schemas[name], con.sql(query).to_arrow_reader(ROWS_PER_BATCH))
