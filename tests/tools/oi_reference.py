"""Plain per-image numpy port of the official Open Images evaluation (no TensorFlow).

A faithful, deliberately slow transcription of tensorflow/models
``research/object_detection``: ``utils/np_box_ops.py``, ``utils/np_box_list_ops.py``
(``non_max_suppression`` with ``iou_threshold=1.0``), ``utils/per_image_evaluation.py``
(boxes, and masks: see "Instance segmentation" below), ``utils/np_mask_ops.py``,
``utils/object_detection_evaluation.py``
(``ObjectDetectionEvaluation``, ``OpenImagesDetectionEvaluator`` = "V2",
``OpenImagesChallengeEvaluator``), ``utils/metrics.py``, ``utils/per_image_vrd_evaluation.py``,
``utils/vrd_evaluation.py`` and the CSV readers ``metrics/oid_challenge_evaluation_utils.py``
and ``metrics/oid_vrd_challenge_evaluation_utils.py``. It is the oracle for exactness tests of
``pipeline/evaluate`` and shares no code with it. Class labels are strings (MIDs); boxes are
numpy ``[N, 4]`` arrays in the reference order ``[y_min, x_min, y_max, x_max]``.

Instance segmentation (``evaluate_segmentation``, ``tp_fp_single_class_masks``): the mask mode of
``PerImageEvaluation._compute_tp_fp_for_single_class`` and the ``evaluate_masks`` path of the
evaluator. A ground-truth mask that is all zeros (or absent) is a box without a mask: it is marked
difficult for counting (no instance) and matched in box mode after the masks (IoU: the first
prediction over the threshold is ignored and takes the box, a later one stays a FP; group-of IoA:
ignored, any number). Mask IoU/IoA are ``np_mask_ops``' float32 ``i / max(u, 1e-7)`` and
``i / (area + 1e-7)``. Detection boxes come from the masks (``_to_normalized_box``); an empty mask
gives ``[0, 0, 0, 0]`` and is removed. The one addition to the reference: a detection mask whose size
differs from a ground-truth mask's is resampled to the ground truth's grid by nearest neighbour on
pixel centres (``resample_nearest``), pair by pair (the reference needs every mask of an image at one
size). Group-of weight: 1.0, as ``metrics/oid_challenge_evaluation.py`` builds the evaluator.

Reference quirks reproduced here (see also /tmp/tools/eval_facts.md):

* IoU/IoA: plain areas ``(y_max - y_min) * (x_max - x_min)``, no ``+1``. IoA divides by the
  area of the *second* argument; the evaluator calls ``ioa(gt_group_of, detections)`` and
  transposes, so the denominator is the **detection's** area.
* Detections with ``y_min >= y_max`` or ``x_min >= x_max`` are dropped first (strict ``<`` keeps).
  Invalid ground truth (``min > max``; zero size is allowed) makes ``BoxList`` raise.
* Per (image, class) the detections go through ``non_max_suppression(max_output_size=10000,
  iou_threshold=1.0, score_threshold=-10.0)``: scores ``<= -10`` and NaN scores are silently
  dropped (``np.greater``), the rest sorted by ``np.argsort(scores)[::-1]`` (quicksort, not
  stable, reversed: the tie order is platform dependent) and cut to the first 10,000. The cap is
  per image *and class*, after sorting; there is no other limit.
* Stage 1 (non-group-of boxes): each detection, in score order, looks only at
  ``np.argmax`` of its IoU row (first index on ties). If that IoU ``>=`` threshold: a difficult
  box makes it ignored (any number of them); a free box makes it TP and takes the box; a taken
  box makes it FP. No fall-back to the second-best box.
* Stage 2 (group-of boxes): every detection not TP and not ignored (so also the stage-1 FPs
  whose best box was taken or below threshold) looks at ``np.argmax`` of its IoA row; IoA
  ``>=`` threshold removes it from the list and raises that box's score to
  ``max(box score, detection score)``, starting from 0. One entry per group-of box with
  ``score > 0`` and ``group_of_weight > 0`` is appended, label ``group_of_weight`` (a float).
  So a group-of box hit only by detections of score ``<= 0`` swallows them and yields no TP,
  and with ``group_of_weight == 0`` (V2) detections inside group-of boxes are just ignored.
* Output order per (image, class): surviving detections in sorted order, then the group-of
  entries in box order. Labels are float (1.0 TP, 0.0 FP, weight for group-of), or bool when a
  class has no ground truth on the image.
* ``num_gt_instances[c] = #(non-difficult, non-group-of boxes of c) + group_of_weight *
  #(non-difficult group-of boxes of c)`` summed over all ground-truth images. Challenge weight 1.0,
  V2 weight 0.0 (group-of boxes then count for nothing).
* AP: ``np.nan`` for a class with ``num_gt == 0`` (detections of it are then wasted); 0.0 for a
  class with ground truth but no detection; mAP = ``np.nanmean`` over classes (all-NaN gives NaN).
* ``compute_precision_recall``: FP indicator is ``label <= 0``, so a fractional group-of label
  (weight 0.5) adds 0.5 to the TP count and nothing to the FP count.
* ``compute_average_precision``: VOC 2010 all-points area with the precision envelope.
* Challenge label filter: evaluatable classes of an image = ``np.unique(verified image labels
  (any confidence) + classes of its boxes)``; other detections are dropped before anything else.
  Detections on an image without ground truth entry are all dropped. V2 has no filter: such
  detections are all FP (and a detection of a class unknown to the label map is ignored here;
  the CSV script would raise ``KeyError``).
* Images are processed in the order given (dict order); the official script iterates
  ``DataFrame.groupby('ImageID')``, i.e. ImageIDs sorted. This only matters for ties.

VRD (``evaluate_vrd``): a detected triplet is compared only with ground-truth triplets having
the same ``(subject, object, relation)`` labels; the overlap is the **minimum** of the IoUs of
the box fields (subject and object for relationships; the single enclosing box for phrases),
with the same best-box rule (argmax, ``>=``, taken -> FP). Boxes are ``float32`` (dtype ``'f4'``)
as in the reference. No group-of, no difficult, no hierarchy, no invalid-box removal, no cap.
Label filter: keep a detection when both its subject and object labels are evaluatable (verified
labels of any confidence + labels appearing in the image's triplets), or when either of them is
"negative" (verified but not in any triplet); the relationship label is never filtered.
mAP is the plain mean of AP over the relationships present in the ground truth (AP 0 when none is
detected, relationships seen only in detections do not count); ``weighted_ap`` is one AP over all
triplets pooled; Recall@K takes the top K triplets of **each image** (by score, after filtering),
sums their TPs over all images and divides by the total number of ground-truth triplets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- box ops


def area(boxes: np.ndarray) -> np.ndarray:
    """np_box_ops.area: ``(y_max - y_min) * (x_max - x_min)``, no +1."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def intersection(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """np_box_ops.intersection: pairwise intersection areas, shape [N, M]."""
    [y_min1, x_min1, y_max1, x_max1] = np.split(boxes1, 4, axis=1)
    [y_min2, x_min2, y_max2, x_max2] = np.split(boxes2, 4, axis=1)
    all_pairs_min_ymax = np.minimum(y_max1, np.transpose(y_max2))
    all_pairs_max_ymin = np.maximum(y_min1, np.transpose(y_min2))
    intersect_heights = np.maximum(np.zeros(all_pairs_max_ymin.shape), all_pairs_min_ymax - all_pairs_max_ymin)
    all_pairs_min_xmax = np.minimum(x_max1, np.transpose(x_max2))
    all_pairs_max_xmin = np.maximum(x_min1, np.transpose(x_min2))
    intersect_widths = np.maximum(np.zeros(all_pairs_max_xmin.shape), all_pairs_min_xmax - all_pairs_max_xmin)
    return intersect_heights * intersect_widths


def iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """np_box_ops.iou: ``inter / (area1 + area2 - inter)``, shape [N, M]."""
    intersect = intersection(boxes1, boxes2)
    union = np.expand_dims(area(boxes1), axis=1) + np.expand_dims(area(boxes2), axis=0) - intersect
    return intersect / union


def ioa(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """np_box_ops.ioa: ``inter / area(boxes2)`` (the second argument), shape [N, M]."""
    intersect = intersection(boxes1, boxes2)
    areas = np.expand_dims(area(boxes2), axis=0)
    return intersect / areas


def check_boxes(boxes: np.ndarray) -> None:
    """np_box_list.BoxList validation: float [N, 4] with ``min <= max`` (zero size allowed)."""
    if not isinstance(boxes, np.ndarray):
        raise ValueError("data must be a numpy array.")
    if len(boxes.shape) != 2 or boxes.shape[1] != 4:
        raise ValueError("Invalid dimensions for box data.")
    if boxes.dtype != np.float32 and boxes.dtype != np.float64:
        raise ValueError("Invalid data type for box data: float is required.")
    for i in range(boxes.shape[0]):
        if boxes[i, 0] > boxes[i, 2] or boxes[i, 1] > boxes[i, 3]:
            raise ValueError("Invalid box data. data must be N*[y_min, x_min, y_max, x_max]")


def sort_and_cap(
    boxes: np.ndarray,
    scores: np.ndarray,
    max_output_size: int = 10000,
    score_threshold: float = -10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """np_box_list_ops.non_max_suppression with ``iou_threshold == 1.0`` (NMS disabled).

    Keeps ``scores > score_threshold`` (NaN dropped), sorts by ``argsort[::-1]``, cuts to
    ``max_output_size``.
    """
    check_boxes(boxes)
    keep = np.reshape(np.where(np.greater(scores, score_threshold)), [-1]).astype(np.int32)
    boxes, scores = boxes[keep], scores[keep]
    if boxes.shape[0] == 0:
        return boxes, scores
    order = np.argsort(scores)[::-1]
    boxes, scores = boxes[order], scores[order]
    if boxes.shape[0] > max_output_size:
        boxes, scores = boxes[:max_output_size], scores[:max_output_size]
    return boxes, scores


# ----------------------------------------------------------------------------- per image


def tp_fp_single_class(
    detected_boxes: np.ndarray,
    detected_scores: np.ndarray,
    groundtruth_boxes: np.ndarray,
    groundtruth_is_difficult: np.ndarray,
    groundtruth_is_group_of: np.ndarray,
    *,
    matching_iou_threshold: float = 0.5,
    group_of_weight: float = 0.0,
    max_detections: int = 10000,
) -> tuple[np.ndarray, np.ndarray]:
    """PerImageEvaluation._compute_tp_fp_for_single_class (box mode) for one image and class.

    Returns ``(scores, tp_fp_labels)``: ignored detections removed, group-of entries appended.
    """
    if detected_boxes.size == 0:
        return np.array([], dtype=float), np.array([], dtype=bool)
    boxes, scores = sort_and_cap(detected_boxes, detected_scores, max_detections)
    gt_non_group_of = groundtruth_boxes[~groundtruth_is_group_of]
    gt_group_of = groundtruth_boxes[groundtruth_is_group_of]
    check_boxes(gt_non_group_of)
    check_boxes(gt_group_of)
    iou_matrix = iou(boxes, gt_non_group_of)
    ioa_matrix = np.transpose(ioa(gt_group_of, boxes))
    num_detected = boxes.shape[0]
    if groundtruth_boxes.size == 0:
        return scores, np.zeros(num_detected, dtype=bool)

    tp_fp_labels = np.zeros(num_detected, dtype=bool)
    is_matched_to_difficult = np.zeros(num_detected, dtype=bool)
    is_matched_to_group_of = np.zeros(num_detected, dtype=bool)

    if iou_matrix.shape[1] > 0:  # stage 1
        difficult = groundtruth_is_difficult[~groundtruth_is_group_of]
        best_gt = np.argmax(iou_matrix, axis=1)
        is_gt_detected = np.zeros(iou_matrix.shape[1], dtype=bool)
        for i in range(num_detected):
            gt_id = best_gt[i]
            if (
                not tp_fp_labels[i]
                and not is_matched_to_difficult[i]
                and iou_matrix[i, gt_id] >= matching_iou_threshold
                and not is_matched_to_group_of[i]
            ):
                if not difficult[gt_id]:
                    if not is_gt_detected[gt_id]:
                        tp_fp_labels[i] = True
                        is_gt_detected[gt_id] = True
                else:
                    is_matched_to_difficult[i] = True

    group_of_scores = np.ndarray([0], dtype=float)
    group_of_labels = np.ndarray([0], dtype=float)
    if ioa_matrix.shape[1] > 0:  # stage 2
        box_scores = np.zeros(ioa_matrix.shape[1], dtype=float)
        box_labels = group_of_weight * np.ones(ioa_matrix.shape[1], dtype=float)
        best_group = np.argmax(ioa_matrix, axis=1)
        for i in range(num_detected):
            gt_id = best_group[i]
            if (
                not tp_fp_labels[i]
                and not is_matched_to_difficult[i]
                and ioa_matrix[i, gt_id] >= matching_iou_threshold
                and not is_matched_to_group_of[i]
            ):
                is_matched_to_group_of[i] = True
                box_scores[gt_id] = max(box_scores[gt_id], scores[i])
        selector = np.where((box_scores > 0) & (box_labels > 0))
        group_of_scores = box_scores[selector]
        group_of_labels = box_labels[selector]

    valid = ~is_matched_to_difficult & ~is_matched_to_group_of
    return (
        np.concatenate((scores[valid], group_of_scores)),
        np.concatenate((tp_fp_labels[valid].astype(float), group_of_labels)),
    )


def remove_invalid_boxes(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PerImageEvaluation._remove_invalid_boxes: keep ``y_min < y_max and x_min < x_max``."""
    valid = np.logical_and(boxes[:, 0] < boxes[:, 2], boxes[:, 1] < boxes[:, 3])
    return boxes[valid], scores[valid], labels[valid]


