"""Evaluation: the official test values, a differential test against a plain per-image port, the command.

The official cases (tests/data/official_eval_cases.json, transcribed from tensorflow/models with the
name of each reference test) and the plain port (tests/tools/oi_reference.py) share no code with
pipeline/evaluate. The SQL runs on a connection holding just the catalog tables it reads.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.schema import output_schemas
from pipeline.evaluate import EvalOptions, evaluate, ground_truth, relationships
from pipeline.evaluate.detection import MATCHES
from pipeline.evaluate.predictions import ReadReport, staged_schema
from pipeline.evaluate.run import new_summary, score_detection
from tests.tools import oi_reference as ref

CASES = {
    c["name"]: c for c in json.loads((Path(__file__).parent / "data" / "official_eval_cases.json").read_text())["cases"]
}
SPLIT = "validation"


# -- a catalog holding only what the evaluation reads --------------------------------------------------------


def catalog(
    classes: list[str], gt: dict[str, Any] | None = None, vrd: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the tables the evaluation reads, from reference-style inputs.

    Boxes come as ``[y_min, x_min, y_max, x_max]`` (the reference's order); no hierarchy, so the
    expanded views equal the plain tables.
    """
    con = duckdb.connect()
    con.execute(
        "create table classes (label_mid varchar, display_name varchar, is_boxable boolean, is_hierarchy_root boolean)"
    )
    for c in classes:
        con.execute("insert into classes values (?, ?, true, false)", [c, f"name of {c}"])
    con.execute("create table class_ancestors (label_mid varchar, ancestor_mid varchar, distance integer)")
    con.execute(
        "create table boxes (split varchar, image_id varchar, label_mid varchar, x_min float, x_max float, "
        "y_min float, y_max float, is_group_of boolean)"
    )
    con.execute(
        "create table image_labels (split varchar, image_id varchar, source varchar, label_mid varchar, confidence float)"
    )
    for image, g in (gt or {}).items():
        group = list(g.get("is_group_of") or [False] * len(g["labels"]))
        for (y0, x0, y1, x1), label, is_group in zip(g["boxes"], g["labels"], group, strict=True):
            con.execute(
                "insert into boxes values (?, ?, ?, ?, ?, ?, ?, ?)", [SPLIT, image, label, x0, x1, y0, y1, is_group]
            )
        for label in g.get("verified_labels", []):
            confidence = 1.0 if label in g["labels"] else 0.0
            con.execute(
                "insert into image_labels values (?, ?, 'verification', ?, ?)", [SPLIT, image, label, confidence]
            )
    con.execute("create view boxes_expanded as select *, label_mid as original_label_mid from boxes")
    con.execute("create view image_labels_expanded as select * from image_labels")
    con.execute(
        "create table relationships (split varchar, image_id varchar, label_mid_1 varchar, label_mid_2 varchar, "
        "x_min_1 float, x_max_1 float, y_min_1 float, y_max_1 float, x_min_2 float, x_max_2 float, y_min_2 float, "
        "y_max_2 float, relationship varchar)"
    )
    for image, g in (vrd or {}).items():
        for s, o, ls, lo, rel in zip(
            g["subject_boxes"], g["object_boxes"], g["subject_labels"], g["object_labels"], g["relations"], strict=True
        ):
            con.execute(
                "insert into relationships values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [SPLIT, image, ls, lo, s[1], s[3], s[0], s[2], o[1], o[3], o[0], o[2], rel],
            )
    return con


def stage(tmp_path: Path, task: str, rows: list[dict[str, Any]]) -> str:
    """Write predictions as the reader stages them (``staged_schema``); returns the file."""
    schema = staged_schema(task)
    table = pa.Table.from_pylist([{"line": i + 2, "item": None, **r} for i, r in enumerate(rows)], schema=schema)
    path = tmp_path / f"staged-{task}.parquet"
    pq.write_table(table, path)
    return str(path)


def detection_rows(detections: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "image_id": image,
            "label_mid": label,
            "score": score,
            "y_min": b[0],
            "x_min": b[1],
            "y_max": b[2],
            "x_max": b[3],
        }
        for image, d in detections.items()
        for b, score, label in zip(d["boxes"], d["scores"], d["labels"], strict=True)
    ]


