"""The evaluation benchmark (``make bench-evaluate``): ``oilake evaluate`` against a plain per-image reference.

One run: synthesize the validation split at a scale (1 = the V6 shape: 41,620 images, ~11 boxes and
100 predictions per image) with ``oilake synth``, build its lake, then in child processes measured by
``benchmarks.monitor``: ``oilake evaluate`` over every image (wall time, peak RSS of the tree), and
the plain per-image port of the reference (``tests/tools/oi_reference.py``, numpy, one loop over
images and classes, as tensorflow/models) over the first ``--reference-images`` images, timed on the
evaluation alone and extrapolated linearly to every image. The ratio is the headline. Results go to
``benchmarks/evaluation-results.json``; ``benchmarks.report`` renders them into BENCHMARKS.md.

    python -m benchmarks.evaluation --scale 1
    python -m benchmarks.evaluation --task segmentation --scale 1  # -> evaluation-segmentation-results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.machine import machine_info
from benchmarks.monitor import run_checked
from pipeline.core.progress import log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks") / "evaluation-results.json"
SPLIT = "validation"

# Run by the child process: the reference over the first N images of the split (timed: the evaluation only).
_REFERENCE = r"""
import json, sys, time
import duckdb, numpy as np
sys.path.insert(0, sys.argv[1])
from tests.tools import oi_reference as ref
lake, predictions, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
con = duckdb.connect(lake + "/lake.duckdb", read_only=True)
images = [r[0] for r in con.sql(
    "select distinct image_id from boxes where split = 'validation' order by 1 limit " + str(n)).fetchall()]
con.execute("create temp table chosen as select unnest($i) as image_id", {"i": images})
classes = [r[0] for r in con.sql("select label_mid from classes where is_boxable order by 1").fetchall()]
exact = "cast(cast({} as varchar) as double)"
boxes = con.sql(
    "select image_id, label_mid, " + ", ".join(exact.format(c) for c in ("y_min", "x_min", "y_max", "x_max"))
    + ", coalesce(is_group_of, true) from boxes_expanded join chosen using (image_id) where split = 'validation'"
).fetchall()
labels = con.sql(
    "select distinct image_id, label_mid from image_labels_expanded join chosen using (image_id) "
    "where split = 'validation' and source <> 'machine'").fetchall()
preds = con.sql(
    "select p.\"ImageID\", p.\"LabelName\", p.\"Score\", p.\"YMin\", p.\"XMin\", p.\"YMax\", p.\"XMax\" "
    "from read_csv(?, header = true) as p join chosen on chosen.image_id = p.\"ImageID\"", params=[predictions]
).fetchall()
by_image = {i: ([], [], [], set()) for i in images}
for image, label, y0, x0, y1, x1, group in boxes:
    b = by_image[image]; b[0].append((y0, x0, y1, x1)); b[1].append(label); b[2].append(group)
for image, label in labels:
    by_image[image][3].add(label)
truth = {i: ref.GroundTruth(boxes=np.array(b[0], dtype=float).reshape(-1, 4), labels=b[1],
                            is_group_of=np.array(b[2], dtype=bool), verified_labels=sorted(b[3]))
         for i, b in by_image.items()}
found = {}
for image, label, score, y0, x0, y1, x1 in preds:
    f = found.setdefault(image, ([], [], []))
    f[0].append((y0, x0, y1, x1)); f[1].append(score); f[2].append(label)
dets = {i: ref.Detections(boxes=np.array(f[0], dtype=float).reshape(-1, 4), scores=np.array(f[1]), labels=f[2])
        for i, f in found.items()}
started = time.perf_counter()
metrics = ref.evaluate_detections(truth, dets, classes, metric="challenge")
seconds = time.perf_counter() - started
print(json.dumps({"images": len(images), "predictions": len(preds), "seconds": seconds,
                  "map": None if metrics.mean_ap != metrics.mean_ap else metrics.mean_ap}))