def per_image_tp_fp(
    detected_boxes: np.ndarray,
    detected_scores: np.ndarray,
    detected_labels: Sequence[str] | np.ndarray,
    groundtruth_boxes: np.ndarray,
    groundtruth_labels: Sequence[str] | np.ndarray,
    groundtruth_is_difficult: np.ndarray,
    groundtruth_is_group_of: np.ndarray,
    classes: Sequence[str],
    *,
    matching_iou_threshold: float = 0.5,
    group_of_weight: float = 0.0,
    max_detections: int = 10000,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """PerImageEvaluation.compute_object_detection_metrics (tp/fp part): class -> (scores, labels)."""
    det_labels = np.asarray(list(detected_labels), dtype=object)
    gt_labels = np.asarray(list(groundtruth_labels), dtype=object)
    boxes, scores, det_labels = remove_invalid_boxes(
        np.asarray(detected_boxes, dtype=float).reshape(-1, 4),
        np.asarray(detected_scores, dtype=float),
        det_labels,
    )
    gt_boxes = np.asarray(groundtruth_boxes, dtype=float).reshape(-1, 4)
    result = {}
    for name in classes:
        gt_sel = gt_labels == name
        det_sel = det_labels == name
        result[name] = tp_fp_single_class(
            boxes[det_sel],
            scores[det_sel],
            gt_boxes[gt_sel],
            np.asarray(groundtruth_is_difficult, dtype=bool)[gt_sel],
            np.asarray(groundtruth_is_group_of, dtype=bool)[gt_sel],
            matching_iou_threshold=matching_iou_threshold,
            group_of_weight=group_of_weight,
            max_detections=max_detections,
        )
    return result


# ----------------------------------------------------------------------------- metrics.py


def compute_precision_recall(
    scores: np.ndarray, labels: np.ndarray, num_gt: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """metrics.compute_precision_recall (argsort[::-1]; FP = ``label <= 0``)."""
    if not isinstance(labels, np.ndarray) or len(labels.shape) != 1:
        raise ValueError("labels must be single dimension numpy array")
    if labels.dtype != float and labels.dtype != bool:
        raise ValueError("labels type must be either bool or float")
    if not isinstance(scores, np.ndarray) or len(scores.shape) != 1:
        raise ValueError("scores must be single dimension numpy array")
    if num_gt < np.sum(labels):
        raise ValueError("Number of true positives must be smaller than num_gt.")
    if len(scores) != len(labels):
        raise ValueError("scores and labels must be of the same size.")
    if num_gt == 0:
        return None, None
    sorted_indices = np.argsort(scores)[::-1]
    true_positive_labels = labels[sorted_indices]
    false_positive_labels = (true_positive_labels <= 0).astype(float)
    cum_true_positives = np.cumsum(true_positive_labels)
    cum_false_positives = np.cumsum(false_positive_labels)
    precision = cum_true_positives.astype(float) / (cum_true_positives + cum_false_positives)
    recall = cum_true_positives.astype(float) / num_gt
    return precision, recall


def compute_average_precision(precision: np.ndarray | None, recall: np.ndarray | None) -> float:
    """metrics.compute_average_precision: VOC 2010 all-points AP; NaN for None, 0.0 for empty."""
    if precision is None:
        if recall is not None:
            raise ValueError("If precision is None, recall must also be None")
        return float("nan")
    assert recall is not None
    if precision.dtype != float or recall.dtype != float:
        raise ValueError("input must be float numpy array.")
    if len(precision) != len(recall):
        raise ValueError("precision and recall must be of the same size.")
    if not precision.size:
        return 0.0
    if np.amin(precision) < 0 or np.amax(precision) > 1:
        raise ValueError("Precision must be in the range of [0, 1].")
    if np.amin(recall) < 0 or np.amax(recall) > 1:
        raise ValueError("recall must be in the range of [0, 1].")
    if not all(recall[i] <= recall[i + 1] for i in range(len(recall) - 1)):
        raise ValueError("recall must be a non-decreasing array")
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = np.maximum(precision[i], precision[i + 1])
    indices = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[indices] - recall[indices - 1]) * precision[indices]))