def vrd_rows(detections: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for image, d in detections.items():
        for s, o, ls, lo, rel, score in zip(
            d["subject_boxes"],
            d["object_boxes"],
            d["subject_labels"],
            d["object_labels"],
            d["relations"],
            d["scores"],
            strict=True,
        ):
            rows.append({
                "image_id": image, "label_mid_1": ls, "label_mid_2": lo, "relationship": rel, "score": score,
                "y_min_1": s[0], "x_min_1": s[1], "y_max_1": s[2], "x_max_1": s[3],
                "y_min_2": o[0], "x_min_2": o[1], "y_max_2": o[2], "x_max_2": o[3],
            })  # fmt: skip
    return rows


def run_detection(
    con: duckdb.DuckDBPyConnection, staged: str, options: EvalOptions
) -> tuple[dict[str, float | None], float | None]:
    ground_truth.stage_classes(con)
    summary = score_detection(
        con, staged, options, new_summary(options, ReadReport("test", "official"), 0), Path(staged).parent
    )
    return dict(con.execute("select label_mid, ap from eval_per_class").fetchall()), summary.map


def run_vrd(con: duckdb.DuckDBPyConnection, staged: str) -> dict[str, float | None]:
    options = EvalOptions(task="relationships")
    summary = relationships.evaluate(
        con, staged, options, new_summary(options, ReadReport("test", "official"), 0), Path(staged).parent
    )
    return summary.metrics


# -- the official test cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["open_images_challenge_evaluator", "open_images_v2_evaluator"])
def test_official_detection_evaluator_values(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    params = case["params"]
    con = catalog(params["classes"], case["input"]["groundtruth"])
    staged = stage(tmp_path, "detection", detection_rows(case["input"]["detections"]))
    options = EvalOptions(metric=params["metric"], group_of_weight=params["group_of_weight"])
    ap, mean_ap = run_detection(con, staged, options)
    for label, value in case["expected"]["average_precision"].items():
        assert ap[label] == pytest.approx(value, abs=1e-7)
    assert mean_ap == pytest.approx(case["expected"]["mean_ap"], abs=1e-7)


def test_official_challenge_values_exactly(tmp_path: Path) -> None:
    """The transcribed exact fractions: dog 1/3, elephant 1/3, cat 1/7, mAP 17/63."""
    case = CASES["open_images_challenge_evaluator"]
    con = catalog(case["params"]["classes"], case["input"]["groundtruth"])
    staged = stage(tmp_path, "detection", detection_rows(case["input"]["detections"]))
    ap, mean_ap = run_detection(con, staged, EvalOptions(group_of_weight=0.5))
    assert ap == pytest.approx({"cat": 1 / 7, "dog": 1 / 3, "elephant": 1 / 3}, abs=1e-12)
    assert mean_ap == pytest.approx(17 / 63, abs=1e-12)
    # the dog detection on img2 is dropped: dog is neither verified nor boxed there
    reasons = dict(con.execute(f"select label_mid || '@' || image_id, reason from ({MATCHES})").fetchall())
    assert reasons["dog@img2"] == "class neither verified nor boxed on the image"


SINGLE_CLASS = sorted(n for n, c in CASES.items() if c["kind"] == "tp_fp_single_class" and "difficult" not in n)


@pytest.mark.parametrize("name", SINGLE_CLASS)
def test_official_single_class_tp_fp(tmp_path: Path, name: str) -> None:
    """per_image_evaluation_test: the scores and TP/FP labels of one class on one image (no difficult boxes)."""
    case = CASES[name]
    data, params = case["input"], case["params"]
    gt = {"img": {"boxes": data["groundtruth_boxes"], "labels": ["c"] * len(data["groundtruth_boxes"]),
                  "is_group_of": data["groundtruth_is_group_of"], "verified_labels": ["c"]}}  # fmt: skip
    con = catalog(["c"], gt)
    dets = {
        "img": {
            "boxes": data["detected_boxes"],
            "scores": data["detected_scores"],
            "labels": ["c"] * len(data["detected_scores"]),
        }
    }
    staged = stage(tmp_path, "detection", detection_rows(dets))
    options = EvalOptions(iou_threshold=params["matching_iou_threshold"], group_of_weight=params["group_of_weight"])
    run_detection(con, staged, options)
    entries = con.execute(
        "select score, tp_weight from eval_judged where outcome in ('tp', 'fp') order by score desc"
    ).fetchall()
    expected = sorted(
        zip(case["expected"]["scores"], case["expected"]["tp_fp_labels"], strict=True), key=lambda e: -e[0]
    )
    assert [(pytest.approx(s), float(t)) for s, t in expected] == [(s, t) for s, t in entries]


@pytest.mark.parametrize("name,mode", [("vrd_relation_evaluator", "relationship"), ("vrd_phrase_evaluator", "phrase")])
def test_official_vrd_evaluator_values(tmp_path: Path, name: str, mode: str) -> None:
    case = CASES[name]
    con = catalog([], vrd=case["input"]["groundtruth"])
    metrics = run_vrd(con, stage(tmp_path, "relationships", vrd_rows(case["input"]["detections"])))
    expected = case["expected"]
    assert metrics[f"{mode}_weighted_ap"] == pytest.approx(expected["weighted_ap"], abs=1e-12)
    assert metrics[f"{mode}_map"] == pytest.approx(expected["mean_ap"], abs=1e-12)
    assert metrics[f"{mode}_recall_at_50"] == pytest.approx(expected["recall_50"], abs=1e-12)
    assert metrics[f"{mode}_recall_at_100"] == pytest.approx(expected["recall_100"], abs=1e-12)
    per_relationship = dict(con.execute(f"select label_mid, ap from vrd_{mode}_ap").fetchall())
    assert per_relationship == pytest.approx(expected["ap_per_relationship"], abs=1e-12)


# -- differential: random cases against the plain per-image port --------------------------------------------


def _box(rng: random.Random) -> list[float]:
    """A box in the reference order, 6-digit decimals (as the published files; float32 keeps them)."""
    y0, x0 = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
    return [round(y0, 6), round(x0, 6), round(y0 + rng.uniform(0.05, 0.3), 6), round(x0 + rng.uniform(0.05, 0.3), 6)]


def _jitter(rng: random.Random, box: list[float], amount: float) -> list[float]:
    """``box`` moved by up to ``amount`` per edge, still a valid box."""
    y0, x0, y1, x1 = (min(1.0, max(0.0, v + rng.uniform(-amount, amount))) for v in box)
    y0, y1 = sorted((y0, y1))
    x0, x1 = sorted((x0, x1))
    return [round(y0, 6), round(x0, 6), round(max(y1, y0 + 0.01), 6), round(max(x1, x0 + 0.01), 6)]


def random_detection_case(seed: int) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    rng = random.Random(seed)
    classes = [f"/m/c{i}" for i in range(5)]
    scores = iter(rng.sample(range(1, 10**6), 2000))  # no ties
    gt, dets = {}, {}
    for i in range(rng.randint(3, 9)):
        image = f"{i:016x}"
        boxes, labels, group = [], [], []
        for _ in range(rng.randint(0, 6)):
            boxes.append(_box(rng))
            labels.append(rng.choice(classes[:4]))
            group.append(rng.random() < 0.25)
        verified = sorted(set(labels) | set(rng.sample(classes, 2)))  # some verified absent
        gt[image] = {"boxes": boxes, "labels": labels, "is_group_of": group, "verified_labels": verified}
        d_boxes, d_scores, d_labels = [], [], []
        for box, label in zip(boxes, labels, strict=True):
            for _ in range(rng.randint(0, 3)):  # several predictions per box, near and far
                d_boxes.append(_jitter(rng, box, rng.choice([0.01, 0.05, 0.15])))
                d_scores.append(next(scores) / 10**6)
                d_labels.append(label)
        for _ in range(rng.randint(0, 6)):  # false positives, also on unverified classes
            d_boxes.append(_box(rng))
            d_scores.append(next(scores) / 10**6)
            d_labels.append(rng.choice(classes))
        dets[image] = {"boxes": d_boxes, "scores": d_scores, "labels": d_labels}
    return classes, gt, dets


def _reference_detection(
    classes: list[str], gt: dict[str, Any], dets: dict[str, Any], metric: str
) -> ref.DetectionMetrics:
    truth = {
        image: ref.GroundTruth(boxes=np.array(g["boxes"], dtype=float).reshape(-1, 4), labels=g["labels"],
                               is_group_of=np.array(g["is_group_of"], dtype=bool), verified_labels=g["verified_labels"])
        for image, g in gt.items()
    }  # fmt: skip
    found = {
        image: ref.Detections(boxes=np.array(d["boxes"], dtype=float).reshape(-1, 4), scores=np.array(d["scores"]), labels=d["labels"])
        for image, d in dets.items()
    }  # fmt: skip
    return ref.evaluate_detections(truth, found, classes, metric=metric)


@pytest.mark.parametrize("metric", ["challenge", "v2"])
@pytest.mark.parametrize("seed", range(12))
def test_detection_equals_per_image_reference(tmp_path: Path, seed: int, metric: str) -> None:
    classes, gt, dets = random_detection_case(seed)
    expected = _reference_detection(classes, gt, dets, metric)
    con = catalog(classes, gt)
    ap, mean_ap = run_detection(con, stage(tmp_path, "detection", detection_rows(dets)), EvalOptions(metric=metric))  # type: ignore[arg-type]
    for label in classes:
        want = expected.average_precision[label]
        if math.isnan(want):
            assert ap[label] is None
        else:
            assert ap[label] == pytest.approx(want, abs=1e-9), label
    if math.isnan(expected.mean_ap):
        assert mean_ap is None
    else:
        assert mean_ap == pytest.approx(expected.mean_ap, abs=1e-9)
    instances = dict(con.execute("select label_mid, gt_instances from eval_instances").fetchall())
    assert {k: v for k, v in expected.num_gt_instances.items() if v} == pytest.approx(
        {k: v for k, v in instances.items() if v}
    )


def test_result_does_not_depend_on_input_order(tmp_path: Path) -> None:
    """Ties included: the same predictions shuffled give the same APs and the same matches."""
    classes, gt, dets = random_detection_case(3)
    rows = detection_rows(dets)
    for row in rows[::3]:
        row["score"] = 0.5  # many equal scores
    results = []
    for order in range(3):
        shuffled = rows[:]
        random.Random(order).shuffle(shuffled)
        con = catalog(classes, gt)
        ap, _ = run_detection(con, stage(tmp_path, "detection", shuffled), EvalOptions())
        matched = con.execute(
            f"select image_id, label_mid, score, x_min, y_min, outcome, reason, gt_x_min, gt_y_min from ({MATCHES}) "
            "order by all"
        ).fetchall()
        results.append((ap, matched))
    assert results[0] == results[1] == results[2]


def random_vrd_case(seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = random.Random(seed)
    labels, relations = ["/m/a", "/m/b", "/m/c", "/m/d"], ["on", "at", "holds"]
    scores = iter(rng.sample(range(1, 10**6), 5000))
    gt, dets = {}, {}
    for i in range(rng.randint(2, 6)):
        image = f"{i:016x}"
        g: dict[str, list[Any]] = {
            "subject_boxes": [],
            "object_boxes": [],
            "subject_labels": [],
            "object_labels": [],
            "relations": [],
        }
        for _ in range(rng.randint(1, 5)):
            g["subject_boxes"].append(_box(rng))
            g["object_boxes"].append(_box(rng))
            g["subject_labels"].append(rng.choice(labels))
            g["object_labels"].append(rng.choice(labels))
            g["relations"].append(rng.choice(relations))
        gt[image] = g
        d: dict[str, list[Any]] = {k: [] for k in (*g, "scores")}
        for s, o, ls, lo, rel in zip(*(g[k] for k in g), strict=True):
            for _ in range(rng.randint(0, 3)):
                d["subject_boxes"].append(_jitter(rng, s, rng.choice([0.01, 0.05, 0.2])))
                d["object_boxes"].append(_jitter(rng, o, rng.choice([0.01, 0.05, 0.2])))
                d["subject_labels"].append(ls)
                d["object_labels"].append(lo if rng.random() < 0.9 else rng.choice(labels))
                d["relations"].append(rel if rng.random() < 0.9 else rng.choice(relations))
                d["scores"].append(next(scores) / 10**6)
        dets[image] = d
    return gt, dets


@pytest.mark.parametrize("seed", range(8))
def test_vrd_equals_per_image_reference(tmp_path: Path, seed: int) -> None:
    gt, dets = random_vrd_case(seed)
    con = catalog([], vrd=gt)
    metrics = run_vrd(con, stage(tmp_path, "relationships", vrd_rows(dets)))

    def arrays(d: dict[str, Any], cls: type) -> Any:
        fields = {k: (np.array(v, dtype=float).reshape(-1, 4) if k.endswith("boxes") else v) for k, v in d.items()}
        return cls(**fields)

    truth = {
        image: arrays(g, ref.VrdGroundTruth) for image, g in gt.items()
    }  # no verified labels: see relationships.py
    found = {image: arrays(d, ref.VrdDetections) for image, d in dets.items()}
    for task, mode in (("relation", "relationship"), ("phrase", "phrase")):
        expected = ref.evaluate_vrd(truth, found, task=task)
        assert metrics[f"{mode}_map"] == pytest.approx(expected.mean_ap, abs=1e-9)
        assert metrics[f"{mode}_weighted_ap"] == pytest.approx(expected.weighted_ap, abs=1e-9)
        assert metrics[f"{mode}_recall_at_50"] == pytest.approx(expected.recall_50, abs=1e-9)
        assert metrics[f"{mode}_recall_at_100"] == pytest.approx(expected.recall_100, abs=1e-9)


# -- the command on a built lake ------------------------------------------------------------------------------


def _sample_predictions(lake: Path, path: Path) -> int:
    """Predictions on the sample lake's validation boxes: a near copy of most boxes, a far box for each."""
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    gt = con.sql(
        "select image_id, label_mid, x_min, x_max, y_min, y_max from boxes where split = 'validation' order by all"
    ).fetchall()
    rng = random.Random(0)
    rows = []
    for image, label, x0, x1, y0, y1 in gt:
        if rng.random() < 0.8:
            rows.append((image, label, round(rng.random(), 6), x0 + 0.01, x1 - 0.01, y0, y1))
        rows.append((image, label, round(rng.random() / 2, 6), 0.1, 0.9, 0.1, 0.9))
    rows.append((gt[0][0], "/m/not-a-class", 0.9, 0.1, 0.2, 0.1, 0.2))
    rows.append(("ffffffffffffffff", gt[0][1], 0.9, 0.1, 0.2, 0.1, 0.2))
    rows.append((gt[0][0], gt[0][1], 0.9, 0.3, 0.3, 0.1, 0.2))  # XMin >= XMax
    text = "ImageID,LabelName,Score,XMin,XMax,YMin,YMax\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    text += f"{gt[0][0]},{gt[0][1]},high,0.1,0.2,0.1,0.2\n{gt[0][0]},{gt[0][1]},0.5\n"
    path.write_text(text)
    return len(rows)


def test_evaluate_sample_lake_writes_every_output(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    lake, _ = sample_lake
    predictions = tmp_path / "predictions.csv"
    evaluated = _sample_predictions(lake, predictions)
    summary = evaluate(lake, str(predictions), tmp_path / "out")
    out = tmp_path / "out"
    saved = json.loads((out / "summary.json").read_text())
    assert saved["map"] == summary.map and 0 < summary.map < 1
    assert saved["official"] is True and saved["metric"] == "challenge" and saved["split"] == "validation"
    assert saved["counts"]["rows_read"] == evaluated + 2 and saved["counts"]["rows_rejected"] == 2
    assert saved["rejected"] == {"Score: not a finite number >= 0": 1, "row: expected N fields, found N": 1}
    assert saved["ignored"]["unknown class (not an evaluated class of the lake)"] == 1
    assert saved["ignored"]["image without ground truth in the split"] == 1
    assert saved["ignored"]["empty box (XMin >= XMax or YMin >= YMax)"] == 1
    schemas = output_schemas("evaluation")
    for name in ("per_class", "pr_curves", "matches", "prediction_rejects"):
        assert pq.read_schema(out / f"{name}.parquet") == schemas[name].arrow, name
    matches = pl.read_parquet(out / "matches.parquet")
    assert matches.height == evaluated
    assert matches["outcome"].value_counts().sort("outcome").rows() == [
        ("fp", saved["counts"]["fp"]), ("ignored", saved["counts"]["ignored"]), ("tp", saved["counts"]["tp"])
    ]  # fmt: skip
    per_class = pl.read_parquet(out / "per_class.parquet")
    assert per_class.filter(pl.col("ap").is_not_null()).height == saved["classes_with_ground_truth"]
    assert per_class["ap"].mean() == pytest.approx(summary.map)
    rejects = pl.read_parquet(out / "prediction_rejects.parquet")
    assert rejects.select("line", "column", "reason").rows() == [
        (evaluated + 2, "Score", "not a finite number >= 0"), (evaluated + 3, None, "expected 7 fields, found 3")
    ]  # fmt: skip
    html = (out / "pr_curves.html").read_text()
    assert "Plotly.newPlot" in html and '<script src="http' not in html and len(html) > 1_000_000  # plotly.js inlined
    assert not any(p.name.startswith(".oilake-evaluate") for p in out.iterdir())


def test_evaluate_forms_agree(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    """The same predictions as official CSV, as Parquet and in the Kaggle form give the same mAP."""
    lake, _ = sample_lake
    csv = tmp_path / "p.csv"
    _sample_predictions(lake, csv)
    frame = pl.read_csv(csv, infer_schema=False).filter(pl.col("YMax").is_not_null(), pl.col("Score") != "high")
    clean = tmp_path / "clean.csv"
    frame.write_csv(clean)
    frame.with_columns(pl.exclude("ImageID", "LabelName").cast(pl.Float64)).write_parquet(tmp_path / "p.parquet")
    kaggle = frame.group_by("ImageID", maintain_order=True).agg(
        pl.concat_str(["LabelName", "Score", "XMin", "YMin", "XMax", "YMax"], separator=" ").str.join(" ")
    )
    kaggle.rename({"ImageID": "ImageId", "LabelName": "PredictionString"}).write_csv(tmp_path / "k.csv")
    maps = {
        name: evaluate(lake, str(tmp_path / name), tmp_path / f"out-{name}").map
        for name in ("clean.csv", "p.parquet", "k.csv")
    }
    assert maps["clean.csv"] == maps["p.parquet"] == maps["k.csv"]


def test_registered_runs_compare_in_sql(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    import shutil

    from pipeline.evaluate.register import register_run
    from pipeline.query.api import open_lake

    lake = tmp_path / "lake"
    shutil.copytree(sample_lake[0], lake, symlinks=True)
    predictions = tmp_path / "p.csv"
    _sample_predictions(lake, predictions)
    for run, metric in (("challenge", "challenge"), ("v2", "v2")):
        evaluate(lake, str(predictions), tmp_path / run, EvalOptions(metric=metric))  # type: ignore[arg-type]
        register_run(lake, run, tmp_path / run)
    with open_lake(lake) as opened:
        runs = opened.sql("select run, metric, official from evaluation_runs order by run").rows()
        assert runs == [("challenge", "challenge", True), ("v2", "v2", True)]
        per_class = opened.sql(
            "select run, count(ap) as classes from evaluation_per_class group by run order by run"
        ).rows()
        only_group_of = opened.sql(
            "select count(*) from evaluation_per_class where run = 'challenge' and gt_instances > 0 "
            "and gt_instances = gt_group_of"
        ).item()
        assert only_group_of > 0  # classes whose boxes are all group-of: no AP under V2, which ignores them
        assert per_class == [("challenge", per_class[1][1] + only_group_of), ("v2", per_class[1][1])]
        ignored = opened.sql(
            "select run, count(*) from evaluation_matches where reason like 'inside a group-of box%' group by run order by run"
        ).rows()
        assert [r[0] for r in ignored] == ["challenge", "v2"] or ignored == []


def test_bad_inputs_are_named_errors(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    from pipeline.core.errors import EvaluationError, PredictionsError

    lake, _ = sample_lake
    missing = tmp_path / "missing.csv"
    missing.write_text("ImageID,LabelName,Score,XMin,XMax,YMin\n")
    with pytest.raises(PredictionsError, match=r"missing.csv: line 1: missing column\(s\) YMax for detection"):
        evaluate(lake, str(missing), tmp_path / "out")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PredictionsError, match="the file is empty"):
        evaluate(lake, str(empty), tmp_path / "out")
    header_only = tmp_path / "header.csv"
    header_only.write_text("ImageID,LabelName,Score,XMin,XMax,YMin,YMax\n")
    summary = evaluate(lake, str(header_only), tmp_path / "out")
    assert summary.map == 0.0 and "holds no prediction" in summary.warnings[-1]
    with pytest.raises(EvaluationError, match="no ground truth for split 'nosuch'"):
        evaluate(lake, str(header_only), tmp_path / "out", EvalOptions(split="nosuch"))


@pytest.mark.server
def test_remote_predictions_over_http_and_s3(
    sample_lake: tuple[Path, dict[str, object]], tmp_path: Path, file_server, s3_bucket: str
) -> None:
    from tests.servers import upload

    lake, _ = sample_lake
    folder = tmp_path / "served"
    folder.mkdir()
    _sample_predictions(lake, folder / "p.csv")
    local = evaluate(lake, str(folder / "p.csv"), tmp_path / "local").map
    server = file_server(folder)
    assert evaluate(lake, server.url + "p.csv", tmp_path / "http").map == local
    upload(folder, f"s3://{s3_bucket}/runs")
    summary = evaluate(lake, f"s3://{s3_bucket}/runs/p.csv", tmp_path / "s3")
    assert summary.map == local and summary.predictions == f"s3://{s3_bucket}/runs/p.csv"


def test_gzip_predictions_and_warnings(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    """A .gz file is read as gzip; duplicates and boxes outside [0, 1] are evaluated and counted."""
    import gzip

    lake, _ = sample_lake
    plain = tmp_path / "p.csv"
    _sample_predictions(lake, plain)
    lines = plain.read_text().splitlines()
    image, label = lines[1].split(",")[:2]
    extra = [lines[1], lines[1], f"{image},{label},0.3,-0.1,0.5,0.2,1.2"]
    packed = tmp_path / "p.csv.gz"
    packed.write_bytes(gzip.compress(("\n".join(lines + extra) + "\n").encode()))
    summary = evaluate(lake, str(packed), tmp_path / "out")
    assert summary.counts["duplicate_predictions"] == 2
    assert summary.counts["out_of_range_boxes"] == 1
    assert any("repeat another one exactly" in w for w in summary.warnings)
    assert any("outside [0, 1]" in w for w in summary.warnings)


def test_expand_predictions_is_marked_not_official(sample_lake: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    lake, _ = sample_lake
    predictions = tmp_path / "p.csv"
    evaluated = _sample_predictions(lake, predictions)
    summary = evaluate(lake, str(predictions), tmp_path / "out", EvalOptions(expand_predictions=True))
    assert summary.official is False and summary.expand_predictions is True
    matches = pl.read_parquet(tmp_path / "out" / "matches.parquet")
    own = matches.filter(pl.col("label_mid") == pl.col("original_label_mid"))
    assert own.height == evaluated  # each prediction once for its own class, plus once per ancestor
    ancestors = (
        duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
        .sql(
            "select count(*) from (select unnest($mids) as mid) as p join class_ancestors on label_mid = mid",
            params={"mids": own["original_label_mid"].to_list()},
        )
        .fetchall()[0][0]
    )
    assert matches.height - own.height == ancestors > 0
    official = evaluate(lake, str(predictions), tmp_path / "official")
    assert official.official is True and official.map != summary.map


def test_at_most_10000_predictions_per_image_and_class(tmp_path: Path) -> None:
    """The reference keeps the 10,000 highest-scoring predictions of a class on an image; the rest are ignored."""
    gt = {
        "img": {"boxes": [[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9]], "labels": ["c", "c"], "verified_labels": ["c"]}
    }
    rng = random.Random(5)
    scores = [s / 10**7 for s in rng.sample(range(1, 10**7), 10_010)]
    boxes = [_box(rng) for _ in scores]
    boxes[scores.index(min(scores))] = [0.5, 0.5, 0.9, 0.9]  # a perfect match, but beyond the limit
    dets = {"img": {"boxes": boxes, "scores": scores, "labels": ["c"] * len(scores)}}
    con = catalog(["c"], gt)
    ap, _ = run_detection(con, stage(tmp_path, "detection", detection_rows(dets)), EvalOptions())
    beyond = con.execute(
        f"select count(*), min(score) = $lowest from ({MATCHES}) where reason like 'beyond the 10,000%'",
        {"lowest": min(scores)},
    ).fetchall()[0]
    assert beyond == (10, True)
    truth = {"img": ref.GroundTruth(boxes=np.array(gt["img"]["boxes"]), labels=["c", "c"], verified_labels=["c"])}
    found = {"img": ref.Detections(boxes=np.array(boxes), scores=np.array(scores), labels=["c"] * len(scores))}
    assert ap["c"] == pytest.approx(ref.evaluate_detections(truth, found, ["c"]).average_precision["c"], abs=1e-12)


def test_verified_labels_equal_the_expanded_view(sample_lake: tuple[Path, dict[str, object]]) -> None:
    """The evaluation expands the split's human labels itself; the pairs equal image_labels_expanded's."""
    lake, _ = sample_lake
    con = duckdb.connect(str(lake / "lake.duckdb"), read_only=True)
    ground_truth.stage_classes(con)
    ground_truth.stage_boxes(con, SPLIT)
    ground_truth.stage_labels(con, SPLIT)
    ours = con.sql(
        "select image_id, label_mid, is_verified_positive, is_verified_negative from eval_labels "
        "where is_verified_positive or is_verified_negative order by all"
    ).fetchall()
    view = con.sql(
        "select image_id, label_mid, bool_or(confidence = 1), bool_or(confidence = 0) from image_labels_expanded "
        "where split = $s and source <> 'machine' and label_mid in (select label_mid from eval_classes) "
        "group by all order by all",
        params={"s": SPLIT},
    ).fetchall()
    assert ours == view and len(ours) > 100


@pytest.mark.server
def test_evaluate_a_lake_on_object_storage(
    sample_lake: tuple[Path, dict[str, object]], tmp_path: Path, s3_bucket: str
) -> None:
    """An s3:// lake is scored like a local one; registering a run there is a named error."""
    from pipeline.core.errors import EvaluationError
    from pipeline.evaluate.register import check_run_name
    from pipeline.resources import sample_dir
    from tests.conftest import build
    from tests.servers import upload

    source, lake = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/lake"
    upload(sample_dir(), source)
    build(source, lake)
    predictions = tmp_path / "p.csv"
    _sample_predictions(sample_lake[0], predictions)
    remote = evaluate(lake, str(predictions), tmp_path / "remote")
    local = evaluate(sample_lake[0], str(predictions), tmp_path / "local")
    assert remote.map == local.map and remote.counts == local.counts and remote.lake == lake
    with pytest.raises(EvaluationError, match="local lake folder"):
        check_run_name(lake, "run1")


def test_the_command_prints_metrics_and_names_bad_input(
    sample_lake: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    lake, _ = sample_lake
    predictions = tmp_path / "p.csv"
    _sample_predictions(lake, predictions)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["evaluate", "--lake", str(lake), "--predictions", str(predictions), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert result.stdout.splitlines() == [f"map\t{summary['map']:.6f}"]
    assert "Open Images Challenge detection mAP on validation" in result.stderr and "2 rows rejected" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageID,Label,Score\n")
    result = runner.invoke(
        cli, ["evaluate", "--lake", str(lake), "--predictions", str(bad), "--output", str(tmp_path / "b")]
    )
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert (
        "error: " in result.stderr
        and "missing column(s) LabelName, XMin" in result.stderr
        and "hint: " in result.stderr
    )


def test_curves_stream_classes_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Classes split over the sorted stream's batches (here 3 rows a batch) give the same APs."""
    from pipeline.evaluate import average_precision

    classes, gt, dets = random_detection_case(7)
    expected = _reference_detection(classes, gt, dets, "challenge")
    monkeypatch.setattr(average_precision, "BATCH_ROWS", 3)
    ap, mean_ap = run_detection(catalog(classes, gt), stage(tmp_path, "detection", detection_rows(dets)), EvalOptions())
    assert mean_ap == pytest.approx(expected.mean_ap, abs=1e-9)
    assert {k: v for k, v in ap.items() if v is not None} == pytest.approx(
        {k: v for k, v in expected.average_precision.items() if not math.isnan(v)}, abs=1e-9
    )


def test_a_damaged_registered_run_never_keeps_the_lake_from_opening(
    sample_lake: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    import shutil

    from pipeline.evaluate.register import register_run
    from pipeline.query.api import open_lake

    lake = tmp_path / "lake"
    shutil.copytree(sample_lake[0], lake, symlinks=True)
    predictions = tmp_path / "p.csv"
    _sample_predictions(lake, predictions)
    for run in ("good", "bad"):
        evaluate(lake, str(predictions), tmp_path / run)
        register_run(lake, run, tmp_path / run)
    (lake / "evaluations" / "bad" / "matches.parquet").write_bytes(b"not parquet")
    with open_lake(lake) as opened:
        assert opened.sql("select run from evaluation_runs").rows() == [("good",)]
        assert opened.sql("select distinct run from evaluation_matches").rows() == [("good",)]
