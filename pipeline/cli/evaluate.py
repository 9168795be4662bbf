"""``oilake evaluate``: score predictions against the lake's ground truth with the official metrics."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import examples, lake_option, lake_storage_option, output_dir_option, storage_option
from pipeline.evaluate.options import METRICS, TASKS  # pure data: no engine is imported


@click.command(
    "evaluate",
    epilog=examples(
        "oilake evaluate --predictions preds.csv --output eval/",
        "oilake evaluate --predictions submission.csv --metric v2 --output eval-v2/",
        "oilake evaluate --predictions s3://bucket/run7.parquet --output eval/run7 --register run7",
        "oilake evaluate --task relationships --predictions vrd.csv --split validation --output eval-vrd/",
        "oilake evaluate --task segmentation --predictions masks.csv --output eval-masks/",
    ),
)
@lake_option
@lake_storage_option
@click.option(
    "--predictions", required=True,
    help="Predictions: the official CSV (ImageID,LabelName,Score,XMin,XMax,YMin,YMax; for relationships the VRD "
    "columns; for segmentation ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask), the same columns as Parquet "
    "(segmentation: or rle_counts, the plain COCO counts), or the Kaggle form (ImageId,PredictionString); a path or "
    "URL, .gz read.",
)  # fmt: skip
@storage_option
@click.option("--split", default="validation", show_default=True, help="The split whose ground truth scores them.")
@click.option("--task", type=click.Choice(TASKS), default="detection", show_default=True, help="What is evaluated.")
@click.option(
    "--metric", type=click.Choice(METRICS), default="challenge", show_default=True,
    help="Detection: the Challenge metric, or V2 (no image-label filter, group-of boxes ignored).",
)  # fmt: skip
@click.option(
    "--expand-predictions", is_flag=True,
    help="Also count each prediction for its ancestor classes (not the official metric; the output says so).",
)  # fmt: skip
@click.option(
    "--iou-threshold", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
    help="Matching threshold (only 0.5 is the official metric).",
)  # fmt: skip
@output_dir_option("summary.json, per_class, pr_curves and matches (mask_matches) Parquet and pr_curves.html")
@click.option(
    "--register", "run_name", default=None, metavar="NAME",
    help="Also keep the results in the lake under NAME: the views evaluation_runs, evaluation_per_class, "
    "evaluation_matches compare runs in SQL (local lakes).",
)  # fmt: skip
def evaluate_command(
    lake: str, lake_storage_options: dict[str, str] | None, predictions: str,
    storage_options: dict[str, str] | None, split: str, task: str, metric: str, expand_predictions: bool,
    iou_threshold: float, output: Path, run_name: str | None,
) -> None:  # fmt: skip
    """Score PREDICTIONS against the lake's ground truth with the official Open Images metrics.

    Detection: the Open Images Challenge mAP (boxes expanded through the hierarchy, verified labels
    decide which classes count on an image, group-of boxes matched by IoA). Relationships: relationship
    and phrase detection mAP and Recall@50/100. Segmentation: the same mAP on mask IoU, against the
    masks in the lake (each on its own grid: a prediction is resampled onto it), boxes without a mask
    as ignore regions. The metrics go to stdout, the tables to --output.
    """
    from pipeline.evaluate.options import EvalOptions
    from pipeline.evaluate.register import register_run
    from pipeline.evaluate.run import evaluate

    options = EvalOptions(
        task=task,  # type: ignore[arg-type]
        metric=metric,  # type: ignore[arg-type]
        split=split,
        iou_threshold=iou_threshold,
        expand_predictions=expand_predictions,
    )
    if run_name is not None:
        from pipeline.evaluate.register import check_run_name

        check_run_name(lake, run_name)
    summary = evaluate(lake, predictions, output, options, storage_options, lake_storage_options)
    for name, value in summary.metrics.items():
        click.echo(f"{name}\t{'' if value is None else f'{value:.6f}'}")
    counts = summary.counts
    click.echo(
        f"{summary.metric_name} on {summary.split}: {summary.classes_with_ground_truth} classes with ground truth, "
        f"{counts.get('predictions', 0):,} predictions ({counts.get('tp', 0):,} tp, {counts.get('fp', 0):,} fp, "
        f"{counts.get('ignored', 0):,} ignored, {counts.get('rows_rejected', 0):,} rows rejected)"
        + ("" if summary.official else "; NOT the official metric"),
        err=True,
    )
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"written: {output}/ (summary.json, per_class.parquet, pr_curves.parquet, pr_curves.html, ...)", err=True
    )
    if run_name is not None:
        where = register_run(lake, run_name, output)
        click.echo(f"registered as {run_name!r}: {where}", err=True)
