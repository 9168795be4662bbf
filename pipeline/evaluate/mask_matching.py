"""Instance-mask matching of the official metric, per image and class, as ``per_image_evaluation.py``'s mask mode.

Ground truth whose mask is empty or missing is a box without a mask. The predictions of a class on an
image, in rank order (score descending, then the tie rule), go through four stages; each looks only at
the ground truth it overlaps most (``np.argmax``: the first of equal overlaps), no fall-back:

1. masks, not group-of: mask IoU >= threshold and the mask still free: TP, it takes the mask;
2. masks, group-of: mask IoA (intersection over the prediction's area) >= threshold: absorbed; the
   group-of mask becomes one TP entry (weight ``group_of_weight``) with the highest score absorbed;
3. boxes without a mask, not group-of: the IoU of the prediction mask's box >= threshold and the box
   still free: the prediction is ignored and takes the box (a later one on the same box is not);
4. boxes without a mask, group-of: box IoA >= threshold: ignored (any number of them).

Everything else is a false positive. Mask overlaps are float32, computed as ``np_mask_ops`` computes
them (IoU ``i / max(union, 1e-7)``, IoA ``i / (area + 1e-7)``); box overlaps float64 as ``np_box_ops``.
Only boxes with a mask count as instances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.evaluate import mask_codec, mask_overlap

EPSILON = np.float32(1e-7)

# Outcome codes of the candidates (the reasons are in segmentation.REASONS).
TP_MASK, TP_GROUP = 10, 11
GROUP_UNWEIGHTED, GROUP_SCORE_ZERO, GROUP_COUNTED = 12, 13, 14
IGNORED_BOX, IGNORED_GROUP_BOX = 15, 16
FP_NEGATIVE, FP_NO_GT, FP_UNCOVERED, FP_LOW_IOU, FP_TAKEN, FP_BOX_TAKEN = 20, 21, 22, 23, 24, 25


def mask_iou(intersection: np.ndarray, pred_area: np.ndarray, gt_area: np.ndarray) -> np.ndarray:
    """``np_mask_ops.iou`` from pixel counts: float32 ``i / max(a + b - i, 1e-7)``."""
    inter = intersection.astype(np.float32)
    union = pred_area.astype(np.float32) + gt_area.astype(np.float32) - inter
    return inter / np.maximum(union, EPSILON)


def mask_ioa(intersection: np.ndarray, pred_area: np.ndarray) -> np.ndarray:
    """``np_mask_ops.ioa(gt, prediction)``: float32 ``i / (prediction area + 1e-7)``."""
    return intersection.astype(np.float32) / (pred_area.astype(np.float32) + EPSILON)


def box_overlaps(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np_box_ops.iou`` and ``ioa(gt, pred).T`` (over the prediction's area) of ``[y0, x0, y1, x1]`` boxes."""
    heights = np.maximum(
        0.0, np.minimum(pred[:, None, 2], gt[None, :, 2]) - np.maximum(pred[:, None, 0], gt[None, :, 0])
    )
    widths = np.maximum(
        0.0, np.minimum(pred[:, None, 3], gt[None, :, 3]) - np.maximum(pred[:, None, 1], gt[None, :, 1])
    )
    inter = heights * widths
    pred_area = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    gt_area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    return inter / (pred_area[:, None] + gt_area[None, :] - inter), inter / pred_area[:, None]


@dataclass
class Judged:
    """The outcome of each prediction of one class on one image (``gt``: index into the class's ground truth, -1)."""

    code: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    ioa: np.ndarray
    box_iou: np.ndarray
    box_ioa: np.ndarray
    tp_weight: np.ndarray


