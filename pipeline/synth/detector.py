"""A simulated detector: realistic predictions from a chunk of ground truth, vectorized, every draw keyed
by (image, row) so the result does not depend on how the images were chunked.

Per image, predictions derived from the truth come first (jittered true boxes, boxes inside group-of boxes,
duplicates, badly localized boxes, copies for ancestor classes; missed boxes give none), the best
``per_image`` kept; false positives fill the rest, on verified-absent classes, on present classes, and on
classes neither verified nor boxed there. Every image gets exactly ``per_image`` predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from pipeline.synth.keyed import below, combine, normal, uniform
from pipeline.synth.truth import DetectionTruth, RelationshipTruth

KINDS = (
    "jittered", "group_part", "duplicate", "poor", "parent",  # derived from a true box
    "fp_negative", "fp_positive", "fp_unverified",  # detection false positives, by what the image says of the class
    "wrong_relationship", "fp",  # relationships: true boxes with another relationship, random triplets
    "bad",  # deliberately invalid (only with bad_fraction > 0)
)  # fmt: skip
KIND = {k: np.int8(i) for i, k in enumerate(KINDS)}
MICRO = 1_000_000
MIN_SIDE = 0.03  # random boxes: sides log-uniform in [MIN_SIDE, 1]
POOR_JITTER = 0.35
SCORE_DIGITS = 12  # decimals of a score: ties among a million scores are unlikely


@dataclass(frozen=True)
class Detector:
    """The simulated detector's rates (shares of ground-truth rows, or of the false-positive slots)."""

    recall: float = 0.85  # true boxes detected
    duplicates: float = 0.2  # detected boxes that get a second, lower-scored box
    poor: float = 0.1  # detected boxes localized badly (IoU mostly < 0.5)
    jitter: float = 0.05  # sd of the centre shift and log-size change, relative to the box
    parents: float = 0.8  # detections copied for every ancestor class (hierarchy)
    fp_negative: float = 0.3  # false positives on a class verified absent from the image
    fp_positive: float = 0.2  # false positives on a class present in the image (a wrong box)
    confusion: float = 0.4  # other false positives placed on a true box of another class
    relationship_recall: float = 0.7  # true relationships detected
    wrong_relationship: float = 0.15  # true relationships also predicted with another relationship label

    def check(self) -> list[str]:
        """The rates outside [0, 1] (and a jitter below 0), as messages."""
        bad = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if not 0 <= getattr(self, f.name) <= 1]
        if self.fp_negative + self.fp_positive > 1:
            bad.append("fp_negative + fp_positive > 1")
        return bad


@dataclass
class Rows:
    """Predictions of a chunk. Detection uses ``label`` and ``box``; relationships also the rest."""

    image: np.ndarray  # int64 index into the chunk's images
    key: np.ndarray  # uint64 keyed-random key of the row
    score: np.ndarray  # float64
    kind: np.ndarray  # int8 code into KINDS
    label: np.ndarray  # int32 class code (LabelName, LabelName1)
    box: np.ndarray  # (n, 4) XMin, XMax, YMin, YMax: fractions, then micro-units (int64) once final
    label2: np.ndarray | None = None
    relation: np.ndarray | None = None
    box2: np.ndarray | None = None

    def columns(self) -> list[np.ndarray | None]:
        return [getattr(self, f.name) for f in fields(self)]

    def take(self, index: np.ndarray) -> Rows:
        return Rows(*(None if c is None else c[index] for c in self.columns()))  # type: ignore[arg-type]

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        columns = zip(*(p.columns() for p in parts), strict=True)
        return Rows(*(None if c[0] is None else np.concatenate(c) for c in columns))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- boxes and scores


