"""The evaluation benchmark (``make bench-evaluate``): ``oilake evaluate`` against a plain per-image reference.

One run: synthesize the validation split at a scale (1 = the V6 shape: 41,620 images, ~11 boxes and
100 predictions per image) with ``oilake synth``, build its lake, then in child processes measured by
``benchmarks.monitor``: ``oilake evaluate`` over every image (wall time, peak RSS of the tree), and
the plain per-image port of the reference (``tests/tools/oi_reference.py``, numpy, one loop over
images and classes, as tensorflow/models) over the first ``--reference-images`` images, timed on the
evaluation alone and extrapolated linearly to every image. The ratio is the headline. Results go to
``benchmarks/evaluation-results.json``; ``benchmarks.report`` renders them into BENCHMARKS.md.

    python -m benchmarks.evaluation --scale 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.machine import machine_info
from benchmarks.monitor import run_monitored
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
    synth = run_monitored(_oilake("synth", "--scale", f"{scale:g}", "--only", only, "--splits", SPLIT,
                                  "--per-image", str(per_image), "--seed", str(seed), "--dest", str(data)))  # fmt: skip
    if synth.returncode:
        raise RuntimeError(synth.stderr[-2000:])
    predictions = data / f"{SPLIT}-predictions-bbox.csv"
    log("bench-evaluate: build the lake")
    build = run_monitored(_oilake("build", "--source", str(data), "--lake", str(lake), "--full"))
    if build.returncode:
        raise RuntimeError(build.stderr[-2000:])
    load = {"evaluate": list(os.getloadavg())}
    log("bench-evaluate: oilake evaluate")
    evaluated = run_monitored(_oilake("evaluate", "--lake", str(lake), "--predictions", str(predictions),
                                      "--split", SPLIT, "--output", str(out)))  # fmt: skip
    if evaluated.returncode:
        raise RuntimeError(evaluated.stderr[-2000:])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    load["reference"] = list(os.getloadavg())
    log(f"bench-evaluate: the per-image reference on {reference_images:,} images")
    reference = run_monitored(
        [sys.executable, "-c", _REFERENCE, str(ROOT), str(lake), str(predictions), str(reference_images)]
    )
    if reference.returncode:
        raise RuntimeError(reference.stderr[-2000:])
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="validation split as a fraction of V6 (default 1)")
    parser.add_argument("--work", type=Path, default=Path(".bench/evaluation"))
    parser.add_argument("--reference-images", type=int, default=2000, help="images the reference is timed on")
    parser.add_argument("--per-image", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
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