def compute_recall_at_k(tp_fp_list: Sequence[np.ndarray], num_gt: float, k: int) -> float:
    """metrics.compute_recall_at_k: top k of each (score-sorted) image, pooled, / num_gt."""
    tp_fp_eval = np.concatenate([t[0 : min(k, t.shape[0])] for t in tp_fp_list])
    return float(np.sum(tp_fp_eval) / num_gt)


def compute_median_rank_at_k(tp_fp_list: Sequence[np.ndarray], k: int) -> float:
    """metrics.compute_median_rank_at_k: median 0-based rank of the TPs within each image's top k."""
    ranks = [np.where(t[0 : min(k, t.shape[0])] > 0)[0] for t in tp_fp_list]
    return float(np.median(np.concatenate(ranks)))


# ----------------------------------------------------------------------------- evaluators


@dataclass
class GroundTruth:
    """Ground truth of one image: boxes ``[M, 4]`` as ``[y_min, x_min, y_max, x_max]``."""

    boxes: np.ndarray
    labels: Sequence[str]
    is_group_of: np.ndarray | None = None
    is_difficult: np.ndarray | None = None
    verified_labels: Sequence[str] = ()  # image-level labels, Confidence 0 or 1


@dataclass
class Detections:
    """Detections of one image: boxes ``[N, 4]`` as ``[y_min, x_min, y_max, x_max]``."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: Sequence[str]


@dataclass
class DetectionMetrics:
    """What ObjectDetectionEvaluation.evaluate returns, keyed by class name."""

    average_precision: dict[str, float]
    mean_ap: float
    precisions: dict[str, Any]  # array, or nan for a class without ground truth
    recalls: dict[str, Any]
    num_gt_instances: dict[str, float]
    num_gt_images: dict[str, int]
    scores_per_class: dict[str, list[np.ndarray]] = field(default_factory=dict)
    tp_fp_labels_per_class: dict[str, list[np.ndarray]] = field(default_factory=dict)


METRICS = {
    # name: (label filter, honour group-of flags, honour difficult flags, default group_of_weight)
    "challenge": (True, True, False, 1.0),  # OpenImagesChallengeEvaluator (detection)
    "v2": (False, True, False, 0.0),  # OpenImagesDetectionEvaluator
    "pascal": (False, False, True, 0.0),  # PascalDetectionEvaluator
    "core": (False, True, True, 0.0),  # ObjectDetectionEvaluation used directly
}


def evaluate_detections(
    groundtruth: Mapping[str, GroundTruth],
    detections: Mapping[str, Detections],
    classes: Sequence[str],
    *,
    metric: str = "challenge",
    group_of_weight: float | None = None,
    matching_iou_threshold: float = 0.5,
    max_detections: int = 10000,
    recall_lower_bound: float = 0.0,
    recall_upper_bound: float = 1.0,
) -> DetectionMetrics:
    """The evaluator flow: add all ground truth, then detections image by image, then evaluate.

    ``classes`` plays the label map (its order is the class index order); labels outside it are
    ignored. ``metric`` picks the evaluator (see ``METRICS``).
    """
    label_filter, use_group_of, use_difficult, default_weight = METRICS[metric]
    weight = default_weight if group_of_weight is None else group_of_weight
    num_gt = {c: 0.0 for c in classes}
    num_imgs = {c: 0 for c in classes}
    stored: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    evaluatable: dict[str, set[str]] = {}
    for image_id, gt in groundtruth.items():
        boxes = np.asarray(gt.boxes, dtype=float).reshape(-1, 4)
        labels = np.asarray(list(gt.labels), dtype=object)
        n = boxes.shape[0]
        group_of = (
            np.asarray(gt.is_group_of, dtype=bool)
            if use_group_of and gt.is_group_of is not None and (len(gt.is_group_of) or not n)
            else np.zeros(n, dtype=bool)
        )
        difficult = (
            np.asarray(gt.is_difficult, dtype=bool)
            if use_difficult and gt.is_difficult is not None and (len(gt.is_difficult) or not n)
            else np.zeros(n, dtype=bool)
        )
        stored[image_id] = (boxes, labels, difficult, group_of)
        evaluatable[image_id] = set(gt.verified_labels) | set(labels.tolist())
        for c in classes:
            plain = np.sum(labels[~difficult & ~group_of] == c)
            groups = weight * np.sum(labels[group_of & ~difficult] == c)
            num_gt[c] += float(plain + groups)
            if np.any(labels == c):
                num_imgs[c] += 1

    scores_per_class: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    labels_per_class: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    for image_id, det in detections.items():
        det_boxes = np.asarray(det.boxes, dtype=float).reshape(-1, 4)
        det_scores = np.asarray(det.scores, dtype=float)
        det_labels = np.asarray(list(det.labels), dtype=object)
        if label_filter:
            allowed = np.array([lab in evaluatable.get(image_id, set()) for lab in det_labels], dtype=bool)
            det_boxes, det_scores, det_labels = (
                det_boxes[allowed],
                det_scores[allowed],
                det_labels[allowed],
            )
        if image_id in stored:
            gt_boxes, gt_labels, difficult, group_of = stored[image_id]
        else:
            gt_boxes = np.empty((0, 4), dtype=float)
            gt_labels = np.array([], dtype=object)
            difficult = group_of = np.array([], dtype=bool)
        per_class = per_image_tp_fp(
            det_boxes,
            det_scores,
            det_labels,
            gt_boxes,
            gt_labels,
            difficult,
            group_of,
            classes,
            matching_iou_threshold=matching_iou_threshold,
            group_of_weight=weight,
            max_detections=max_detections,
        )
        for c, (s, t) in per_class.items():
            if s.shape[0] > 0:
                scores_per_class[c].append(s)
                labels_per_class[c].append(t)

    ap: dict[str, float] = {}
    precisions: dict[str, Any] = {}
    recalls: dict[str, Any] = {}
    for c in classes:
        ap[c], precisions[c], recalls[c] = float("nan"), float("nan"), float("nan")
        if num_gt[c] == 0:
            continue
        if not scores_per_class[c]:
            scores, tp_fp = np.array([], dtype=float), np.array([], dtype=float)
        else:
            scores = np.concatenate(scores_per_class[c])
            tp_fp = np.concatenate(labels_per_class[c])
        precision, recall = compute_precision_recall(scores, tp_fp, num_gt[c])
        assert precision is not None and recall is not None
        within = [i for i, value in enumerate(recall) if recall_lower_bound <= value <= recall_upper_bound]
        precisions[c], recalls[c] = precision[within], recall[within]
        ap[c] = compute_average_precision(precisions[c], recalls[c])
    values = np.array([ap[c] for c in classes], dtype=float)
    mean_ap = float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")
    return DetectionMetrics(ap, mean_ap, precisions, recalls, num_gt, num_imgs, scores_per_class, labels_per_class)


# ----------------------------------------------------------------------------- VRD


@dataclass
class VrdGroundTruth:
    """Relationship triplets of one image (boxes ``[M, 4]`` as ``[y_min, x_min, y_max, x_max]``)."""

    subject_boxes: np.ndarray
    object_boxes: np.ndarray
    subject_labels: Sequence[str]
    object_labels: Sequence[str]
    relations: Sequence[str]
    verified_labels: Sequence[str] = ()  # every image-level label row, Confidence 0 or 1


@dataclass
class VrdDetections:
    """Predicted triplets of one image."""

    subject_boxes: np.ndarray
    object_boxes: np.ndarray
    subject_labels: Sequence[str]
    object_labels: Sequence[str]
    relations: Sequence[str]
    scores: np.ndarray


@dataclass
class VrdMetrics:
    """What _VRDDetectionEvaluation.evaluate returns."""

    weighted_ap: float
    mean_ap: float
    ap_per_relationship: dict[str, float]
    precisions: np.ndarray | None
    recalls: np.ndarray | None
    recall_50: float
    recall_100: float
    median_rank_50: float
    median_rank_100: float
    per_image: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


def _f4(boxes: Any) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def union_boxes(fields: Sequence[np.ndarray]) -> np.ndarray:
    """VRDPhraseDetectionEvaluator._process_*_boxes: enclosing box of all fields, float32."""
    miny, minx, maxy, maxx = (fields[0][:, i] for i in range(4))
    for f in fields:
        miny = np.minimum(f[:, 0], miny)
        minx = np.minimum(f[:, 1], minx)
        maxy = np.maximum(f[:, 2], maxy)
        maxx = np.maximum(f[:, 3], maxx)
    return np.stack([miny, minx, maxy, maxx], axis=1).astype(np.float32)


def vrd_tp_fp_single_tuple(
    detected_fields: Sequence[np.ndarray],
    groundtruth_fields: Sequence[np.ndarray],
    matching_iou_threshold: float = 0.5,
) -> np.ndarray:
    """PerImageVRDEvaluation._compute_tp_fp_for_single_class; detections already sorted."""
    num_detected = detected_fields[0].shape[0]
    if num_detected == 0:
        return np.array([], dtype=bool)
    min_iou = np.ones((num_detected, groundtruth_fields[0].shape[0]), dtype=float)
    for det, gt in zip(detected_fields, groundtruth_fields, strict=True):
        check_boxes(det)
        check_boxes(gt)
        min_iou = np.minimum(iou(det, gt), min_iou)
    tp_fp_labels = np.zeros(num_detected, dtype=bool)
    if min_iou.shape[1] > 0:
        best_gt = np.argmax(min_iou, axis=1)
        is_gt_detected = np.zeros(min_iou.shape[1], dtype=bool)
        for i in range(num_detected):
            gt_id = best_gt[i]
            if min_iou[i, gt_id] >= matching_iou_threshold and not is_gt_detected[gt_id]:
                tp_fp_labels[i] = True
                is_gt_detected[gt_id] = True
    return tp_fp_labels


Triplet = tuple[str, str, str]


def vrd_per_image_tp_fp(
    detected_fields: Sequence[np.ndarray],
    detected_scores: np.ndarray,
    detected_tuples: Sequence[Triplet],
    groundtruth_fields: Sequence[np.ndarray],
    groundtruth_tuples: Sequence[Triplet],
    matching_iou_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PerImageVRDEvaluation.compute_detection_tp_fp: (scores, tp_fp, original index), sorted.

    Tuples are grouped in sorted order (the reference: ``np.unique`` of the integer-coded
    structured array; only tie order can differ).
    """
    detected_scores = np.asarray(detected_scores, dtype=float)
    result_scores, result_labels, result_mapping = [], [], []
    det_keys = list(detected_tuples)
    gt_keys = list(groundtruth_tuples)
    for key in sorted(set(det_keys) | set(gt_keys)):
        det_sel = np.array([k == key for k in det_keys], dtype=bool).reshape(-1)
        gt_sel = np.array([k == key for k in gt_keys], dtype=bool).reshape(-1)
        mapping = np.where(det_sel)[0]
        scores = detected_scores[det_sel]
        order = np.argsort(scores)[::-1]
        labels = vrd_tp_fp_single_tuple(
            [f[det_sel][order] for f in detected_fields],
            [f[gt_sel] for f in groundtruth_fields],
            matching_iou_threshold,
        )
        result_scores.append(scores[order])
        result_labels.append(labels)
        result_mapping.append(mapping[order])
    if result_scores:
        scores_all = np.concatenate(result_scores)
        labels_all = np.concatenate(result_labels)
        mapping_all = np.concatenate(result_mapping)
    else:
        scores_all = np.array([], dtype=float)
        labels_all = np.array([], dtype=bool)
        mapping_all = np.array([], dtype=int)
    order = np.argsort(scores_all)[::-1]
    return scores_all[order], labels_all[order], mapping_all[order]