"""


def _oilake(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def run(scale: float, work: Path, reference_images: int, per_image: int, seed: int) -> dict[str, object]:
    """Generate, build, evaluate and time the reference; the results as a dict."""
    work.mkdir(parents=True, exist_ok=True)
    data, lake, out = work / f"data-{scale:g}", work / f"lake-{scale:g}", work / "evaluation"
    only = "boxes,image_labels,classes,hierarchy,predictions"
    log(f"bench-evaluate: synthesize {SPLIT} at scale {scale:g} with {per_image} predictions per image")
    run_checked(_oilake("synth", "--scale", f"{scale:g}", "--only", only, "--splits", SPLIT,
                                  "--per-image", str(per_image), "--seed", str(seed), "--dest", str(data)))  # fmt: skip
    predictions = data / f"{SPLIT}-predictions-bbox.csv"
    log("bench-evaluate: build the lake")
    run_checked(_oilake("build", "--source", str(data), "--lake", str(lake), "--full"))
    load = {"evaluate": list(os.getloadavg())}
    log("bench-evaluate: oilake evaluate")
    evaluated = run_checked(_oilake("evaluate", "--lake", str(lake), "--predictions", str(predictions),
                                      "--split", SPLIT, "--output", str(out)))  # fmt: skip
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    load["reference"] = list(os.getloadavg())
    log(f"bench-evaluate: the per-image reference on {reference_images:,} images")
    reference = run_checked(
        [sys.executable, "-c", _REFERENCE, str(ROOT), str(lake), str(predictions), str(reference_images)]
    )
    timed = json.loads(reference.stdout.strip().splitlines()[-1])
    images = int(summary["images_with_ground_truth"])
    per_image_seconds = timed["seconds"] / max(1, timed["images"])
    extrapolated = per_image_seconds * images
    return {
        "format": 1,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale,
        "seed": seed,
        "machine": machine_info() | {"load_average_phases": load},
        "split": SPLIT,
        "images": images,
        "predictions": summary["counts"]["predictions"],
        "predictions_bytes": predictions.stat().st_size,
        "gt_instances": summary["counts"]["gt_instances"],
        "classes_with_ground_truth": summary["classes_with_ground_truth"],
        "map": summary["map"],
        "oilake": {
            "seconds": evaluated.seconds,
            "peak_rss_bytes": evaluated.peak_rss_bytes,
            "cpu_seconds": evaluated.cpu_seconds,
        },
        "reference": {
            "images": timed["images"],
            "predictions": timed["predictions"],
            "seconds": timed["seconds"],
            "seconds_per_image": per_image_seconds,
            "extrapolated_seconds": extrapolated,
            "peak_rss_bytes": reference.peak_rss_bytes,
            "map_on_subset": timed["map"],
        },
        "ratio": extrapolated / evaluated.seconds if evaluated.seconds else None,
        "targets": {"seconds": 30.0, "peak_rss_bytes": 2 * 1024**3, "ratio": 50.0},
    }


# -- instance segmentation (``--task segmentation``) ----------------------------------------------------------

SEGMENTATION_RESULTS = Path("benchmarks") / "evaluation-segmentation-results.json"
SEG_IMAGES, SEG_MASKS, SEG_BOXES_PER_IMAGE = 41_620, 24_730, 7.3  # the V6 validation split
SEG_CLASSES = [f"/m/s{k:03d}" for k in range(300)]  # as many as the segmentable classes
# (image width, height) -> the mask grid of most images of that shape (the release's sizes); 6% share the image's
SEG_GRIDS = {(1024, 683): (1600, 1066), (1024, 768): (1600, 1200), (768, 1024): (1200, 1600), (1024, 576): (1280, 720)}
SEG_CSV = "ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask"


def _ellipse_columns(cx: float, cy: float, rx: float, ry: float, width: int, height: int,
                     rng: np.random.Generator, jag: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Columns and the [top, bottom) rows of an ellipse (normalized centre and radii) on a ``height x width`` grid."""
    x0, x1 = max(0, int((cx - rx) * width)), min(width, int(np.ceil((cx + rx) * width)))
    cols = np.arange(x0, x1)
    t = ((cols + 0.5) / width - cx) / rx
    half = ry * np.sqrt(np.clip(1 - t * t, 0, 1)) * (1 + jag * rng.standard_normal(cols.size))
    top = np.clip(np.floor((cy - half) * height), 0, height).astype(np.int64)
    bottom = np.clip(np.ceil((cy + half) * height), 0, height).astype(np.int64)
    keep = bottom > top
    return cols[keep], top[keep], bottom[keep]


