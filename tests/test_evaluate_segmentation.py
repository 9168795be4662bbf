"""Instance-segmentation evaluation: mask decoding, overlaps on runs, the official cases, a differential test, the command.

The official cases (tests/data/official_eval_cases.json, ``segmentation_cases``, transcribed from
tensorflow/models) and the plain per-image port (tests/tools/oi_reference.py, ``evaluate_segmentation``)
share no code with pipeline/evaluate; pycocotools (a dev dependency) is the RLE oracle.
"""

from __future__ import annotations

import io
import json
import math
import random
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pycocotools import mask as coco

from pipeline.core.schema import output_schemas
from pipeline.evaluate import EvalOptions, evaluate, ground_truth, mask_codec, mask_overlap
from pipeline.evaluate.predictions import ReadReport, stage_predictions, staged_schema
from pipeline.evaluate.run import new_summary, score_segmentation
from pipeline.evaluate.segmentation import MATCHES
from tests.conftest import BOX_HEADER, LABEL_HEADER, VAL_BOXES, VAL_LABELS, build
from tests.tools import oi_reference as ref

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

CASES = {
    c["name"]: c
    for c in json.loads((Path(__file__).parent / "data" / "official_eval_cases.json").read_text())["segmentation_cases"]
}
SPLIT = "validation"
HEADER = "ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask"


def counts_string(mask: np.ndarray) -> str:
    """pycocotools' compressed counts of ``mask``."""
    return coco.encode(np.asfortranarray(np.asarray(mask, np.uint8)))["counts"].decode("ascii")


# -- decoding predicted masks ---------------------------------------------------------------------------------