def evaluate_vrd(
    groundtruth: Mapping[str, VrdGroundTruth],
    detections: Mapping[str, VrdDetections],
    *,
    task: str = "relation",
    matching_iou_threshold: float = 0.5,
) -> VrdMetrics:
    """VRDRelationDetectionEvaluator (``task='relation'``) or VRDPhraseDetectionEvaluator
    (``task='phrase'``): label filter, box processing, then :func:`evaluate_vrd_core`.
    """
    if task not in ("relation", "phrase"):
        raise ValueError(task)

    def process(subject: np.ndarray, obj: np.ndarray) -> list[np.ndarray]:
        return [subject, obj] if task == "relation" else [union_boxes([subject, obj])]

    gt_core: dict[str, tuple[list[np.ndarray], list[Triplet]]] = {}
    evaluatable: dict[str, set[str]] = {}
    negative: dict[str, set[str]] = {}
    for image_id, gt in groundtruth.items():
        tuples = list(zip(gt.subject_labels, gt.object_labels, gt.relations, strict=True))
        gt_core[image_id] = (process(_f4(gt.subject_boxes), _f4(gt.object_boxes)), tuples)
        positive = set(gt.subject_labels) | set(gt.object_labels)
        verified = set(gt.verified_labels)
        evaluatable[image_id] = verified | positive
        negative[image_id] = verified - positive
    det_core: dict[str, tuple[list[np.ndarray], np.ndarray, list[Triplet]]] = {}
    for image_id, det in detections.items():
        ev = evaluatable.get(image_id, set())
        neg = negative.get(image_id, set())
        keep = np.array(
            [
                (s in ev and o in ev) or (s in neg or o in neg)
                for s, o in zip(det.subject_labels, det.object_labels, strict=True)
            ],
            dtype=bool,
        ).reshape(-1)
        tuples = list(zip(det.subject_labels, det.object_labels, det.relations, strict=True))
        det_core[image_id] = (
            process(_f4(det.subject_boxes)[keep], _f4(det.object_boxes)[keep]),
            np.asarray(det.scores, dtype=float)[keep],
            [t for t, k in zip(tuples, keep, strict=True) if k],
        )
    return evaluate_vrd_core(gt_core, det_core, matching_iou_threshold=matching_iou_threshold)