def _first_of_each(best: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """True for the first eligible prediction (in rank order) of each distinct ``best``."""
    chosen = np.flatnonzero(eligible)
    first = np.zeros(best.size, np.bool_)
    if chosen.size:
        _, at = np.unique(best[chosen], return_index=True)
        first[chosen[at]] = True
    return first


def _best(overlap: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per prediction: the column of the highest overlap (first on ties) mapped through ``columns``, and its value."""
    at = np.argmax(overlap, axis=1)
    return columns[at], overlap[np.arange(overlap.shape[0]), at]


def match_class(
    scores: np.ndarray,
    overlaps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    threshold: float,
    group_of_weight: float,
    negative: bool,
) -> Judged:
    """Judge the predictions (rank order) of one class on one image.

    ``overlaps`` are the four matrices of the stages (mask IoU with masked non-group-of ground truth,
    mask IoA with masked group-of, box IoU with unmasked non-group-of, box IoA with unmasked group-of),
    ``columns`` the ground-truth index of each matrix column. ``negative``: the class is verified absent.
    """
    n = scores.size
    nan = np.full(n, np.nan)
    judged = Judged(np.zeros(n, np.uint8), np.full(n, -1, np.int64), nan, nan.copy(), nan.copy(), nan.copy(),
                    np.zeros(n))  # fmt: skip
    iou_mask, ioa_mask, iou_box, ioa_box = overlaps
    if not any(m.shape[1] for m in overlaps):
        judged.code[:] = FP_NEGATIVE if negative else FP_NO_GT
        return judged
    no = np.zeros(n, np.bool_)
    tp, absorbed, taken, inside_box = no, no, no, no
    best1 = best3 = None
    if iou_mask.shape[1]:
        best1, value1 = _best(iou_mask, columns[0])
        judged.iou = value1.astype(np.float64)
        tp = _first_of_each(best1, value1 >= threshold)
    if ioa_mask.shape[1]:
        best2, value2 = _best(ioa_mask, columns[1])
        absorbed = ~tp & (value2 >= threshold)
        first = _first_of_each(best2, absorbed)  # rank order: the first absorbed has the highest score
        counted = first & (scores > 0) & (group_of_weight > 0)
        judged.code[absorbed] = GROUP_COUNTED
        judged.code[absorbed & (scores <= 0) & first] = GROUP_SCORE_ZERO
        if group_of_weight <= 0:
            judged.code[absorbed] = GROUP_UNWEIGHTED
        judged.code[counted] = TP_GROUP
        judged.tp_weight[counted] = group_of_weight
        judged.gt[absorbed] = best2[absorbed]
        judged.ioa[absorbed] = value2[absorbed]
    if iou_box.shape[1]:
        best3, value3 = _best(iou_box, columns[2])
        judged.box_iou = value3
        taken = _first_of_each(best3, ~tp & ~absorbed & (value3 >= threshold))
        judged.code[taken] = IGNORED_BOX
        judged.gt[taken] = best3[taken]
    if ioa_box.shape[1]:
        best4, value4 = _best(ioa_box, columns[3])
        inside_box = ~tp & ~absorbed & ~taken & (value4 >= threshold)
        judged.code[inside_box] = IGNORED_GROUP_BOX
        judged.gt[inside_box] = best4[inside_box]
        judged.box_ioa[inside_box] = value4[inside_box]
    if best1 is not None:
        judged.code[tp] = TP_MASK
        judged.gt[tp] = best1[tp]
        judged.tp_weight[tp] = 1.0
    false = ~tp & ~absorbed & ~taken & ~inside_box
    code = np.full(n, FP_UNCOVERED, np.uint8)  # priority: best mask taken, best box taken, best mask too far
    if best1 is not None:
        code[:] = FP_LOW_IOU
    if best3 is not None:
        code[judged.box_iou >= threshold] = FP_BOX_TAKEN
    if best1 is not None:
        code[judged.iou >= threshold] = FP_TAKEN
    judged.code[false] = code[false]
    fallback = best1 if best1 is not None else best3
    if fallback is not None:
        judged.gt[false] = fallback[false]
    return judged


# -- a chunk of whole images, as the evaluation streams them to its workers -----------------------------------

RESULT_SCHEMA = pa.schema([
    pa.field("pred_id", pa.int64(), nullable=False), pa.field("code", pa.uint8(), nullable=False),
    pa.field("gt_id", pa.int64()), pa.field("iou", pa.float64()), pa.field("ioa", pa.float64()),
    pa.field("box_iou", pa.float64()), pa.field("box_ioa", pa.float64()),
    pa.field("tp_weight", pa.float64(), nullable=False),
])  # fmt: skip


def _groups(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and stops of the runs of equal (image, label) in sorted rows."""
    if not images.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero((images[1:] != images[:-1]) | (labels[1:] != labels[:-1])) + 1
    starts = np.concatenate(([0], change))
    return starts, np.concatenate((change, [images.size]))


class _Masks:
    """The runs of the masks of a chunk (decoded a batch at a time), by row; None where a row has no mask."""

    def __init__(self, texts: list[str | None], heights: np.ndarray, widths: np.ndarray) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(texts)
        rows = [i for i, t in enumerate(texts) if t is not None]
        for start in range(0, len(rows), 64):
            part = rows[start : start + 64]
            counts, offsets, _ = mask_codec.decode_strings([texts[i].encode("ascii") for i in part])  # type: ignore[union-attr]
            for k, i in enumerate(part):
                self.runs[i] = mask_overlap.runs(counts[offsets[k] : offsets[k + 1]])
        self.heights = heights
        self.widths = widths


def judge_chunk(preds: pa.Table, gts: pa.Table, threshold: float, group_of_weight: float) -> pa.Table:
    """Judge the predictions of whole images (``RESULT_SCHEMA``).

    ``preds`` are sorted by image, class and rank (columns pred_id, image_id, label_mid, score, x_min, x_max,
    y_min, y_max, is_negative, image_width, image_height, rle_counts: NULL when the class has no mask on
    the image); ``gts`` the ground truth of those images sorted by image, class and gt_id (gt_id,
    image_id, label_mid, is_group_of, has_mask, x_min, x_max, y_min, y_max, mask_width, mask_height,
    rle_counts).
    """
    n = preds.num_rows
    col = {
        name: preds.column(name).to_numpy(zero_copy_only=False) for name in preds.column_names if name != "rle_counts"
    }
    gcol = {name: gts.column(name).to_numpy(zero_copy_only=False) for name in gts.column_names if name != "rle_counts"}
    pred_masks = _Masks(preds.column("rle_counts").to_pylist(), col["image_height"], col["image_width"])
    gt_masks = _Masks(
        [t if m else None for t, m in zip(gts.column("rle_counts").to_pylist(), gcol["has_mask"], strict=True)],
        gcol["mask_height"], gcol["mask_width"],
    )  # fmt: skip
    gt_index: dict[int, mask_overlap.RunIndex] = {}
    pred_box = np.stack([col["y_min"], col["x_min"], col["y_max"], col["x_max"]], axis=1) if n else np.zeros((0, 4))
    gt_box = np.stack([gcol["y_min"], gcol["x_min"], gcol["y_max"], gcol["x_max"]], axis=1) if gts.num_rows else None
    gt_groups = {
        (gcol["image_id"][a], gcol["label_mid"][a]): (a, b)
        for a, b in zip(*_groups(gcol["image_id"], gcol["label_mid"]), strict=True)
    }
    out = {k: np.full(n, np.nan) for k in ("iou", "ioa", "box_iou", "box_ioa")}
    code = np.zeros(n, np.uint8)
    gt_id = np.full(n, -1, np.int64)
    weight = np.zeros(n)
    for a, b in zip(*_groups(col["image_id"], col["label_mid"]), strict=True):
        g0, g1 = gt_groups.get((col["image_id"][a], col["label_mid"][a]), (0, 0))
        rows = np.arange(g0, g1)
        has_mask, group_of = gcol["has_mask"][g0:g1].astype(bool), gcol["is_group_of"][g0:g1].astype(bool)
        kinds = (rows[has_mask & ~group_of], rows[has_mask & group_of], rows[~has_mask & ~group_of],
                 rows[~has_mask & group_of])  # fmt: skip
        inter, pred_area, gt_area = _mask_intersections(a, b, rows[has_mask], pred_masks, gt_masks, gt_index)
        position = {int(r): k for k, r in enumerate(rows[has_mask])}
        overlaps = []
        for kind, gt_rows in enumerate(kinds[:2]):
            at = [position[int(r)] for r in gt_rows]
            if kind == 0:
                overlaps.append(mask_iou(inter[:, at], pred_area[:, at], gt_area[at][None, :]))
            else:
                overlaps.append(mask_ioa(inter[:, at], pred_area[:, at]))
        if gt_box is not None and (kinds[2].size or kinds[3].size):
            iou_all, ioa_all = box_overlaps(pred_box[a:b], gt_box[np.concatenate(kinds[2:])])
            overlaps += [iou_all[:, : kinds[2].size], ioa_all[:, kinds[2].size :]]
        else:
            overlaps += [np.zeros((b - a, 0)), np.zeros((b - a, 0))]
        judged = match_class(col["score"][a:b], tuple(overlaps), kinds, threshold, group_of_weight,  # type: ignore[arg-type]
                             bool(col["is_negative"][a]))  # fmt: skip
        code[a:b] = judged.code
        known = judged.gt >= 0
        gt_id[a:b] = np.where(known, gcol["gt_id"][np.maximum(judged.gt, 0)] if g1 > g0 else -1, -1)
        for key in out:
            out[key][a:b] = getattr(judged, key)
        weight[a:b] = judged.tp_weight
    return pa.table(
        {
            "pred_id": col["pred_id"].astype(np.int64),
            "code": code,
            "gt_id": pa.array(gt_id, mask=gt_id < 0),
            **{k: pa.array(v, mask=np.isnan(v)) for k, v in out.items()},
            "tp_weight": weight,
        },
        schema=RESULT_SCHEMA,
    )


def _mask_intersections(
    a: int, b: int, gt_rows: np.ndarray, preds: _Masks, gts: _Masks, index: dict[int, mask_overlap.RunIndex]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections, prediction areas (both per pair, on the ground truth's grid) and ground-truth areas."""
    inter = np.zeros((b - a, gt_rows.size), np.int64)
    pred_area = np.zeros((b - a, gt_rows.size), np.int64)
    gt_area = np.zeros(gt_rows.size, np.int64)
    if not gt_rows.size:
        return inter, pred_area, gt_area
    grids: dict[tuple[int, int], list[int]] = {}
    for k, r in enumerate(gt_rows):
        r = int(r)
        if r not in index:
            starts, ends = gts.runs[r]  # type: ignore[misc]
            index[r] = mask_overlap.RunIndex.of(starts, ends)
        gt_area[k] = index[r].area
        grids.setdefault((int(gts.heights[r]), int(gts.widths[r])), []).append(k)
    for i in range(a, b):
        found = preds.runs[i]
        if found is None:
            continue
        for (height, width), columns in grids.items():
            starts, ends = mask_overlap.on_grid(*found, int(preds.heights[i]), int(preds.widths[i]), height, width)
            area = int((ends - starts).sum())
            for k in columns:
                inter[i - a, k] = index[int(gt_rows[k])].intersection(starts, ends)
                pred_area[i - a, k] = area
    return inter, pred_area, gt_area