def _random_masks(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.random() * 0.4
        if i % 7 == 0:
            mask[:] = False
        if i % 11 == 0:
            mask[:] = True
        if i % 17 == 0:  # long runs over whole columns: counts of several 5-bit groups
            mask = np.zeros((1200, 1600), bool)
            mask[3:1190, 10:1500] = True
        masks.append(mask)
    return masks


def test_batch_decoding_equals_pycocotools() -> None:
    masks = _random_masks(1, 300)
    texts = [counts_string(m).encode() for m in masks]
    heights, widths = np.array([m.shape[0] for m in masks]), np.array([m.shape[1] for m in masks])
    batch = mask_codec.decode_batch(texts, heights, widths)
    assert batch.reasons == [None] * len(masks)
    for i, mask in enumerate(masks):
        rle = {"size": list(mask.shape), "counts": texts[i]}
        assert np.array_equal(mask_overlap_decode(batch.counts_of(i), *mask.shape), coco.decode(rle).astype(bool))
        assert batch.area[i] == coco.area(rle)
        assert list(batch.box[i]) == list(ref.to_normalized_box(mask))
    assert [t.encode() for t in mask_codec.to_strings(batch)] == texts  # type: ignore[union-attr]


def mask_overlap_decode(counts: np.ndarray, height: int, width: int) -> np.ndarray:
    values = (np.arange(counts.size) % 2).astype(bool)
    return np.repeat(values, counts.astype(np.int64)).reshape(width, height).T


def test_refused_masks_have_reasons() -> None:
    good = counts_string(np.eye(3, dtype=np.uint8))
    texts = [b"", b"\x7f0", good[:-1].encode() + b"`", good.encode(), b"P" * 13 + b"0", b"52"]
    batch = mask_codec.decode_batch(texts, np.array([3, 3, 3, 4, 3, 3]), np.array([3, 3, 3, 3, 3, 3]))
    assert batch.reasons == [
        "no counts", "not a COCO RLE counts string", "not a COCO RLE counts string",
        "RLE counts cover 9 pixels, not 3 x 4", "not a COCO RLE counts string", "RLE counts cover 7 pixels, not 3 x 3",
    ]  # fmt: skip
    texts, reasons = mask_codec.unpack_official([mask_codec.pack_official(good), "not base64!", "aGVsbG8="])
    assert texts[0] == good.encode() and reasons == [None, "not base64 text", "not zlib-compressed data"]


def test_official_mask_to_normalized_box_and_decoding() -> None:
    """oid_challenge_evaluation_utils_test: testMaskToNormalizedBox, testDecodeToTensors."""
    case = CASES["mask_to_normalized_box"]
    masks = [np.array(m, np.uint8) for m in case["input"]["masks"]]
    batch = mask_codec.decode_batch([counts_string(m).encode() for m in masks], *_sizes(masks))
    assert batch.box.tolist() == case["expected"]["boxes"]
    case = CASES["decode_masks_to_tensors"]
    masks = [np.array(m, np.uint8) for m in case["input"]["masks"]]
    texts, reasons = mask_codec.unpack_official([ref.encode_official_mask(m) for m in masks])
    batch = mask_codec.decode_batch(texts, *_sizes(masks))
    assert reasons == [None, None] and batch.box.tolist() == case["expected"]["boxes"]
    for i, mask in enumerate(masks):
        assert np.array_equal(mask_overlap_decode(batch.counts_of(i), *mask.shape), mask.astype(bool))


def _sizes(masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([m.shape[0] for m in masks]), np.array([m.shape[1] for m in masks])


def test_official_csv_mask_predictions(tmp_path: Path) -> None:
    """testBuildPredictionDictionaryMasks: the official CSV row gives the class, score and the mask's box."""
    case = CASES["csv_predictions_masks"]
    masks = [np.array(m, np.uint8) for m in case["input"]["masks"]]
    lines = [",".join(case["input"]["columns"])]
    for image, width, height, label, mask, score in case["input"]["rows"]:
        lines.append(f"{image},{width},{height},{label},{ref.encode_official_mask(masks[mask])},{score}")
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    report = stage_predictions(str(tmp_path / "p.csv"), "segmentation", tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert (report.form, report.rows_read, report.rows_written) == ("official", 2, 2)
    staged = pl.read_parquet(tmp_path / "s.parquet")
    assert staged["label_mid"].to_list() == case["expected"]["labels"]
    assert staged["score"].to_list() == case["expected"]["scores"]
    assert staged.select("y_min", "x_min", "y_max", "x_max").rows() == [tuple(b) for b in case["expected"]["boxes"]]
    assert staged["area"].to_list() == [4, 0] and staged["rle_counts"].to_list() == [counts_string(m) for m in masks]


# -- a prediction brought to a mask's grid --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_runs_on_another_grid_equal_the_resampled_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(300):
        h, w, height, width = (int(v) for v in rng.integers(1, 30, 4))
        mask = rng.random((h, w)) < rng.random()
        if trial % 4 == 0:
            mask[:, int(rng.integers(0, w))] = True  # runs over column ends
        starts, ends = _runs(mask)
        on = mask_overlap.on_grid(starts, ends, h, w, height, width)
        expected = ref.resample_nearest(mask, height, width)
        pixels = np.zeros(height * width, bool)
        for a, b in zip(*on, strict=True):
            assert not pixels[a:b].any()
            pixels[a:b] = True
        assert np.array_equal(pixels.reshape(width, height).T, expected)
        other = rng.random((height, width)) < 0.5
        index = mask_overlap.RunIndex.of(*_runs(other))
        assert index.intersection(*on) == int((other & expected).sum()) and index.area == int(other.sum())


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch = mask_codec.decode_batch(
        [counts_string(mask).encode()], np.array([mask.shape[0]]), np.array([mask.shape[1]])
    )
    return mask_overlap.runs(batch.counts)


def test_nearest_grid_rule() -> None:
    """A mask pixel reads the prediction pixel its centre falls in; equal sizes are the identity."""
    assert mask_overlap.source_index(5, 2, 5).tolist() == [0, 0, 1, 1, 1]
    assert mask_overlap.source_index(2, 5, 2).tolist() == [1, 3]
    assert mask_overlap.source_index(4, 4, 4).tolist() == [0, 1, 2, 3]


# -- a catalog holding only what the evaluation reads ---------------------------------------------------------


def catalog(classes: list[str], gt: dict[str, Any], ancestors: dict[str, list[str]] | None = None
            ) -> duckdb.DuckDBPyConnection:  # fmt: skip
    """An in-memory connection with the tables the evaluation reads, from reference-style ground truth.

    Boxes ``[y_min, x_min, y_max, x_max]``; ``masks`` one per box, None for a box without one (an
    all-zero mask is a mask row whose PNG has no set pixel). ``ancestors``: class -> its ancestors.
    """
    con = duckdb.connect()
    con.execute(
        "create table classes (label_mid varchar, display_name varchar, is_boxable boolean, is_hierarchy_root boolean)"
    )
    every = sorted({*classes, *(a for v in (ancestors or {}).values() for a in v)})
    for c in every:
        con.execute("insert into classes values (?, ?, true, false)", [c, f"name of {c}"])
    con.execute("create table class_ancestors (label_mid varchar, ancestor_mid varchar, distance integer)")
    for c, above in (ancestors or {}).items():
        for k, a in enumerate(above):
            con.execute("insert into class_ancestors values (?, ?, ?)", [c, a, k + 1])
    con.execute(
        "create table boxes (split varchar, image_id varchar, label_mid varchar, x_min float, x_max float, "
        "y_min float, y_max float, is_group_of boolean)"
    )
    con.execute(
        "create table image_labels (split varchar, image_id varchar, source varchar, label_mid varchar, confidence float)"
    )
    con.execute(
        "create table masks (split varchar, image_id varchar, mask_path varchar, label_mid varchar, box_id varchar, "
        "box_x_min float, box_x_max float, box_y_min float, box_y_max float)"
    )
    con.execute(
        "create table mask_pixels (split varchar, mask_path varchar, mask_width integer, mask_height integer, "
        "area bigint, rle_counts varchar)"
    )
    for image, g in gt.items():
        group = list(g.get("is_group_of") or [False] * len(g["labels"]))
        for k, ((y0, x0, y1, x1), label, is_group, mask) in enumerate(
            zip(g["boxes"], g["labels"], group, g["masks"], strict=True)
        ):
            con.execute(
                "insert into boxes values (?, ?, ?, ?, ?, ?, ?, ?)", [SPLIT, image, label, x0, x1, y0, y1, is_group]
            )
            if mask is None:
                continue
            mask = np.asarray(mask, np.uint8)
            path = f"{image}_{label.replace('/', '')}_{k:08x}.png"
            con.execute(
                "insert into masks values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [SPLIT, image, path, label, f"{k:08x}", x0, x1, y0, y1],
            )
            con.execute(
                "insert into mask_pixels values (?, ?, ?, ?, ?, ?)",
                [SPLIT, path, mask.shape[1], mask.shape[0], int(mask.sum()), counts_string(mask)],
            )
        for label in g.get("verified_labels", []):
            confidence = 1.0 if label in g["labels"] else 0.0
            con.execute(
                "insert into image_labels values (?, ?, 'verification', ?, ?)", [SPLIT, image, label, confidence]
            )
    return con


def stage(tmp_path: Path, detections: dict[str, Any]) -> str:
    """Predictions as the reader stages them, with the given boxes (the reference's tests give boxes and masks)."""
    rows = []
    for image, d in detections.items():
        for box, score, label, mask in zip(d["boxes"], d["scores"], d["labels"], d["masks"], strict=True):
            mask = np.asarray(mask, np.uint8)
            rows.append({
                "line": len(rows) + 2, "item": None, "image_id": image, "label_mid": label, "score": score,
                "image_width": mask.shape[1], "image_height": mask.shape[0], "area": int(mask.sum()),
                "y_min": box[0], "x_min": box[1], "y_max": box[2], "x_max": box[3], "rle_counts": counts_string(mask),
            })  # fmt: skip
    path = tmp_path / "staged-segmentation.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=staged_schema("segmentation")), path)
    return str(path)


def run_segmentation(con: duckdb.DuckDBPyConnection, staged: str, options: EvalOptions
                     ) -> tuple[dict[str, float | None], float | None]:  # fmt: skip
    ground_truth.stage_classes(con)
    summary = score_segmentation(
        con, staged, options, new_summary(options, ReadReport("test", "official"), 0), Path(staged).parent
    )
    return dict(con.execute("select label_mid, ap from eval_per_class").fetchall()), summary.map


def segmentation_options(**kwargs: Any) -> EvalOptions:
    return EvalOptions(task="segmentation", **kwargs)


# -- the official cases ---------------------------------------------------------------------------------------


def test_official_instance_segmentation_evaluator(tmp_path: Path) -> None:
    """OpenImagesChallengeEvaluatorTest.test_returns_correct_instance_segm_metric_values: dog 1, cat 0, mAP 0.5."""
    case = CASES["instance_segmentation_challenge_evaluator"]
    gt = {
        image: {**g, "masks": [m if np.any(m) else None for m in g["masks"]]}
        for image, g in case["input"]["groundtruth"].items()
    }
    con = catalog(case["params"]["classes"], gt)
    ap, mean_ap = run_segmentation(con, stage(tmp_path, case["input"]["detections"]), segmentation_options())
    assert ap == pytest.approx(case["expected"]["average_precision"], abs=1e-12)
    assert mean_ap == pytest.approx(case["expected"]["mean_ap"], abs=1e-12)
    outcomes = dict(con.execute(f"select label_mid || '@' || image_id, reason from ({MATCHES})").fetchall())
    assert outcomes == {
        "cat@img1": "inside a group-of box without a mask (box IoA >= 0.5): an ignore region",
        "dog@img1": "takes a box without a mask (box IoU >= 0.5): an ignore region",
        "dog@img3": "takes the mask it overlaps most (mask IoU >= 0.5)",
    }
    assert dict(con.execute("select label_mid, gt_instances from eval_instances").fetchall()) == {"cat": 1, "dog": 1}


SINGLE_CLASS = sorted(n for n, c in CASES.items() if c["kind"] == "mask_tp_fp_single_class")


@pytest.mark.parametrize("name", SINGLE_CLASS)
def test_official_single_class_mask_tp_fp(tmp_path: Path, name: str) -> None:
    """per_image_evaluation_test, mask mode: the scores and TP/FP labels of one class on one image."""
    case = CASES[name]
    data, params = case["input"], case["params"]
    gt = {"img": {"boxes": data["groundtruth_boxes"], "labels": ["c"] * len(data["groundtruth_boxes"]),
                  "is_group_of": data["groundtruth_is_group_of"], "verified_labels": ["c"],
                  "masks": data["groundtruth_masks"]}}  # fmt: skip
    dets = {"img": {"boxes": data["detected_boxes"], "scores": data["detected_scores"],
                    "labels": ["c"] * len(data["detected_scores"]), "masks": data["detected_masks"]}}  # fmt: skip
    con = catalog(["c"], gt)
    options = segmentation_options(iou_threshold=params["matching_iou_threshold"],
                                   group_of_weight=params["group_of_weight"])  # fmt: skip
    run_segmentation(con, stage(tmp_path, dets), options)
    entries = con.execute(
        "select score, tp_weight from eval_judged where outcome in ('tp', 'fp') order by score desc"
    ).fetchall()
    expected = sorted(
        zip(case["expected"]["scores"], case["expected"]["tp_fp_labels"], strict=True), key=lambda e: -e[0]
    )
    assert [(pytest.approx(s), float(t)) for s, t in expected] == [(s, t) for s, t in entries]


# -- differential: random cases against the plain per-image port ----------------------------------------------


def _blob(rng: random.Random, height: int, width: int) -> np.ndarray:
    """An ellipse, maybe with a hole or a second part, somewhere on a ``height x width`` grid."""
    yy, xx = np.mgrid[:height, :width]
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    ry, rx = rng.uniform(1, height / 2), rng.uniform(1, width / 2)
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    if rng.random() < 0.2:
        mask &= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 > 0.2
    if rng.random() < 0.2:
        mask[rng.randrange(height) :, rng.randrange(width) :] ^= True
    return mask.astype(np.uint8)


def _near(rng: random.Random, mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """``mask`` brought to ``height x width`` and shifted by a pixel or two: a prediction of it."""
    moved = ref.resample_nearest(mask, height, width)
    return np.roll(moved, (rng.randint(-2, 2), rng.randint(-2, 2)), axis=(0, 1))


def _box_of(mask: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in ref.to_normalized_box(mask)]


def random_segmentation_case(seed: int) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """Images at their own size with masks on another grid (or the same), boxes without masks, group-of, labels."""
    rng = random.Random(seed)
    classes = [f"/m/c{i}" for i in range(4)]
    scores = iter(rng.sample(range(1, 10**6), 3000))
    gt, dets = {}, {}
    for i in range(rng.randint(3, 8)):
        image = f"{i:016x}"
        height, width = rng.randint(6, 24), rng.randint(6, 24)
        grid = (height, width) if rng.random() < 0.4 else (rng.randint(6, 36), rng.randint(6, 36))
        boxes, labels, group, masks = [], [], [], []
        for _ in range(rng.randint(0, 6)):
            label = rng.choice(classes[:3])
            kind = rng.random()
            if kind < 0.6:  # a mask (sometimes on a group-of box)
                mask = _blob(rng, *grid)
                if not mask.any():
                    continue
                boxes.append(_box_of(mask))
                masks.append(mask)
                group.append(rng.random() < 0.15)
            else:  # a box without a mask: an ignore region
                y0, x0 = round(rng.uniform(0, 0.6), 6), round(rng.uniform(0, 0.6), 6)
                boxes.append([y0, x0, round(y0 + rng.uniform(0.1, 0.4), 6), round(x0 + rng.uniform(0.1, 0.4), 6)])
                masks.append(None)
                group.append(rng.random() < 0.4)
            labels.append(label)
        verified = sorted(set(labels) | set(rng.sample(classes, 2)))
        gt[image] = {
            "boxes": boxes,
            "labels": labels,
            "is_group_of": group,
            "masks": masks,
            "verified_labels": verified,
        }
        d_masks, d_scores, d_labels = [], [], []
        for box, label, mask in zip(boxes, labels, masks, strict=True):
            for _ in range(rng.randint(0, 3)):
                if mask is not None:
                    d_masks.append(_near(rng, mask, height, width))
                else:  # a mask inside (or around) a box without one
                    y0, x0, y1, x1 = box
                    m = np.zeros((height, width), np.uint8)
                    m[int(y0 * height) : max(int(y0 * height) + 1, int(y1 * height)),
                      int(x0 * width) : max(int(x0 * width) + 1, int(x1 * width))] = 1  # fmt: skip
                    d_masks.append(np.roll(m, rng.randint(-1, 1), axis=1))
                d_scores.append(next(scores) / 10**6)
                d_labels.append(label)
        for _ in range(rng.randint(0, 5)):  # false positives, also of unverified classes, and empty masks
            d_masks.append(_blob(rng, height, width) if rng.random() < 0.85 else np.zeros((height, width), np.uint8))
            d_scores.append(next(scores) / 10**6)
            d_labels.append(rng.choice(classes))
        dets[image] = {"masks": d_masks, "scores": d_scores, "labels": d_labels}
    return classes, gt, dets


def _ordered_gt(g: dict[str, Any]) -> list[int]:
    """The ground truth's positions in the evaluation's gt_id order (class, x_min, y_min, x_max, y_max, group-of)."""
    keys = [
        (lab, b[1], b[0], b[3], b[2], grp)
        for b, lab, grp in zip(g["boxes"], g["labels"], g["is_group_of"], strict=True)
    ]
    return sorted(range(len(keys)), key=lambda k: keys[k])


def reference_segmentation(classes: list[str], gt: dict[str, Any], dets: dict[str, Any]) -> ref.DetectionMetrics:
    truth = {}
    for image, g in gt.items():
        order = _ordered_gt(g)
        truth[image] = ref.SegGroundTruth(
            boxes=np.array([g["boxes"][k] for k in order], dtype=float).reshape(-1, 4),
            labels=[g["labels"][k] for k in order],
            masks=[g["masks"][k] for k in order],
            is_group_of=np.array([g["is_group_of"][k] for k in order], dtype=bool),
            verified_labels=g["verified_labels"],
        )
    found = {image: ref.SegDetections(masks=d["masks"], scores=np.array(d["scores"]), labels=d["labels"])
             for image, d in dets.items()}  # fmt: skip
    return ref.evaluate_segmentation(truth, found, classes)


def official_csv(path: Path, dets: dict[str, Any]) -> Path:
    lines = [HEADER]
    for image, d in dets.items():
        for mask, score, label in zip(d["masks"], d["scores"], d["labels"], strict=True):
            lines.append(f"{image},{mask.shape[1]},{mask.shape[0]},{label},{score},{ref.encode_official_mask(mask)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("seed", range(16))
def test_segmentation_equals_per_image_reference(tmp_path: Path, seed: int) -> None:
    classes, gt, dets = random_segmentation_case(seed)
    expected = reference_segmentation(classes, gt, dets)
    con = catalog(classes, gt)
    csv = official_csv(tmp_path / "p.csv", dets)
    stage_predictions(str(csv), "segmentation", tmp_path / "staged.parquet", tmp_path / "rejects.parquet")
    ap, mean_ap = run_segmentation(con, str(tmp_path / "staged.parquet"), segmentation_options())
    for label in classes:
        want = expected.average_precision[label]
        if math.isnan(want):
            assert ap[label] is None, label
        else:
            assert ap[label] == pytest.approx(want, abs=1e-9), label
    if math.isnan(expected.mean_ap):
        assert mean_ap is None
    else:
        assert mean_ap == pytest.approx(expected.mean_ap, abs=1e-9)
    instances = dict(con.execute("select label_mid, gt_instances from eval_instances").fetchall())
    assert {k: v for k, v in expected.num_gt_instances.items() if v} == {k: v for k, v in instances.items() if v}
    entries = sorted(con.execute("select score, tp_weight from eval_judged where outcome in ('tp', 'fp')").fetchall())
    theirs = sorted(
        (float(s), float(t))
        for c in classes for ss, tt in zip(expected.scores_per_class[c], expected.tp_fp_labels_per_class[c], strict=True)
        for s, t in zip(ss, tt, strict=True)
    )  # fmt: skip
    assert entries == theirs


def test_chunks_and_worker_processes_give_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks of whole images, read a few rows at a time, judged in worker processes: the reference's APs."""
    from pipeline.evaluate import segmentation

    classes, gt, dets = random_segmentation_case(4)
    expected = reference_segmentation(classes, gt, dets)
    monkeypatch.setattr(segmentation, "PARALLEL_FROM", 0)
    monkeypatch.setattr(segmentation, "CHUNK_ROWS", 3)
    monkeypatch.setattr(segmentation, "READ_ROWS", 2)
    con = catalog(classes, gt)
    csv = official_csv(tmp_path / "p.csv", dets)
    stage_predictions(str(csv), "segmentation", tmp_path / "staged.parquet", tmp_path / "rejects.parquet")
    ap, mean_ap = run_segmentation(con, str(tmp_path / "staged.parquet"), segmentation_options())
    assert mean_ap == pytest.approx(expected.mean_ap, abs=1e-9)
    assert {k: v for k, v in ap.items() if v is not None} == pytest.approx(
        {k: v for k, v in expected.average_precision.items() if not math.isnan(v)}, abs=1e-9
    )


def test_differential_cases_cover_every_path(tmp_path: Path) -> None:
    """The random cases reach each outcome: a differential test that never met an ignore region proves little."""
    reasons: set[str] = set()
    grids = 0
    for seed in range(16):
        classes, gt, dets = random_segmentation_case(seed)
        con = catalog(classes, gt)
        csv = official_csv(tmp_path / f"p{seed}.csv", dets)
        stage_predictions(str(csv), "segmentation", tmp_path / f"s{seed}.parquet", tmp_path / f"r{seed}.parquet")
        run_segmentation(con, str(tmp_path / f"s{seed}.parquet"), segmentation_options())
        reasons |= {r for (r,) in con.execute("select distinct reason from eval_judged").fetchall()}
        grids += con.execute(
            "select count(*) from eval_judged j join eval_pred p using (pred_id) join eval_seg_gt g using (gt_id) "
            "where g.has_mask and (g.mask_width <> p.image_width or g.mask_height <> p.image_height)"
        ).fetchall()[0][0]
    assert grids > 50
    assert {
        "takes the mask it overlaps most (mask IoU >= 0.5)",
        "takes a box without a mask (box IoU >= 0.5): an ignore region",
        "inside a group-of box without a mask (box IoA >= 0.5): an ignore region",
        "group-of mask: its highest-scoring prediction counts once",
        "best mask overlaps less than mask IoU 0.5",
        "empty mask (no pixel set)",
        "class neither verified nor boxed on the image",
        "no box or mask of the class on the image (verified absent)",
    } <= reasons, reasons


def test_result_does_not_depend_on_input_order(tmp_path: Path) -> None:
    classes, gt, dets = random_segmentation_case(5)
    results = []
    for order in range(3):
        rows = [(image, i) for image, d in dets.items() for i in range(len(d["scores"]))]
        random.Random(order).shuffle(rows)
        lines = [HEADER]
        for image, i in rows:
            mask = dets[image]["masks"][i]
            score = 0.5 if i % 3 == 0 else dets[image]["scores"][i]  # many equal scores
            lines.append(f"{image},{mask.shape[1]},{mask.shape[0]},{dets[image]['labels'][i]},{score},"
                         f"{ref.encode_official_mask(mask)}")  # fmt: skip
        (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
        stage_predictions(str(tmp_path / "p.csv"), "segmentation", tmp_path / "s.parquet", tmp_path / "r.parquet")
        con = catalog(classes, gt)
        ap, _ = run_segmentation(con, str(tmp_path / "s.parquet"), segmentation_options())
        matched = con.execute(
            f"select image_id, label_mid, score, x_min, y_min, area, outcome, reason, gt_mask_path from ({MATCHES}) "
            "order by all"
        ).fetchall()
        results.append((ap, matched))
    assert results[0] == results[1] == results[2]


def test_hierarchy_expands_masks_and_boxes(tmp_path: Path) -> None:
    """A mask also counts for its class's ancestors (as the official expansion of the mask file), boxes too."""
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 1
    gt = {"img": {"boxes": [_box_of(mask), [0.0, 0.0, 0.2, 0.2]], "labels": ["/m/cat", "/m/cat"],
                  "masks": [mask, None], "verified_labels": ["/m/cat"]}}  # fmt: skip
    con = catalog(["/m/cat"], gt, ancestors={"/m/cat": ["/m/animal"]})
    dets = {"img": {"boxes": [_box_of(mask)] * 2, "scores": [0.9, 0.8], "labels": ["/m/cat", "/m/animal"],
                    "masks": [mask, mask]}}  # fmt: skip
    ap, mean_ap = run_segmentation(con, stage(tmp_path, dets), segmentation_options())
    assert ap == {"/m/animal": 1.0, "/m/cat": 1.0} and mean_ap == 1.0
    rows = con.execute("select label_mid, has_mask from eval_seg_gt order by all").fetchall()
    assert rows == [("/m/animal", False), ("/m/animal", True), ("/m/cat", False), ("/m/cat", True)]


def test_a_lake_without_mask_pixels_is_a_named_error(tmp_path: Path) -> None:
    from pipeline.core.errors import EvaluationError

    con = catalog(["c"], {"img": {"boxes": [[0.1, 0.1, 0.5, 0.5]], "labels": ["c"], "masks": [None]}})
    with pytest.raises(EvaluationError, match="no mask pixels for split 'validation'"):
        run_segmentation(con, stage(tmp_path, {}), segmentation_options())


# -- the command on a built lake ------------------------------------------------------------------------------


def png_1bit(mask: np.ndarray) -> bytes:
    """A 1-bit grayscale PNG of ``mask`` (set pixels white), filter 0 on every line."""
    height, width = mask.shape
    rows = np.packbits(mask.astype(bool), axis=1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


SEG_HEADER = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks"
CLASSES = "/m/01yrx,Cat\n/m/0bt9lr,Dog\n/m/0k4j,Car\n"


def mask_source(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A source folder: boxes, verified labels, segmentation rows and their masks zipped in ``validation-masks-<h>.zip``.

    Masks are at 40 x 30 while the images (the predictions) are 20 x 15: the grids differ by 2.
    """
    rng = random.Random(11)
    folder = tmp_path / "source"
    folder.mkdir()
    boxes, labels, segs = [], [], []
    archives: dict[str, list[tuple[str, bytes]]] = {}
    truth: dict[str, Any] = {}
    for n in range(6):
        image = f"{n:x}{n:015x}"
        masks, kinds, image_boxes = [], [], []
        for k, label in enumerate(["/m/01yrx", "/m/0bt9lr", "/m/01yrx"][: 1 + n % 3]):
            mask = np.zeros((30, 40), np.uint8)
            y, x = rng.randint(0, 14), rng.randint(0, 20)
            mask[y : y + rng.randint(6, 15), x : x + rng.randint(8, 20)] = 1
            y0, x0, y1, x1 = _box_of(mask)
            boxes.append(f"{image},xclick,{label},1,{x0},{x1},{y0},{y1},0,0,0,0,0")
            box_id = f"{n:04x}{k:04x}"
            path = f"{image}_{label[1:].replace('/', '')}_{box_id}.png"
            if k < 2:  # the third box has no mask: an ignore region
                segs.append(f"{path},{image},{label},{box_id},{x0},{x1},{y0},{y1},0.9,")
                archives.setdefault(image[0], []).append((path, png_1bit(mask)))
            masks.append(mask if k < 2 else None)
            kinds.append(label)
            image_boxes.append([y0, x0, y1, x1])
        labels.append(f"{image},verification,/m/01yrx,1")
        labels.append(f"{image},verification,/m/0k4j,0")  # verified absent
        truth[image] = (masks, kinds, image_boxes)
    (folder / VAL_BOXES).write_text(BOX_HEADER + "\n" + "\n".join(boxes) + "\n")
    (folder / VAL_LABELS).write_text(LABEL_HEADER + "\n" + "\n".join(labels) + "\n")
    (folder / "class-descriptions-boxable.csv").write_text(CLASSES)
    (folder / "validation-annotations-object-segmentation.csv").write_text(SEG_HEADER + "\n" + "\n".join(segs) + "\n")
    for digit, members in archives.items():
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
        (folder / f"validation-masks-{digit}.zip").write_bytes(out.getvalue())
    return folder, truth


def lake_predictions(path: Path, truth: dict[str, Any]) -> int:
    """At image resolution (20 x 15): each mask downsampled (a TP), a shifted copy (a FP), a Car (verified absent)."""
    lines = [HEADER]
    rng = random.Random(3)
    for image, (masks, labels, _) in truth.items():
        for mask, label in zip(masks, labels, strict=True):
            source = mask if mask is not None else np.zeros((30, 40), np.uint8)
            small = ref.resample_nearest(source, 15, 20)
            if not small.any():
                continue
            lines.append(f"{image},20,15,{label},{rng.uniform(0.5, 1):.6f},{ref.encode_official_mask(small)}")
            lines.append(f"{image},20,15,{label},{rng.uniform(0, 0.5):.6f},"
                         f"{ref.encode_official_mask(np.roll(small, 7, axis=1))}")  # fmt: skip
        lines.append(f"{image},20,15,/m/0k4j,0.7,{ref.encode_official_mask(np.eye(15, 20, dtype=np.uint8))}")
    lines.append(f"{image},20,15,/m/01yrx,0.5,not-a-mask")
    lines.append(f"{image},20,16,/m/01yrx,0.5,{ref.encode_official_mask(np.eye(15, 20, dtype=np.uint8))}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 3


@pytest.fixture(scope="module")
def mask_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("seglake")
    source, truth = mask_source(root)
    lake = root / "lake"
    build(source, lake)
    return lake, truth, root


def test_evaluate_segmentation_on_a_built_lake(mask_lake: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    lake, truth, _ = mask_lake
    predictions = lake_predictions(tmp_path / "p.csv", truth)
    summary = evaluate(lake, str(tmp_path / "p.csv"), tmp_path / "out", segmentation_options())
    out = tmp_path / "out"
    saved = json.loads((out / "summary.json").read_text())
    assert saved["task"] == "segmentation" and saved["official"] is True and saved["map"] == summary.map
    assert saved["metric_name"] == "Open Images Challenge instance segmentation mAP (mask IoU)"
    assert saved["counts"]["gt_masks"] == 10 and saved["counts"]["gt_boxes_without_mask"] == 2
    assert saved["counts"]["rows_read"] == predictions + 2 and saved["counts"]["rows_rejected"] == 2
    assert saved["rejected"] == {"Mask: RLE counts cover N pixels, not N x N": 1, "Mask: not base64 text": 1}
    schemas = output_schemas("evaluation")
    for name in ("per_class", "pr_curves", "mask_matches", "prediction_rejects"):
        assert pq.read_schema(out / f"{name}.parquet") == schemas[name].arrow, name
    assert not (out / "matches.parquet").exists()
    matches = pl.read_parquet(out / "mask_matches.parquet")
    assert matches.height == predictions
    reasons = dict(matches.group_by("reason").len().rows())
    assert reasons == {
        "takes the mask it overlaps most (mask IoU >= 0.5)": 10,
        "best mask overlaps less than mask IoU 0.5": 10,
        "no box or mask of the class on the image (verified absent)": 6,
    }
    tp = matches.filter(pl.col("outcome") == "tp")
    assert tp["iou"].min() > 0.6 and tp["gt_has_mask"].all() and tp["gt_mask_path"].null_count() == 0
    per_class = pl.read_parquet(out / "per_class.parquet")
    assert dict(per_class.filter(pl.col("ap").is_not_null()).select("label_name", "gt_instances").rows()) == {
        "Cat": 6, "Dog": 4,
    }  # fmt: skip
    assert summary.map == pytest.approx(1.0)  # every TP scores above every FP of its class


def test_lake_result_equals_the_reference(mask_lake: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    """The built lake (masks at 40 x 30, from PNGs in zips) against the port fed the same masks directly."""
    lake, truth, _ = mask_lake
    rng = random.Random(8)
    dets: dict[str, Any] = {}
    gt: dict[str, Any] = {}
    for image, (masks, labels, boxes) in truth.items():
        gt[image] = {"boxes": boxes, "labels": labels, "masks": masks, "is_group_of": [False] * len(labels),
                     "verified_labels": ["/m/01yrx", "/m/0k4j"]}  # fmt: skip
        d: dict[str, list[Any]] = {"masks": [], "scores": [], "labels": []}
        for mask, label in zip(masks, labels, strict=True):
            base = mask if mask is not None else np.zeros((30, 40), np.uint8)
            for _ in range(3):
                d["masks"].append(
                    np.roll(ref.resample_nearest(base, 15, 20), rng.randint(-3, 3), axis=rng.randint(0, 1))
                )
                d["scores"].append(rng.random())
                d["labels"].append(label)
        dets[image] = d
    expected = reference_segmentation(["/m/01yrx", "/m/0bt9lr", "/m/0k4j"], gt, dets)
    summary = evaluate(lake, str(official_csv(tmp_path / "p.csv", dets)), tmp_path / "out", segmentation_options())
    per_class = dict(pl.read_parquet(tmp_path / "out" / "per_class.parquet").select("label_mid", "ap").rows())
    for label, want in expected.average_precision.items():
        assert (per_class[label] is None) if math.isnan(want) else per_class[label] == pytest.approx(want, abs=1e-9)
    assert summary.map == pytest.approx(expected.mean_ap, abs=1e-9)


def test_prediction_forms_agree(mask_lake: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    """The official CSV, Parquet with the official Mask, with rle_counts strings and with rle_counts lists."""
    lake, truth, _ = mask_lake
    lake_predictions(tmp_path / "p.csv", truth)
    frame = pl.read_csv(tmp_path / "p.csv", infer_schema=False).head(-2)
    frame.write_csv(tmp_path / "clean.csv")
    typed = frame.with_columns(pl.col("ImageWidth", "ImageHeight").cast(pl.Int32), pl.col("Score").cast(pl.Float64))
    typed.write_parquet(tmp_path / "official.parquet")
    texts, _ = mask_codec.unpack_official(frame["Mask"].to_list())
    plain = typed.drop("Mask").rename({"ImageID": "image_id", "LabelName": "label_mid", "Score": "score",
                                       "ImageWidth": "mask_width", "ImageHeight": "mask_height"})  # fmt: skip
    plain.with_columns(rle_counts=pl.Series([t.decode() for t in texts])).write_parquet(tmp_path / "rle.parquet")
    batch = mask_codec.decode_batch(texts, typed["ImageHeight"].to_numpy(), typed["ImageWidth"].to_numpy())
    lists = [batch.counts_of(i).tolist() for i in range(len(texts))]
    plain.with_columns(rle_counts=pl.Series(lists, dtype=pl.List(pl.Int64))).write_parquet(tmp_path / "lists.parquet")
    results = {
        name: evaluate(lake, str(tmp_path / name), tmp_path / f"out-{name}", segmentation_options())
        for name in ("clean.csv", "official.parquet", "rle.parquet", "lists.parquet")
    }
    assert {n: r.predictions_form for n, r in results.items()} == {
        "clean.csv": "official", "official.parquet": "official", "rle.parquet": "rle", "lists.parquet": "rle",
    }  # fmt: skip
    assert len({r.map for r in results.values()}) == 1 and len({r.counts["tp"] for r in results.values()}) == 1


def test_the_command_scores_segmentation(mask_lake: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    lake, truth, _ = mask_lake
    lake_predictions(tmp_path / "p.csv", truth)
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", "--lake", str(lake), "--task", "segmentation", "--predictions",
                                 str(tmp_path / "p.csv"), "--output", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert result.stdout.splitlines() == [f"map\t{summary['map']:.6f}"]
    assert "instance segmentation mAP (mask IoU) on validation" in result.stderr and "2 rows rejected" in result.stderr
    bad = runner.invoke(cli, ["evaluate", "--lake", str(lake), "--task", "segmentation", "--metric", "v2",
                              "--predictions", str(tmp_path / "p.csv"), "--output", str(tmp_path / "b")])  # fmt: skip
    assert bad.exit_code != 0 and "one metric" in bad.stderr
    missing = tmp_path / "m.csv"
    missing.write_text("ImageID,LabelName,Score\n")
    bad = runner.invoke(cli, ["evaluate", "--lake", str(lake), "--task", "segmentation", "--predictions",
                              str(missing), "--output", str(tmp_path / "b")])  # fmt: skip
    assert bad.exit_code != 0 and "missing column(s) ImageWidth, ImageHeight, Mask for segmentation" in bad.stderr


def test_register_keeps_a_segmentation_run(mask_lake: tuple[Path, dict[str, Any], Path], tmp_path: Path) -> None:
    import shutil

    from pipeline.evaluate.register import register_run
    from pipeline.query.api import open_lake

    lake = tmp_path / "lake"
    shutil.copytree(mask_lake[0], lake, symlinks=True)
    lake_predictions(tmp_path / "p.csv", mask_lake[1])
    evaluate(lake, str(tmp_path / "p.csv"), tmp_path / "run", segmentation_options())
    where = register_run(lake, "seg1", tmp_path / "run")
    assert (where / "mask_matches.parquet").is_file()
    with open_lake(lake) as opened:
        assert opened.sql("select run, task, metric from evaluation_runs").rows() == [
            ("seg1", "segmentation", "challenge")
        ]
        assert opened.sql("select count(ap) from evaluation_per_class where run = 'seg1'").item() == 2
        mask_matches = pl.read_parquet(where / "mask_matches.parquet").height
        assert mask_matches > 0
        assert opened.sql("select count(*) from evaluation_mask_matches where run = 'seg1'").item() == mask_matches
