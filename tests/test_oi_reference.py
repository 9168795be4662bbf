"""The per-image reference port reproduces every transcribed official test value.

Cases: tests/data/official_eval_cases.json (from tensorflow/models' own tests); oracle:
tests/tools/oi_reference.py. The quirk tests at the end pin behaviour read from the reference
code that its tests do not cover.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tools import oi_reference as ref

CASES_PATH = Path(__file__).parent / "data" / "official_eval_cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_PATH.read_text())["cases"]


def by_kind(*kinds: str) -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in CASES if c["kind"] in kinds]


def exact(value: str) -> float:
    return float(Fraction(value))


def close(actual: float, literal: float, exact_value: str | None = None) -> None:
    """As the reference asserts (7 places); to 1e-12 against the exact value when known."""
    assert actual == pytest.approx(literal, abs=5e-8)
    if exact_value is not None:
        assert actual == pytest.approx(exact(exact_value), abs=1e-12)


def arrays(actual: np.ndarray, expected: list[Any], exact_values: list[Any] | None = None) -> None:
    assert np.asarray(actual).shape == np.asarray(expected, dtype=float).shape
    assert np.allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float))
    if exact_values is not None:
        want = np.array([[exact(v) for v in row] if isinstance(row, list) else exact(row) for row in exact_values])
        np.testing.assert_allclose(np.asarray(actual, dtype=float), want, rtol=0, atol=1e-12)


def test_case_file_covers_every_kind() -> None:
    kinds = {c["kind"] for c in CASES}
    assert len(CASES) == 42
    assert len({c["name"] for c in CASES}) == len(CASES)
    assert all(c["reference_test"].startswith("research/object_detection/") for c in CASES)
    assert kinds == {
        "box_op",
        "tp_fp_single_class",
        "per_image_multi_class",
        "precision_recall",
        "average_precision",
        "recall_at_k",
        "median_rank_at_k",
        "detection_evaluation",
        "vrd_tp_fp_single_tuple",
        "vrd_per_image",
        "vrd_evaluation",
        "vrd_evaluation_core",
        "csv_groundtruth",
        "csv_predictions",
        "csv_vrd_groundtruth",
        "csv_vrd_predictions",
    }


@pytest.mark.parametrize("case", by_kind("box_op"))
def test_box_ops(case: dict[str, Any]) -> None:
    dtype = np.float32 if case.get("dtype") == "float32" else float
    args = [np.array(case["input"][k], dtype=dtype) for k in ("boxes1", "boxes2") if k in case["input"]]
    actual = getattr(ref, case["op"])(*args)
    arrays(actual, case["expected"]["value"], case.get("exact", {}).get("value"))


@pytest.mark.parametrize("case", by_kind("tp_fp_single_class"))
def test_tp_fp_single_class(case: dict[str, Any]) -> None:
    inp, params = case["input"], case["params"]
    scores, labels = ref.tp_fp_single_class(
        np.array(inp["detected_boxes"], dtype=float),
        np.array(inp["detected_scores"], dtype=float),
        np.array(inp["groundtruth_boxes"], dtype=float),
        np.array(inp["groundtruth_is_difficult"], dtype=bool),
        np.array(inp["groundtruth_is_group_of"], dtype=bool),
        matching_iou_threshold=params["matching_iou_threshold"],
        group_of_weight=params["group_of_weight"],
        max_detections=params["nms_max_output_boxes"],
    )
    np.testing.assert_array_equal(scores, case["expected"]["scores"])
    np.testing.assert_array_equal(labels.astype(float), np.array(case["expected"]["tp_fp_labels"], dtype=float))


@pytest.mark.parametrize("case", by_kind("per_image_multi_class"))
def test_per_image_multi_class(case: dict[str, Any]) -> None:
    inp, params = case["input"], case["params"]
    result = ref.per_image_tp_fp(
        np.array(inp["detected_boxes"], dtype=float),
        np.array(inp["detected_scores"], dtype=float),
        inp["detected_labels"],
        np.array(inp["groundtruth_boxes"], dtype=float),
        inp["groundtruth_labels"],
        np.array(inp["groundtruth_is_difficult"], dtype=bool),
        np.array(inp["groundtruth_is_group_of"], dtype=bool),
        params["classes"],
    )
    for name in params["classes"]:
        np.testing.assert_array_equal(result[name][0], case["expected"]["scores"][name])
        np.testing.assert_array_equal(result[name][1], case["expected"]["tp_fp_labels"][name])


@pytest.mark.parametrize("case", by_kind("precision_recall"))
def test_precision_recall(case: dict[str, Any]) -> None:
    inp, expected = case["input"], case["expected"]
    labels = np.array(inp["labels"], dtype=bool if inp["labels_dtype"] == "bool" else float)
    precision, recall = ref.compute_precision_recall(np.array(inp["scores"]), labels, inp["num_gt"])
    if expected["precision"] is None:
        assert precision is None and recall is None
        assert math.isnan(ref.compute_average_precision(precision, recall))
        return
    assert precision is not None and recall is not None
    arrays(precision, expected["precision"], case["exact"]["precision"])
    arrays(recall, expected["recall"], case["exact"]["recall"])


@pytest.mark.parametrize("case", by_kind("average_precision"))
def test_average_precision(case: dict[str, Any]) -> None:
    inp = case["input"]
    ap = ref.compute_average_precision(np.array(inp["precision"]), np.array(inp["recall"]))
    assert ap == pytest.approx(case["expected"]["average_precision"], abs=1e-12)


@pytest.mark.parametrize("case", by_kind("recall_at_k", "median_rank_at_k"))
def test_recall_and_median_rank_at_k(case: dict[str, Any]) -> None:
    inp = case["input"]
    tp_fp = [np.array(t) for t in inp["tp_fp_list"]]
    if case["kind"] == "recall_at_k":
        value = ref.compute_recall_at_k(tp_fp, inp["num_gt"], inp["k"])
    else:
        value = ref.compute_median_rank_at_k(tp_fp, inp["k"])
    assert value == pytest.approx(case["expected"]["value"], abs=1e-12)


def _detection_inputs(case: dict[str, Any]) -> tuple[dict[str, ref.GroundTruth], dict[str, ref.Detections]]:
    def arr(values: Any, dtype: Any) -> np.ndarray | None:
        return None if values is None else np.array(values, dtype=dtype)

    gt = {
        image: ref.GroundTruth(
            boxes=np.array(g["boxes"], dtype=float),
            labels=g["labels"],
            is_group_of=arr(g.get("is_group_of"), bool),
            is_difficult=arr(g.get("is_difficult"), bool),
            verified_labels=g.get("verified_labels", []),
        )
        for image, g in case["input"]["groundtruth"].items()
    }
    det = {
        image: ref.Detections(np.array(d["boxes"], dtype=float), np.array(d["scores"]), d["labels"])
        for image, d in case["input"]["detections"].items()
    }
    return gt, det


@pytest.mark.parametrize("case", by_kind("detection_evaluation"))
def test_detection_evaluation(case: dict[str, Any]) -> None:
    params, expected = case["params"], case["expected"]
    gt, det = _detection_inputs(case)
    result = ref.evaluate_detections(
        gt, det, params["classes"], metric=params["metric"], group_of_weight=params["group_of_weight"]
    )
    exact_values = case.get("exact", {})
    for name, value in expected["average_precision"].items():
        close(result.average_precision[name], value, exact_values.get("average_precision", {}).get(name))
    close(result.mean_ap, expected["mean_ap"], exact_values.get("mean_ap"))
    for name, value in case.get("derived", {}).get("num_gt_instances", {}).items():
        assert result.num_gt_instances[name] == value
    if "num_gt_instances" in expected:
        assert result.num_gt_instances == expected["num_gt_instances"]
        assert result.num_gt_images == expected["num_gt_images"]
        for name in params["classes"]:
            got_s, got_t = result.scores_per_class[name], result.tp_fp_labels_per_class[name]
            assert len(got_s) == len(expected["scores_per_class"][name])
            for s, t, want_s, want_t in zip(
                got_s,
                got_t,
                expected["scores_per_class"][name],
                expected["tp_fp_labels_per_class"][name],
                strict=True,
            ):
                np.testing.assert_array_equal(s, want_s)
                np.testing.assert_array_equal(t.astype(bool), want_t)
            arrays(result.precisions[name], expected["precisions"][name])
            arrays(result.recalls[name], expected["recalls"][name])


@pytest.mark.parametrize("case", by_kind("vrd_tp_fp_single_tuple"))
def test_vrd_single_tuple(case: dict[str, Any]) -> None:
    det, gt = case["input"]["detected"], case["input"]["groundtruth"]
    labels = ref.vrd_tp_fp_single_tuple(
        [ref._f4(det["subject"]), ref._f4(det["object"])],
        [ref._f4(gt["subject"]), ref._f4(gt["object"])],
    )
    np.testing.assert_array_equal(labels, case["expected"]["tp_fp_labels"])


@pytest.mark.parametrize("case", by_kind("vrd_per_image"))
def test_vrd_per_image(case: dict[str, Any]) -> None:
    det, gt = case["input"]["detected"], case["input"]["groundtruth"]
    scores, labels, mapping = ref.vrd_per_image_tp_fp(
        [ref._f4(det["subject"]), ref._f4(det["object"])],
        np.array(det["scores"]),
        [tuple(t) for t in det["tuples"]],
        [ref._f4(gt["subject"]), ref._f4(gt["object"])],
        [tuple(t) for t in gt["tuples"]],
    )
    np.testing.assert_array_equal(scores, case["expected"]["scores"])
    np.testing.assert_array_equal(labels, case["expected"]["tp_fp_labels"])
    np.testing.assert_array_equal(mapping, case["expected"]["mapping"])


def _vrd_inputs(case: dict[str, Any]) -> tuple[dict[str, ref.VrdGroundTruth], dict[str, ref.VrdDetections]]:
    gt = {
        image: ref.VrdGroundTruth(
            np.array(g["subject_boxes"]),
            np.array(g["object_boxes"]),
            g["subject_labels"],
            g["object_labels"],
            g["relations"],
            g.get("verified_labels", []),
        )
        for image, g in case["input"]["groundtruth"].items()
    }
    det = {
        image: ref.VrdDetections(
            np.array(d["subject_boxes"]),
            np.array(d["object_boxes"]),
            d["subject_labels"],
            d["object_labels"],
            d["relations"],
            np.array(d["scores"]),
        )
        for image, d in case["input"]["detections"].items()
    }
    return gt, det


def _check_vrd(result: ref.VrdMetrics, case: dict[str, Any]) -> None:
    expected, exact_values = case["expected"], case.get("exact", {})
    for key in ("weighted_ap", "mean_ap", "recall_50", "recall_100", "median_rank_50", "median_rank_100"):
        if key in expected:
            close(getattr(result, key), expected[key], exact_values.get(key))
    for rel, value in expected.get("ap_per_relationship", {}).items():
        close(result.ap_per_relationship[rel], value, exact_values["ap_per_relationship"][rel])
    if "ap_per_relationship" in expected:
        assert set(result.ap_per_relationship) == set(expected["ap_per_relationship"])
    for key in ("precisions", "recalls"):
        if key in expected:
            arrays(getattr(result, key), expected[key])


@pytest.mark.parametrize("case", by_kind("vrd_evaluation"))
def test_vrd_evaluation(case: dict[str, Any]) -> None:
    gt, det = _vrd_inputs(case)
    _check_vrd(ref.evaluate_vrd(gt, det, task=case["params"]["task"]), case)


@pytest.mark.parametrize("case", by_kind("vrd_evaluation_core"))
def test_vrd_evaluation_core(case: dict[str, Any]) -> None:
    gt, det = _vrd_inputs(case)
    core_gt = {
        i: (
            [ref._f4(g.subject_boxes), ref._f4(g.object_boxes)],
            list(zip(g.subject_labels, g.object_labels, g.relations, strict=True)),
        )
        for i, g in gt.items()
    }
    core_det = {
        i: (
            [ref._f4(d.subject_boxes), ref._f4(d.object_boxes)],
            d.scores,
            list(zip(d.subject_labels, d.object_labels, d.relations, strict=True)),
        )
        for i, d in det.items()
    }
    _check_vrd(ref.evaluate_vrd_core(core_gt, core_det), case)


def _rows(case: dict[str, Any]) -> list[dict[str, Any]]:
    columns = case["input"]["columns"]
    return [dict(zip(columns, row, strict=True)) for row in case["input"]["rows"]]


@pytest.mark.parametrize("case", by_kind("csv_groundtruth", "csv_predictions"))
def test_csv_detection_rows(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if case["kind"] == "csv_groundtruth":
        gt = ref.groundtruth_from_rows(_rows(case))
        assert list(gt.labels) == expected["labels"]
        assert gt.is_group_of is not None
        np.testing.assert_array_equal(gt.is_group_of.astype(int), expected["is_group_of"])
        assert list(gt.verified_labels) == expected["verified_labels"]
        np.testing.assert_allclose(gt.boxes, expected["boxes"], atol=1e-5)
    else:
        det = ref.detections_from_rows(_rows(case))
        assert list(det.labels) == expected["labels"]
        np.testing.assert_allclose(det.boxes, expected["boxes"], atol=1e-5)
        np.testing.assert_allclose(det.scores, expected["scores"], atol=1e-5)


@pytest.mark.parametrize("case", by_kind("csv_vrd_groundtruth", "csv_vrd_predictions"))
def test_csv_vrd_rows(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if case["kind"] == "csv_vrd_groundtruth":
        parsed: Any = ref.vrd_groundtruth_from_rows(_rows(case))
        assert list(parsed.verified_labels) == expected["verified_labels"]
    else:
        parsed = ref.vrd_detections_from_rows(_rows(case))
        np.testing.assert_allclose(parsed.scores, expected["scores"], atol=1e-5)
    for key in ("subject_labels", "object_labels", "relations"):
        assert list(getattr(parsed, key)) == expected[key]
    for key in ("subject_boxes", "object_boxes"):
        assert getattr(parsed, key).dtype == np.float32
        np.testing.assert_allclose(getattr(parsed, key), expected[key], atol=1e-5)


# ------------------------------------------------------------------ quirks read from the code


def _one_class(
    det_boxes: list[list[float]],
    scores: list[float],
    gt_boxes: list[list[float]],
    group_of: list[bool],
    weight: float = 1.0,
    **kw: Any,
) -> tuple[np.ndarray, np.ndarray]:
    return ref.tp_fp_single_class(
        np.array(det_boxes, dtype=float),
        np.array(scores, dtype=float),
        np.array(gt_boxes, dtype=float).reshape(-1, 4),
        np.zeros(len(gt_boxes), dtype=bool),
        np.array(group_of, dtype=bool),
        group_of_weight=weight,
        **kw,
    )


def test_iou_exactly_half_matches_and_uses_no_plus_one() -> None:
    # [0,0,1,1] vs [0,0,1,2]: IoU exactly 0.5 with plain areas (with +1 it would be 4/6).
    assert ref.iou(np.array([[0.0, 0, 1, 1]]), np.array([[0.0, 0, 1, 2]]))[0, 0] == 0.5
    _, labels = _one_class([[0, 0, 1, 1]], [0.9], [[0, 0, 1, 2]], [False])
    assert labels.tolist() == [1.0]


def test_best_box_taken_gives_fp_without_fallback() -> None:
    # The 0.8 detection's best box (IoU 1) is taken by the 0.9 one; its second-best box
    # (IoU exactly 0.5, enough to match) is never tried.
    scores, labels = _one_class([[0, 0, 1, 1], [0, 0, 1, 1]], [0.9, 0.8], [[0, 0, 1, 1], [0, 0, 1, 2]], [False, False])
    assert scores.tolist() == [0.9, 0.8]
    assert labels.tolist() == [1.0, 0.0]


def test_group_of_hit_only_by_score_zero_gives_no_entry() -> None:
    scores, labels = _one_class([[0, 0, 1, 1]], [0.0], [[0, 0, 2, 2]], [True])
    assert scores.size == 0 and labels.size == 0  # swallowed, no TP: a miss in num_gt


def test_group_of_takes_max_score_and_stage1_fps() -> None:
    # Detection 2 is a stage-1 FP (its best plain box is taken) and is absorbed by the group-of box.
    scores, labels = _one_class(
        [[0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 6, 6]],
        [0.9, 0.7, 0.4],
        [[0, 0, 1, 1], [0, 0, 10, 10]],
        [False, True],
    )
    assert scores.tolist() == [0.9, 0.7]
    assert labels.tolist() == [1.0, 1.0]


def test_nan_and_very_low_scores_are_dropped_and_cap_applies_after_sort() -> None:
    scores, _ = _one_class([[0, 0, 1, 1]] * 4, [float("nan"), -10.0, -9.0, 0.5], [[5, 5, 6, 6]], [False])
    assert scores.tolist() == [0.5, -9.0]
    scores, _ = _one_class([[0, 0, 1, 1]] * 3, [0.1, 0.3, 0.2], [[5, 5, 6, 6]], [False], max_detections=2)
    assert scores.tolist() == [0.3, 0.2]


def test_zero_size_detection_removed_by_remove_invalid_boxes() -> None:
    _, scores, _ = ref.remove_invalid_boxes(
        np.array([[0.0, 0, 0, 1], [0.0, 0, 1, 1]]), np.array([0.9, 0.8]), np.array(["a", "a"])
    )
    assert scores.tolist() == [0.8]


def test_challenge_filter_and_v2_difference() -> None:
    gt = {"i": ref.GroundTruth(np.array([[0.0, 0, 1, 1]]), ["a"], np.array([False]), verified_labels=["b"])}
    det = {"i": ref.Detections(np.array([[0.0, 0, 1, 1]] * 3), np.array([0.9, 0.8, 0.7]), ["a", "b", "c"])}
    ch = ref.evaluate_detections(gt, det, ["a", "b", "c"], metric="challenge")
    assert ch.average_precision["a"] == 1.0
    assert math.isnan(ch.average_precision["b"]) and math.isnan(ch.average_precision["c"])
    assert [len(ch.scores_per_class[c]) for c in "abc"] == [1, 1, 0]  # "c" unverified: dropped
    assert ch.mean_ap == 1.0


def test_kaggle_prediction_string() -> None:
    det = ref.detections_from_kaggle("/m/01 0.5 0.1 0.2 0.3 0.4 /m/02 0.25 0 0 1 1")
    assert det.labels == ["/m/01", "/m/02"]
    np.testing.assert_array_equal(det.boxes, [[0.2, 0.1, 0.4, 0.3], [0.0, 0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(det.scores, [0.5, 0.25])