def jittered(key: np.ndarray, stream: int, box: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Boxes near ``box``: centre shifted and sides scaled by normal draws of sd ``sigma``."""
    width, height = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
    cx = (box[:, 0] + box[:, 1]) / 2 + normal(key, stream) * sigma * width
    cy = (box[:, 2] + box[:, 3]) / 2 + normal(key, stream + 2) * sigma * height
    width = width * np.exp(normal(key, stream + 4) * sigma)
    height = height * np.exp(normal(key, stream + 6) * sigma)
    return np.stack([cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2], axis=1)


def random_boxes(key: np.ndarray, stream: int) -> np.ndarray:
    """Boxes with log-uniform sides in [MIN_SIDE, 1], anywhere in the image."""
    side = np.exp(np.log(MIN_SIDE) * np.stack([uniform(key, stream), uniform(key, stream + 1)], axis=1))
    low = np.stack([uniform(key, stream + 2), uniform(key, stream + 3)], axis=1) * (1 - side)
    return np.stack([low[:, 0], low[:, 0] + side[:, 0], low[:, 1], low[:, 1] + side[:, 1]], axis=1)


def inside(key: np.ndarray, stream: int, box: np.ndarray) -> np.ndarray:
    """Boxes of 25-70% of each side of ``box``, within it (one object of a group)."""
    out = np.empty_like(box)
    for axis in (0, 1):
        lo, hi = box[:, 2 * axis], box[:, 2 * axis + 1]
        side = (hi - lo) * (0.25 + 0.45 * uniform(key, stream + axis))
        out[:, 2 * axis] = lo + (hi - lo - side) * uniform(key, stream + 2 + axis)
        out[:, 2 * axis + 1] = out[:, 2 * axis] + side
    return out


def micro(box: np.ndarray) -> np.ndarray:
    """Boxes in micro-units, clipped to the image, each side at least one unit."""
    units = np.round(np.nan_to_num(box, nan=0.5) * MICRO).astype(np.int64)
    out = np.empty_like(units)
    for lo in (0, 2):
        out[:, lo] = units[:, lo].clip(0, MICRO - 1)
        out[:, lo + 1] = np.maximum(units[:, lo + 1], out[:, lo] + 1).clip(0, MICRO)
    return out


def power(key: np.ndarray, stream: int, exponent: float, top: float = 1.0) -> np.ndarray:
    """``top · U**exponent``: exponents below 1 give high scores, above 1 low ones."""
    return top * uniform(key, stream) ** exponent


def rank_within(image: np.ndarray) -> np.ndarray:
    """Each row's position among the rows of its image (``image`` sorted)."""
    rows = np.arange(len(image))
    first = np.ones(len(image), bool)
    first[1:] = image[1:] != image[:-1]
    return rows - np.maximum.accumulate(np.where(first, rows, 0))


def best(rows: Rows, per_image: int) -> Rows:
    """Rows ordered by image, then score descending (to 2^-40; nearer scores in row order); at most
    ``per_image`` an image."""
    descending = ((1 << 40) - 1 - (rows.score * (1 << 40)).astype(np.int64)).clip(0, (1 << 40) - 1)
    rows = rows.take(np.argsort((rows.image.astype(np.int64) << 40) | descending, kind="stable"))
    return rows.take(np.flatnonzero(rank_within(rows.image) < per_image))


def _copies(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source row, copy number) of ``counts[i]`` copies of every row ``i``."""
    source = np.repeat(np.arange(len(counts)), counts)
    return source, np.arange(len(source)) - np.repeat(np.cumsum(counts) - counts, counts)


def _fill(rows: Rows, images: int, keys: np.ndarray, per_image: int, tag: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, key) of the false-positive slots that bring every image to ``per_image`` rows."""
    slots = per_image - np.bincount(rows.image, minlength=images)
    image, slot = _copies(slots)
    return image, combine(keys[image], slot, tag)


def _members(image: np.ndarray, codes: np.ndarray, classes: int) -> np.ndarray:
    """Sorted distinct ``image · classes + code`` keys."""
    return np.unique(image.astype(np.int64) * classes + codes)


def _isin(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _per_image(sorted_keys: np.ndarray, images: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, count) of each image's run in ``sorted_keys``."""
    bounds = np.searchsorted(sorted_keys // classes, np.arange(images + 1))
    return bounds[:-1], np.diff(bounds)


def finish(rows: Rows, bad_fraction: float, score_digits: int | None) -> Rows:
    """Scores into (1e-4, 1 - 1e-4) with ``SCORE_DIGITS`` decimals (fewer if asked), boxes into micro-units,
    some rows made bad if asked."""
    score = np.round(1e-4 + (1 - 2e-4) * rows.score, score_digits or SCORE_DIGITS)
    rows = replace(rows, score=score)
    rows.box = micro(rows.box)
    if rows.box2 is not None:
        rows.box2 = micro(rows.box2)
    if bad_fraction > 0:
        bad = np.flatnonzero(uniform(rows.key, 90) < bad_fraction)
        how = below(rows.key[bad], 91, 3)
        box = rows.box
        swap = bad[how == 0]  # XMin > XMax
        box[swap, 0], box[swap, 1] = box[swap, 1].copy(), box[swap, 0].copy()
        flat = bad[how == 1]  # YMin = YMax
        box[flat, 3] = box[flat, 2]
        out = bad[how == 2]  # XMax beyond the image
        box[out, 1] = MICRO + 1 + below(rows.key[out], 92, MICRO // 10)
        rows.kind[bad] = KIND["bad"]
    return rows


# ---------------------------------------------------------------------------- detection


def detect(truth: DetectionTruth, per_image: int, detector: Detector, ancestors: np.ndarray) -> Rows:
    """Predictions (ordered by image, then score descending) on a chunk of boxes and verified labels."""
    d, classes = detector, len(ancestors)
    keys = truth.images.keys
    box_key = combine(keys[truth.box_image], rank_within(truth.box_image), 1)
    detected = uniform(box_key, 1) < d.recall
    poor = uniform(box_key, 2) < d.poor
    parts = np.where(truth.group, 1 + (uniform(box_key, 3) < 0.5) + (uniform(box_key, 4) < 0.25), 1)
    dup = uniform(box_key, 5) < d.duplicates
    source, copy = _copies(detected * (parts + dup))
    key = combine(box_key[source], copy, 2)
    is_dup = dup[source] & (copy == parts[source])
    is_part = truth.group[source] & ~is_dup
    gt = truth.box[source]
    sigma = np.where(is_dup, 2 * d.jitter, np.where(poor[source], POOR_JITTER, d.jitter))
    box = jittered(key, 10, np.where(is_part[:, None], inside(key, 20, gt), gt), sigma)
    first = np.where(poor, power(box_key, 6, 1 / 1.5, 0.9), power(box_key, 6, 1 / 3))[source]
    factor = np.where(is_dup, 0.2 + 0.7 * uniform(key, 7), np.where(copy == 0, 1.0, 0.6 + 0.4 * uniform(key, 7)))
    kind = np.select([is_dup, is_part, poor[source]], [KIND["duplicate"], KIND["group_part"], KIND["poor"]],
                     KIND["jittered"]).astype(np.int8)  # fmt: skip
    label = truth.box_class[source]
    derived = Rows(truth.box_image[source], key, first * factor, kind, label, box)
    # copies for the ancestors of the class, on the same box
    wanted = (ancestors[label] >= 0) & (uniform(key, 8) < d.parents)[:, None]
    row, level = np.nonzero(wanted)
    parent_key = combine(key[row], level, 3)
    parent = Rows(derived.image[row], parent_key, derived.score[row] * (0.85 + 0.15 * uniform(parent_key, 9)),
                  np.full(len(row), KIND["parent"]), ancestors[label[row], level], box[row])  # fmt: skip
    kept = best(Rows.concat([derived, parent]), per_image)
    return best(Rows.concat([kept, _false_positives(truth, kept, per_image, d, classes)]), per_image)


def _false_positives(truth: DetectionTruth, kept: Rows, per_image: int, d: Detector, classes: int) -> Rows:
    n_images = len(truth.images)
    image, key = _fill(kept, n_images, truth.images.keys, per_image, 4)
    positive = truth.positive
    present = _members(np.concatenate([truth.box_image, truth.label_image[positive]]),
                       np.concatenate([truth.box_class, truth.label_class[positive]]), classes)  # fmt: skip
    negative = _members(truth.label_image[~positive], truth.label_class[~positive], classes)
    negative = negative[~_isin(present, negative)]
    known = np.union1d(present, negative)
    u = uniform(key, 1)
    label = below(key, 3, classes).astype(np.int32)  # unverified: redrawn while the image knows the class
    for round_ in range(4):
        again = _isin(known, image * classes + label)
        label = np.where(again, below(key, 4 + round_, classes), label).astype(np.int32)
    for pool, lo, hi in ((negative, 0.0, d.fp_negative), (present, d.fp_negative, d.fp_negative + d.fp_positive)):
        start, count = _per_image(pool, n_images, classes)
        pick = (u >= lo) & (u < hi) & (count[image] > 0)
        at = start[image] + below(key, 2, np.maximum(count[image], 1))
        label = np.where(pick, (pool[np.minimum(at, max(len(pool) - 1, 0))] % classes) if len(pool) else 0, label)
    kind = np.where(
        _isin(present, image * classes + label),
        KIND["fp_positive"],
        np.where(_isin(negative, image * classes + label), KIND["fp_negative"], KIND["fp_unverified"]),
    )
    box_start = np.searchsorted(truth.box_image, np.arange(n_images))
    box_count = np.searchsorted(truth.box_image, np.arange(n_images), "right") - box_start
    on_box = (uniform(key, 10) < d.confusion) & (box_count[image] > 0) & (kind != KIND["fp_positive"])
    gt = truth.box[np.minimum(box_start[image] + below(key, 11, np.maximum(box_count[image], 1)),
                              max(len(truth.box) - 1, 0))] if len(truth.box) else np.zeros((len(key), 4))  # fmt: skip
    box = np.where(on_box[:, None], jittered(key, 20, gt, 2 * d.jitter), random_boxes(key, 30))
    score = np.where(on_box, power(key, 12, 1.2, 0.8), power(key, 12, 2.0, 0.9))
    return Rows(image, key, score, kind.astype(np.int8), label.astype(np.int32), box)


# ---------------------------------------------------------------------------- relationships


def relate(truth: RelationshipTruth, per_image: int, detector: Detector, triplets: np.ndarray,
           relations: np.ndarray, is_code: int) -> Rows:  # fmt: skip
    """Relationship predictions on a chunk. ``triplets``: (k, 3) codes (label 1, label 2, relationship) of the
    valid triplets; ``relations``: the sorted relationship codes (not `is`) a wrong relationship is drawn from."""
    d, n_images = detector, len(truth.images)
    keys = truth.images.keys
    row_key = combine(keys[truth.image], rank_within(truth.image), 5)
    detected = uniform(row_key, 1) < d.relationship_recall
    dup = detected & (uniform(row_key, 2) < d.duplicates)
    # another relationship between two objects (an `is` row keeps its attribute: box 2 stays box 1)
    wrong = (uniform(row_key, 3) < d.wrong_relationship) & (truth.relation != is_code) & (len(relations) > 1)
    source, copy = _copies(detected.astype(np.int64) + dup + wrong)
    key = combine(row_key[source], copy, 6)
    role = np.where(~detected[source] | (~dup[source] & (copy == 1)) | (copy == 2), 2, copy)  # 0 true, 1 dup, 2 wrong
    sigma = np.where(role == 1, 2 * d.jitter, d.jitter)
    same = (truth.box1 == truth.box2).all(axis=1)[source]
    box1 = jittered(key, 10, truth.box1[source], sigma)
    box2 = np.where(same[:, None], box1, jittered(key, 20, truth.box2[source], sigma))
    relation = truth.relation[source].astype(np.int32)
    if len(relations) > 1:
        other = relations[below(key, 4, len(relations))]
        other = np.where(other == relation, relations[(np.searchsorted(relations, other) + 1) % len(relations)], other)
        relation = np.where(role == 2, other, relation).astype(np.int32)
    first = power(row_key, 5, 1 / 2.5)[source]
    score = first * np.select([role == 1, role == 2], [0.2 + 0.7 * uniform(key, 7), 0.3 + 0.5 * uniform(key, 7)], 1.0)
    kind = np.select([role == 1, role == 2], [KIND["duplicate"], KIND["wrong_relationship"]], KIND["jittered"])
    derived = best(Rows(truth.image[source], key, score, kind.astype(np.int8), truth.label1[source], box1,
                        truth.label2[source], relation, box2), per_image)  # fmt: skip
    # false positives: valid triplets, on true boxes now and then, else anywhere
    image, fkey = _fill(derived, n_images, keys, per_image, 7)
    triplet = triplets[below(fkey, 1, len(triplets))]
    start = np.searchsorted(truth.image, np.arange(n_images))
    count = np.searchsorted(truth.image, np.arange(n_images), "right") - start
    on_box = (uniform(fkey, 2) < d.confusion) & (count[image] > 0)
    some_row = np.minimum(start[image] + below(fkey, 3, np.maximum(count[image], 1)), max(len(truth.image) - 1, 0))
    gt1 = truth.box1[some_row] if len(truth.image) else np.zeros((len(fkey), 4))
    gt2 = truth.box2[some_row] if len(truth.image) else np.zeros((len(fkey), 4))
    box1 = np.where(on_box[:, None], jittered(fkey, 10, gt1, 2 * d.jitter), random_boxes(fkey, 30))
    box2 = np.where(on_box[:, None], jittered(fkey, 20, gt2, 2 * d.jitter), random_boxes(fkey, 40))
    box2 = np.where((triplet[:, 2] == is_code)[:, None], box1, box2)
    score = np.where(on_box, power(fkey, 12, 1.2, 0.8), power(fkey, 12, 2.0, 0.9))
    fp = Rows(image, fkey, score, np.full(len(image), KIND["fp"]), triplet[:, 0].astype(np.int32), box1,
              triplet[:, 1].astype(np.int32), triplet[:, 2].astype(np.int32), box2)  # fmt: skip
    return best(Rows.concat([derived, fp]), per_image)