def _counts(cols: np.ndarray, top: np.ndarray, bottom: np.ndarray, width: int, height: int) -> np.ndarray:
    """COCO RLE counts (column-major, zeros first) of one interval per column."""
    if not cols.size:
        return np.array([width * height], np.int64)
    starts, ends = cols * height + top, cols * height + bottom
    join = np.flatnonzero(starts[1:] == ends[:-1])  # a run down to a column's foot going on at the next one's top
    if join.size:
        keep = np.ones(starts.size, bool)
        keep[join + 1] = False
        ends = np.delete(ends, join)
        starts = starts[keep]
    counts = np.empty(2 * starts.size + 1, np.int64)
    counts[0] = starts[0]
    counts[1:-1:2] = ends - starts
    counts[2:-1:2] = starts[1:] - ends[:-1]
    counts[-1] = width * height - ends[-1]
    return counts


def _png(cols: np.ndarray, top: np.ndarray, bottom: np.ndarray, width: int, height: int) -> bytes:
    """A 1-bit grayscale PNG of one interval per column (filter 0, zlib level 1, as the release writes them)."""
    import struct
    import zlib

    mask = np.zeros((height, width), bool)
    if cols.size:
        rows = np.arange(int(top.min()), int(bottom.max()))
        mask[rows[0] : rows[-1] + 1, cols] = (rows[:, None] >= top[None, :]) & (rows[:, None] < bottom[None, :])
    packed = np.packbits(mask, axis=1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), packed], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def segmentation_source(folder: Path, scale: float, seed: int, per_image: int) -> Path:
    """A source folder of the validation shape with masks, and official segmentation predictions; the CSV's path.

    Boxes (~7.3 an image, 5% group-of), verified labels (the boxed classes, and two verified absent), one
    mask per box for 24,730 of them (ellipses with jagged outlines on the mask grid, 94% of images at another
    size than the image), zipped by the ImageID's first hex digit. Predictions at image resolution: one or
    two per mask (near and far), one for half the boxes without a mask (on the ignore region), and
    ``per_image`` false positives of random classes.
    """
    import zipfile

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_images = max(1, round(SEG_IMAGES * scale))
    drawn = rng.integers(0, 2**63, n_images, dtype=np.int64)
    ids = sorted({f"{int(v) * 2 + int(b):016x}" for v, b in zip(drawn, rng.integers(0, 2, n_images), strict=True)})
    boxes_per = rng.poisson(SEG_BOXES_PER_IMAGE, len(ids))
    total_boxes = int(boxes_per.sum())
    masked = np.zeros(total_boxes, bool)
    masked[rng.choice(total_boxes, min(total_boxes, round(SEG_MASKS * scale)), replace=False)] = True
    shapes = list(SEG_GRIDS)
    box_lines: list[str] = []
    label_lines: list[str] = []
    seg_lines, pred_lines = [SEG_CSV_HEADER], [SEG_CSV]
    archives: dict[str, zipfile.ZipFile] = {}
    k = 0
    for n, image in enumerate(ids):
        iw, ih = shapes[int(rng.integers(0, len(shapes)))]
        mw, mh = SEG_GRIDS[(iw, ih)] if rng.random() >= 0.06 else (iw, ih)
        classes = rng.choice(len(SEG_CLASSES), 6)
        labels = set()
        for _ in range(int(boxes_per[n])):
            label = SEG_CLASSES[int(classes[int(rng.integers(0, 6))])]
            labels.add(label)
            cx, cy = rng.uniform(0.15, 0.85, 2)
            rx, ry = rng.uniform(0.04, 0.2, 2)
            group = rng.random() < 0.05 and not masked[k]
            if masked[k]:
                cols, top, bottom = _ellipse_columns(cx, cy, rx, ry, mw, mh, rng, 0.03)
                if not cols.size:
                    masked[k] = False
            if masked[k]:
                x0, x1 = cols.min() / mw, (cols.max() + 1) / mw
                y0, y1 = top.min() / mh, bottom.max() / mh
            else:
                x0, x1, y0, y1 = max(0.0, cx - rx), min(1.0, cx + rx), max(0.0, cy - ry), min(1.0, cy + ry)
            x0, x1, y0, y1 = (f"{v:.6f}" for v in (x0, x1, y0, y1))
            box_lines.append(f"{image},xclick,{label},1,{x0},{x1},{y0},{y1},0,0,{int(group)},0,0")
            if masked[k]:
                box_id = f"{k:08x}"
                path = f"{image}_{label[1:].replace('/', '')}_{box_id}.png"
                seg_lines.append(f"{path},{image},{label},{box_id},{x0},{x1},{y0},{y1},0.9,")
                if image[0] not in archives:
                    archives[image[0]] = zipfile.ZipFile(folder / f"{SPLIT}-masks-{image[0]}.zip", "w")
                archives[image[0]].writestr(path, _png(cols, top, bottom, mw, mh))
            hits = (1 + int(rng.random() < 0.5)) if masked[k] else int(rng.random() < 0.5)
            for hit in range(hits):
                spread = 0.02 if hit == 0 else 0.12
                px, py = cx + rng.normal(0, spread * rx), cy + rng.normal(0, spread * ry)
                pr = rx * rng.uniform(0.9, 1.1), ry * rng.uniform(0.9, 1.1)
                pc, pt, pb = _ellipse_columns(px, py, *pr, iw, ih, rng, 0.03)
                pred_lines.append(_prediction(image, iw, ih, label, rng.random(), _counts(pc, pt, pb, iw, ih)))
            k += 1
        for label in sorted(labels):
            label_lines.append(f"{image},verification,{label},1")
        for label in rng.choice(SEG_CLASSES, 2):
            if label not in labels:
                label_lines.append(f"{image},verification,{label},0")
        for _ in range(per_image):
            cx, cy = rng.uniform(0.1, 0.9, 2)
            rx, ry = rng.uniform(0.03, 0.2, 2)
            pc, pt, pb = _ellipse_columns(cx, cy, rx, ry, iw, ih, rng, 0.05)
            label = (
                SEG_CLASSES[int(classes[int(rng.integers(0, 6))])]
                if rng.random() < 0.7
                else str(rng.choice(SEG_CLASSES))
            )
            pred_lines.append(_prediction(image, iw, ih, label, rng.random() * 0.6, _counts(pc, pt, pb, iw, ih)))
    for archive in archives.values():
        archive.close()
    header = (
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
    )
    (folder / f"{SPLIT}-annotations-bbox.csv").write_text(header + "\n" + "\n".join(box_lines) + "\n")
    (folder / f"{SPLIT}-annotations-human-imagelabels-boxable.csv").write_text(
        "ImageID,Source,LabelName,Confidence\n" + "\n".join(label_lines) + "\n"
    )
    (folder / f"{SPLIT}-annotations-object-segmentation.csv").write_text("\n".join(seg_lines) + "\n")
    (folder / "class-descriptions-boxable.csv").write_text("".join(f"{c},Class {c[4:]}\n" for c in SEG_CLASSES))
    predictions = folder.parent / f"{folder.name}-{SPLIT}-predictions-masks.csv"
    predictions.write_text("\n".join(pred_lines) + "\n")
    return predictions