def evaluate_vrd_core(
    groundtruth: Mapping[str, tuple[list[np.ndarray], list[Triplet]]],
    detections: Mapping[str, tuple[list[np.ndarray], np.ndarray, list[Triplet]]],
    *,
    matching_iou_threshold: float = 0.5,
) -> VrdMetrics:
    """_VRDDetectionEvaluation: no label filter; boxes already processed (list of box fields)."""
    num_gt = 0
    num_gt_per_relation: dict[str, int] = {}
    for _fields, tuples in groundtruth.values():
        num_gt += len(tuples)
        relations = [t[2] for t in tuples]
        for rel in sorted(set(relations)):
            num_gt_per_relation[rel] = num_gt_per_relation.get(rel, 0) + relations.count(rel)
    per_image: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    all_scores, all_labels, all_relations = [], [], []
    for image_id, (fields, scores, tuples) in detections.items():
        if image_id in groundtruth:
            gt_fields, gt_tuples = groundtruth[image_id]
        else:
            gt_fields = [np.empty((0, 4), dtype=np.float32) for _ in fields]
            gt_tuples = []
        s, t, mapping = vrd_per_image_tp_fp(fields, scores, tuples, gt_fields, gt_tuples, matching_iou_threshold)
        per_image[image_id] = (s, t, mapping)
        all_scores.append(s)
        all_labels.append(t)
        all_relations.append(np.array([tuples[i][2] for i in mapping], dtype=object))
    # The reference raises NameError when no image had detections; we evaluate empty lists.
    scores = np.concatenate(all_scores) if all_scores else np.array([], dtype=float)
    labels = np.concatenate(all_labels) if all_labels else np.array([], dtype=bool)
    pooled = np.concatenate(all_relations) if all_relations else np.array([], dtype=object)
    ap_per_relation = {}
    for rel, n in num_gt_per_relation.items():
        p, r = compute_precision_recall(scores[pooled == rel], labels[pooled == rel], n)
        ap_per_relation[rel] = compute_average_precision(p, r)
    mean_ap = float(np.mean(list(ap_per_relation.values()))) if ap_per_relation else float("nan")
    precisions, recalls = compute_precision_recall(scores, labels, num_gt)
    weighted_ap = compute_average_precision(precisions, recalls)
    tp_fp_list = [v[1] for v in per_image.values()]
    return VrdMetrics(
        weighted_ap=weighted_ap,
        mean_ap=mean_ap,
        ap_per_relationship=ap_per_relation,
        precisions=precisions,
        recalls=recalls,
        recall_50=compute_recall_at_k(tp_fp_list, num_gt, 50),
        recall_100=compute_recall_at_k(tp_fp_list, num_gt, 100),
        median_rank_50=compute_median_rank_at_k(tp_fp_list, 50),
        median_rank_100=compute_median_rank_at_k(tp_fp_list, 100),
        per_image=per_image,
    )


# ----------------------------------------------------------------------------- CSV rows


def _isnull(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


def groundtruth_from_rows(rows: Iterable[Mapping[str, Any]]) -> GroundTruth:
    """oid_challenge_evaluation_utils.build_groundtruth_dictionary for one image's rows.

    Rows are the box CSV rows (``XMin`` set) and image-label rows (``ConfidenceImageLabel``, the
    renamed ``Confidence``, set); every label row is verified whatever its confidence.
    """
    rows = list(rows)
    located = [r for r in rows if not _isnull(r.get("XMin"))]
    labelled = [r for r in rows if not _isnull(r.get("ConfidenceImageLabel"))]
    return GroundTruth(
        boxes=np.array([[float(r[k]) for k in ("YMin", "XMin", "YMax", "XMax")] for r in located], dtype=float).reshape(
            -1, 4
        ),
        labels=[r["LabelName"] for r in located],
        is_group_of=np.array([int(float(r["IsGroupOf"])) for r in located], dtype=int).astype(bool),
        verified_labels=[r["LabelName"] for r in labelled],
    )


def detections_from_rows(rows: Iterable[Mapping[str, Any]]) -> Detections:
    """build_predictions_dictionary: ``ImageID,LabelName,Score,XMin,XMax,YMin,YMax`` rows."""
    rows = list(rows)
    return Detections(
        boxes=np.array([[float(r[k]) for k in ("YMin", "XMin", "YMax", "XMax")] for r in rows], dtype=float).reshape(
            -1, 4
        ),
        scores=np.array([float(r["Score"]) for r in rows], dtype=float),
        labels=[r["LabelName"] for r in rows],
    )


def _vrd_boxes(rows: list[Mapping[str, Any]], suffix: str) -> np.ndarray:
    keys = [f"YMin{suffix}", f"XMin{suffix}", f"YMax{suffix}", f"XMax{suffix}"]
    return np.array([[float(r[k]) for k in keys] for r in rows], dtype=np.float32).reshape(-1, 4)


def vrd_groundtruth_from_rows(rows: Iterable[Mapping[str, Any]]) -> VrdGroundTruth:
    """build_groundtruth_vrd_dictionary: triplet rows have ``LabelName`` null, label rows have
    ``LabelName1`` null; every label row is verified whatever its ``Confidence``."""
    rows = list(rows)
    triplets = [r for r in rows if _isnull(r.get("LabelName"))]
    labelled = [r for r in rows if _isnull(r.get("LabelName1"))]
    return VrdGroundTruth(
        subject_boxes=_vrd_boxes(triplets, "1"),
        object_boxes=_vrd_boxes(triplets, "2"),
        subject_labels=[r["LabelName1"] for r in triplets],
        object_labels=[r["LabelName2"] for r in triplets],
        relations=[r["RelationshipLabel"] for r in triplets],
        verified_labels=[r["LabelName"] for r in labelled],
    )


def vrd_detections_from_rows(rows: Iterable[Mapping[str, Any]]) -> VrdDetections:
    """build_predictions_vrd_dictionary: ``ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,
    XMin2,XMax2,YMin2,YMax2,RelationshipLabel,Score`` rows."""
    rows = list(rows)
    return VrdDetections(
        subject_boxes=_vrd_boxes(rows, "1"),
        object_boxes=_vrd_boxes(rows, "2"),
        subject_labels=[r["LabelName1"] for r in rows],
        object_labels=[r["LabelName2"] for r in rows],
        relations=[r["RelationshipLabel"] for r in rows],
        scores=np.array([float(r["Score"]) for r in rows], dtype=float),
    )


def detections_from_kaggle(prediction_string: str) -> Detections:
    """Kaggle submission ``PredictionString``: ``LabelName Score XMin YMin XMax YMax`` repeated.

    Not part of tensorflow/models (Kaggle's format; note the XMin YMin XMax YMax order).
    """
    parts = prediction_string.split()
    if len(parts) % 6:
        raise ValueError("PredictionString must hold groups of 6 fields")
    groups = [parts[i : i + 6] for i in range(0, len(parts), 6)]
    return Detections(
        boxes=np.array([[float(g[3]), float(g[2]), float(g[5]), float(g[4])] for g in groups], dtype=float).reshape(
            -1, 4
        ),
        scores=np.array([float(g[1]) for g in groups], dtype=float),
        labels=[g[0] for g in groups],
    )


# ----------------------------------------------------------------------------- instance segmentation

MASK_EPSILON = 1e-7


def mask_area(masks: np.ndarray) -> np.ndarray:
    """np_mask_ops.area: float32 pixel sums of ``[N, H, W]`` uint8 masks."""
    if masks.dtype != np.uint8:
        raise ValueError("Masks type should be np.uint8")
    return np.sum(masks, axis=(1, 2), dtype=np.float32)


def mask_intersection(masks1: np.ndarray, masks2: np.ndarray) -> np.ndarray:
    """np_mask_ops.intersection: ``[N, M]`` float32, one pair at a time."""
    n, m = masks1.shape[0], masks2.shape[0]
    answer = np.zeros([n, m], dtype=np.float32)
    for i in np.arange(n):
        for j in np.arange(m):
            answer[i, j] = np.sum(np.minimum(masks1[i], masks2[j]), dtype=np.float32)
    return answer


def mask_iou(masks1: np.ndarray, masks2: np.ndarray) -> np.ndarray:
    """np_mask_ops.iou: ``intersect / np.maximum(union, EPSILON)``."""
    intersect = mask_intersection(masks1, masks2)
    union = np.expand_dims(mask_area(masks1), axis=1) + np.expand_dims(mask_area(masks2), axis=0) - intersect
    return intersect / np.maximum(union, MASK_EPSILON)


def mask_ioa(masks1: np.ndarray, masks2: np.ndarray) -> np.ndarray:
    """np_mask_ops.ioa: ``intersect / (area(masks2) + EPSILON)``."""
    intersect = mask_intersection(masks1, masks2)
    areas = np.expand_dims(mask_area(masks2), axis=0)
    return intersect / (areas + MASK_EPSILON)


def resample_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """``mask`` on a ``height x width`` grid: each cell takes the source pixel its centre falls in."""
    rows = ((2 * np.arange(height) + 1) * mask.shape[0]) // (2 * height)
    cols = ((2 * np.arange(width) + 1) * mask.shape[1]) // (2 * width)
    return mask[rows][:, cols]


def to_normalized_box(mask: np.ndarray) -> np.ndarray:
    """oid_challenge_evaluation_utils._to_normalized_box: ``[y_min, x_min, y_max, x_max]`` / mask size."""
    coord1, coord2 = np.nonzero(mask)
    if coord1.size > 0:
        ymin = float(min(coord1)) / mask.shape[0]
        ymax = float(max(coord1) + 1) / mask.shape[0]
        xmin = float(min(coord2)) / mask.shape[1]
        xmax = float(max(coord2) + 1) / mask.shape[1]
        return np.array([ymin, xmin, ymax, xmax])
    return np.array([0.0, 0.0, 0.0, 0.0])


def _pairwise(detected: Sequence[np.ndarray], groundtruth: Sequence[np.ndarray], kind: str) -> np.ndarray:
    """Mask IoU (``kind='iou'``) or IoA over the detection (``'ioa'``), ``[N, M]``, each pair on the gt's grid."""
    out = np.zeros((len(detected), len(groundtruth)), dtype=np.float32)
    for j, gt in enumerate(groundtruth):
        if not len(detected):
            break
        dets = np.stack([resample_nearest(d, *gt.shape) if d.shape != gt.shape else d for d in detected])
        dets = dets.astype(np.uint8)
        gts = gt[None].astype(np.uint8)
        out[:, j] = mask_iou(dets, gts)[:, 0] if kind == "iou" else np.transpose(mask_ioa(gts, dets))[:, 0]
    return out


def tp_fp_single_class_masks(
    detected_boxes: np.ndarray,
    detected_scores: np.ndarray,
    detected_masks: Sequence[np.ndarray],
    groundtruth_boxes: np.ndarray,
    groundtruth_is_group_of: np.ndarray,
    groundtruth_masks: Sequence[np.ndarray | None],
    *,
    matching_iou_threshold: float = 0.5,
    group_of_weight: float = 0.0,
    max_detections: int = 10000,
) -> tuple[np.ndarray, np.ndarray]:
    """PerImageEvaluation._compute_tp_fp_for_single_class in mask mode (no difficult boxes)."""
    if detected_boxes.size == 0:
        return np.array([], dtype=float), np.array([], dtype=bool)
    detected_boxes = np.asarray(detected_boxes, dtype=float).reshape(-1, 4)
    groundtruth_boxes = np.asarray(groundtruth_boxes, dtype=float).reshape(-1, 4)
    groundtruth_is_group_of = np.asarray(groundtruth_is_group_of, dtype=bool)
    # the masked-list NMS: scores > -10, argsort[::-1], at most max_detections
    keep = np.reshape(np.where(np.greater(detected_scores, -10.0)), [-1])
    order = keep[np.argsort(detected_scores[keep])[::-1]][:max_detections]
    boxes, scores = detected_boxes[order], np.asarray(detected_scores, dtype=float)[order]
    masks = [detected_masks[i] for i in order]
    present = np.array([g is not None and np.sum(g) > 0 for g in groundtruth_masks], dtype=bool)
    masked = [g for g, p in zip(groundtruth_masks, present, strict=True) if p]
    group_masked = groundtruth_is_group_of[present]
    iou_mask = _pairwise(masks, [g for g, q in zip(masked, group_masked, strict=True) if not q], "iou")
    ioa_mask = _pairwise(masks, [g for g, q in zip(masked, group_masked, strict=True) if q], "ioa")
    iou_box, ioa_box = np.ndarray([0, 0]), np.ndarray([0, 0])
    if np.sum(present) < len(present):
        plain = groundtruth_boxes[~present]
        group_of = groundtruth_is_group_of[~present]
        check_boxes(boxes)
        iou_box = iou(boxes, plain[~group_of])
        ioa_box = np.transpose(ioa(plain[group_of], boxes))
    num_detected = boxes.shape[0]
    if groundtruth_boxes.size == 0:
        return scores, np.zeros(num_detected, dtype=bool)

    tp_fp_labels = np.zeros(num_detected, dtype=bool)
    is_matched_to_box = np.zeros(num_detected, dtype=bool)
    is_matched_to_group_of = np.zeros(num_detected, dtype=bool)

    def compute_match_iou(overlap: np.ndarray, is_box: bool) -> None:
        best = np.argmax(overlap, axis=1)
        is_gt_detected = np.zeros(overlap.shape[1], dtype=bool)
        for i in range(num_detected):
            gt_id = best[i]
            evaluatable = not tp_fp_labels[i] and overlap[i, gt_id] >= matching_iou_threshold
            if evaluatable and not is_matched_to_group_of[i] and not is_gt_detected[gt_id]:
                tp_fp_labels[i] = True
                is_gt_detected[gt_id] = True
                is_matched_to_box[i] = is_box

    def compute_match_ioa(overlap: np.ndarray, is_box: bool) -> tuple[np.ndarray, np.ndarray]:
        scores_group_of = np.zeros(overlap.shape[1], dtype=float)
        labels_group_of = group_of_weight * np.ones(overlap.shape[1], dtype=float)
        best = np.argmax(overlap, axis=1)
        for i in range(num_detected):
            gt_id = best[i]
            if not tp_fp_labels[i] and overlap[i, gt_id] >= matching_iou_threshold and not is_matched_to_group_of[i]:
                is_matched_to_group_of[i] = True
                is_matched_to_box[i] = is_box
                scores_group_of[gt_id] = max(scores_group_of[gt_id], scores[i])
        selector = np.where((scores_group_of > 0) & (labels_group_of > 0))
        return scores_group_of[selector], labels_group_of[selector]

    if iou_mask.shape[1] > 0:
        compute_match_iou(iou_mask, is_box=False)
    scores_group, labels_group = np.ndarray([0], dtype=float), np.ndarray([0], dtype=float)
    if ioa_mask.shape[1] > 0:
        scores_group, labels_group = compute_match_ioa(ioa_mask, is_box=False)
    if iou_box.shape[1] > 0:
        compute_match_iou(iou_box, is_box=True)
    if ioa_box.shape[1] > 0:
        compute_match_ioa(ioa_box, is_box=True)  # crowds without masks: ignore regions, their entries dropped
    valid = ~is_matched_to_group_of & ~is_matched_to_box
    return (
        np.concatenate((scores[valid], scores_group)),
        np.concatenate((tp_fp_labels[valid].astype(float), labels_group)),
    )


@dataclass
class SegGroundTruth:
    """Ground truth of one image: boxes ``[M, 4]``, and a mask per box (None or all zeros: no mask)."""

    boxes: np.ndarray
    labels: Sequence[str]
    masks: Sequence[np.ndarray | None]
    is_group_of: np.ndarray | None = None
    verified_labels: Sequence[str] = ()


@dataclass
class SegDetections:
    """Detections of one image: masks (each at its own size); boxes from the masks unless given."""

    masks: Sequence[np.ndarray]
    scores: np.ndarray
    labels: Sequence[str]
    boxes: np.ndarray | None = None


def evaluate_segmentation(
    groundtruth: Mapping[str, SegGroundTruth],
    detections: Mapping[str, SegDetections],
    classes: Sequence[str],
    *,
    group_of_weight: float = 1.0,
    matching_iou_threshold: float = 0.5,
    max_detections: int = 10000,
) -> DetectionMetrics:
    """OpenImagesChallengeEvaluator(evaluate_masks=True): label filter, mask-presence counting, mask mode."""
    num_gt = {c: 0.0 for c in classes}
    num_imgs = {c: 0 for c in classes}
    evaluatable: dict[str, set[str]] = {}
    for image_id, gt in groundtruth.items():
        labels = np.asarray(list(gt.labels), dtype=object)
        n = len(labels)
        group_of = np.asarray(gt.is_group_of, dtype=bool) if gt.is_group_of is not None else np.zeros(n, bool)
        no_mask = np.array([m is None or np.sum(m) == 0 for m in gt.masks], dtype=bool).reshape(-1)
        evaluatable[image_id] = set(gt.verified_labels) | set(labels.tolist())
        for c in classes:
            num_gt[c] += float(np.sum(labels[~no_mask & ~group_of] == c))
            num_gt[c] += group_of_weight * float(np.sum(labels[group_of & ~no_mask] == c))
            if np.any(labels == c):
                num_imgs[c] += 1
    scores_per_class: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    labels_per_class: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    for image_id, det in detections.items():
        det_labels = np.asarray(list(det.labels), dtype=object)
        det_scores = np.asarray(det.scores, dtype=float)
        det_masks = list(det.masks)
        det_boxes = (
            np.asarray(det.boxes, dtype=float).reshape(-1, 4)
            if det.boxes is not None
            else np.array([to_normalized_box(m) for m in det_masks], dtype=float).reshape(-1, 4)
        )
        allowed = np.array([lab in evaluatable.get(image_id, set()) for lab in det_labels], dtype=bool).reshape(-1)
        valid = allowed & (det_boxes[:, 0] < det_boxes[:, 2]) & (det_boxes[:, 1] < det_boxes[:, 3])
        gt = groundtruth.get(image_id)
        gt_labels = np.asarray(list(gt.labels), dtype=object) if gt else np.array([], dtype=object)
        gt_boxes = np.asarray(gt.boxes, dtype=float).reshape(-1, 4) if gt else np.empty((0, 4))
        gt_group = (
            np.asarray(gt.is_group_of, dtype=bool)
            if gt and gt.is_group_of is not None
            else np.zeros(len(gt_labels), dtype=bool)
        )
        gt_masks = list(gt.masks) if gt else []
        for c in classes:
            d = valid & (det_labels == c)
            g = gt_labels == c
            s, t = tp_fp_single_class_masks(
                det_boxes[d],
                det_scores[d],
                [m for m, k in zip(det_masks, d, strict=True) if k],
                gt_boxes[g],
                gt_group[g],
                [m for m, k in zip(gt_masks, g, strict=True) if k],
                matching_iou_threshold=matching_iou_threshold,
                group_of_weight=group_of_weight,
                max_detections=max_detections,
            )
            if s.shape[0] > 0:
                scores_per_class[c].append(s)
                labels_per_class[c].append(t)
    ap: dict[str, float] = {}
    precisions: dict[str, Any] = {}
    recalls: dict[str, Any] = {}
    for c in classes:
        ap[c], precisions[c], recalls[c] = float("nan"), float("nan"), float("nan")
        if num_gt[c] == 0:
            continue
        scores = np.concatenate(scores_per_class[c]) if scores_per_class[c] else np.array([], dtype=float)
        tp_fp = np.concatenate(labels_per_class[c]) if labels_per_class[c] else np.array([], dtype=float)
        precision, recall = compute_precision_recall(scores, tp_fp, num_gt[c])
        precisions[c], recalls[c] = precision, recall
        ap[c] = compute_average_precision(precision, recall)
    values = np.array([ap[c] for c in classes], dtype=float)
    mean_ap = float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")
    return DetectionMetrics(ap, mean_ap, precisions, recalls, num_gt, num_imgs, scores_per_class, labels_per_class)


def decode_official_masks(segments: Sequence[Any], widths: Sequence[Any], heights: Sequence[Any]) -> list[np.ndarray]:
    """_decode_raw_data_into_masks_and_boxes (masks part): base64 -> zlib -> pycocotools decode, zeros for null.

    The reference sizes the null entries by the first valid row; here each null is ``1 x 1`` when none is valid.
    """
    import base64
    import zlib

    from pycocotools import mask as coco_mask

    first = next((i for i, s in enumerate(segments) if not _isnull(s)), None)
    size = [int(heights[first]), int(widths[first])] if first is not None else [1, 1]
    out = []
    for segment, width, height in zip(segments, widths, heights, strict=True):
        if _isnull(segment):
            out.append(np.zeros(size, dtype=np.uint8))
        else:
            counts = zlib.decompress(base64.b64decode(segment))
            out.append(coco_mask.decode({"size": [int(height), int(width)], "counts": counts}))
    return out


def encode_official_mask(mask: np.ndarray) -> str:
    """oid_challenge_evaluation_utils_test.encode_mask: COCO RLE, zlib level 9, base64 (as text)."""
    import base64
    import zlib

    from pycocotools import mask as coco_mask

    fortran = np.asfortranarray(mask.astype(np.uint8).reshape(mask.shape[0], mask.shape[1], 1))
    counts = coco_mask.encode(fortran)[0]["counts"]
    return base64.b64encode(zlib.compress(counts, zlib.Z_BEST_COMPRESSION)).decode("ascii")