SEG_CSV_HEADER = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks"


def _prediction(image: str, width: int, height: int, label: str, score: float, counts: np.ndarray) -> str:
    import base64
    import zlib

    from pipeline.masks import rle

    mask = base64.b64encode(zlib.compress(rle.to_string(counts).encode("ascii"))).decode("ascii")
    return f"{image},{width},{height},{label},{score:.6f},{mask}"


# Run by the child process: the segmentation reference over the first N images (timed: the evaluation only).
_SEG_REFERENCE = r"""
import base64, csv, json, sys, time, zlib
import duckdb, numpy as np
sys.path.insert(0, sys.argv[1])
from pipeline.masks import rle
from tests.tools import oi_reference as ref
lake, predictions, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
con = duckdb.connect(lake + "/lake.duckdb", read_only=True)
images = [r[0] for r in con.sql(
    "select distinct image_id from boxes where split = 'validation' order by 1 limit " + str(n)).fetchall()]
chosen = set(images)
con.execute("create temp table chosen as select unnest($i) as image_id", {"i": images})
classes = [r[0] for r in con.sql("select label_mid from classes where is_boxable order by 1").fetchall()]
exact = "cast(cast({} as varchar) as double)"
rows = con.sql(
    "select b.image_id, b.label_mid, " + ", ".join(exact.format("b." + c) for c in ("y_min", "x_min", "y_max", "x_max"))
    + ", coalesce(b.is_group_of, true), p.mask_width, p.mask_height, p.rle_counts from boxes as b "
    "join chosen using (image_id) left join masks as m on m.split = b.split and m.image_id = b.image_id "
    "and m.label_mid = b.label_mid and m.box_x_min = b.x_min and m.box_x_max = b.x_max and m.box_y_min = b.y_min "
    "and m.box_y_max = b.y_max left join mask_pixels as p on p.split = m.split and p.mask_path = m.mask_path "
    "where b.split = 'validation'").fetchall()
labels = con.sql(
    "select distinct image_id, label_mid from image_labels join chosen using (image_id) "
    "where split = 'validation' and source <> 'machine'").fetchall()
by_image = {i: ([], [], [], [], set()) for i in images}
for image, label, y0, x0, y1, x1, group, width, height, counts in rows:
    b = by_image[image]
    b[0].append((y0, x0, y1, x1)); b[1].append(label); b[2].append(group)
    b[3].append(None if counts is None else rle.decode(rle.from_string(counts), height, width).astype(np.uint8))
for image, label in labels:
    by_image[image][4].add(label)
truth = {i: ref.SegGroundTruth(boxes=np.array(b[0], dtype=float).reshape(-1, 4), labels=b[1], masks=b[3],
                               is_group_of=np.array(b[2], dtype=bool), verified_labels=sorted(b[4]))
         for i, b in by_image.items()}
found, count = {}, 0
with open(predictions, newline="") as f:
    for r in csv.DictReader(f):
        if r["ImageID"] not in chosen:
            continue
        w, h = int(r["ImageWidth"]), int(r["ImageHeight"])
        mask = rle.decode(rle.from_string(zlib.decompress(base64.b64decode(r["Mask"]))), h, w).astype(np.uint8)
        d = found.setdefault(r["ImageID"], ([], [], []))
        d[0].append(mask); d[1].append(float(r["Score"])); d[2].append(r["LabelName"]); count += 1
dets = {i: ref.SegDetections(masks=d[0], scores=np.array(d[1]), labels=d[2]) for i, d in found.items()}
started = time.perf_counter()
metrics = ref.evaluate_segmentation(truth, dets, classes)
seconds = time.perf_counter() - started
print(json.dumps({"images": len(images), "predictions": count, "seconds": seconds,
                  "map": None if metrics.mean_ap != metrics.mean_ap else metrics.mean_ap}))
"""


def run_segmentation(scale: float, work: Path, reference_images: int, per_image: int, seed: int) -> dict[str, object]:
    """Generate a masked validation split, build it, evaluate its masks and time the reference; the results."""
    work.mkdir(parents=True, exist_ok=True)
    data, lake, out = work / f"seg-data-{scale:g}", work / f"seg-lake-{scale:g}", work / "segmentation"
    log(f"bench-evaluate: a {SPLIT} split with masks at scale {scale:g}, {per_image} false positives per image")
    started = time.perf_counter()
    predictions = segmentation_source(data, scale, seed, per_image)
    generated = time.perf_counter() - started
    log("bench-evaluate: build the lake (mask archives included)")
    build = run_checked(_oilake("build", "--source", str(data), "--lake", str(lake), "--full"))
    load = {"evaluate": list(os.getloadavg())}
    log("bench-evaluate: oilake evaluate --task segmentation")
    evaluated = run_checked(_oilake("evaluate", "--lake", str(lake), "--task", "segmentation", "--predictions",
                                      str(predictions), "--split", SPLIT, "--output", str(out)))  # fmt: skip
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    load["reference"] = list(os.getloadavg())
    log(f"bench-evaluate: the per-image segmentation reference on {reference_images:,} images")
    reference = run_checked(
        [sys.executable, "-c", _SEG_REFERENCE, str(ROOT), str(lake), str(predictions), str(reference_images)]
    )
    timed = json.loads(reference.stdout.strip().splitlines()[-1])
    images = int(summary["images_with_ground_truth"])
    per_image_seconds = timed["seconds"] / max(1, timed["images"])
    extrapolated = per_image_seconds * images
    return {
        "format": 1,
        "task": "segmentation",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale,
        "seed": seed,
        "machine": machine_info() | {"load_average_phases": load},
        "split": SPLIT,
        "images": images,
        "predictions": summary["counts"]["predictions"],
        "predictions_bytes": predictions.stat().st_size,
        "gt_masks": summary["counts"]["gt_masks"],
        "gt_boxes_without_mask": summary["counts"]["gt_boxes_without_mask"],
        "classes_with_ground_truth": summary["classes_with_ground_truth"],
        "map": summary["map"],
        "generate_seconds": generated,
        "build_seconds": build.seconds,
        "oilake": {
            "seconds": evaluated.seconds,
            "peak_rss_bytes": evaluated.peak_rss_bytes,
            "cpu_seconds": evaluated.cpu_seconds,
        },
        "reference": {
            "images": timed["images"],
            "predictions": timed["predictions"],
            "seconds": timed["seconds"],
            "seconds_per_image": per_image_seconds,
            "extrapolated_seconds": extrapolated,
            "peak_rss_bytes": reference.peak_rss_bytes,
            "map_on_subset": timed["map"],
        },
        "ratio": extrapolated / evaluated.seconds if evaluated.seconds else None,
        "targets": {"seconds": 60.0},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="validation split as a fraction of V6 (default 1)")
    parser.add_argument("--work", type=Path, default=Path(".bench/evaluation"))
    parser.add_argument("--reference-images", type=int, default=2000, help="images the reference is timed on")
    parser.add_argument("--per-image", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=None, help=f"default {RESULTS} ({SEGMENTATION_RESULTS})")
    parser.add_argument("--report", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument(
        "--task", choices=("detection", "segmentation"), default="detection",
        help="segmentation: masks at the validation shape (24,730 masks), --per-image false positives (default 5)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.task == "segmentation":
        per_image = args.per_image if args.per_image != 100 else 5
        results = run_segmentation(args.scale, args.work.resolve(), min(args.reference_images, 500), per_image,
                                   args.seed)  # fmt: skip
        results["seconds"] = time.perf_counter() - started
        path = args.results or SEGMENTATION_RESULTS
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        log(f"bench-evaluate wrote {path}")
        return
    args.results = args.results or RESULTS
    results = run(args.scale, args.work.resolve(), args.reference_images, args.per_image, args.seed)
    results["seconds"] = time.perf_counter() - started
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"bench-evaluate wrote {args.results}")
    from benchmarks.report import rerender

    rerender(args.report)
    log(f"bench-evaluate wrote {args.report}")


if __name__ == "__main__":
    main()
