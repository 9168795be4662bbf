"""The mask benchmark (``make bench-masks``): decode + encode of mask PNGs, oilake against the plain loop.

One run: ``oilake synth`` writes the train mask archives at a scale (0.015: ~40,000 masks; the writer's
masks/s is recorded too), then, each in a child process measured by ``benchmarks.monitor`` (wall time, peak
RSS of the tree): oilake's ``pipeline.masks.rows.encode_members`` over every member of every archive
(streamed by ``pipeline.masks.zip_members``, a process pool of 2 workers: decode, COCO RLE, row), the plain
loop on one core (``zipfile``, Pillow ``Image.open`` + numpy + ``pycocotools.mask.encode``), and
``oilake build --only mask_pixels`` of the archives (the whole process: reading, encoding, Parquet, catalog).
Both loops hash the RLE strings they make, in member order: the results must be equal. Results go to
``benchmarks/masks-results.json``; ``splice`` writes its section into BENCHMARKS.md.

    python -m benchmarks.masks --scale 0.015
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_info
from benchmarks.monitor import run_checked
from pipeline.core.progress import log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks") / "masks-results.json"
SPLIT = "train"
TARGET_MASKS_PER_SECOND = 1500.0  # the 2.69M train masks in <= 30 minutes
TRAIN_MASKS = 2_686_666
SECTION = "## Masks: decode + encode of the mask PNGs"

# Run by a child process: oilake's encoder over every member of the archives (2 worker processes).
_OILAKE = r"""
import hashlib, json, sys, time
from pathlib import Path
from pipeline.masks.rows import encode_members, mask_pool
from pipeline.masks.zip_members import LocalRanges, ZipArchive
archives = sys.argv[1:]
digest, masks, rejects, data = hashlib.sha256(), 0, 0, 0
from pipeline.masks.rows import encode_batch
with mask_pool(2) as pool:
    list(pool.map(encode_batch, [[], []]))  # the workers started and their imports done before the clock
    started = time.perf_counter()
    for path in archives:
        with ZipArchive(LocalRanges(path)) as archive:
            def members(archive=archive):
                global data
                for member in archive.members():
                    data += len(member.data)
                    yield member
            for batch in encode_members(members(), workers=2, pool=pool):
                for counts in batch.columns["rle_counts"]:
                    digest.update(counts.encode("ascii") + b"\n")
                masks += batch.rows
                rejects += len(batch.rejects)
    seconds = time.perf_counter() - started
print(json.dumps({"masks": masks, "rejects": rejects, "png_bytes": data, "seconds": seconds,
                  "sha256": digest.hexdigest()}))
"""

# Run by a child process: the plain loop, one core (zipfile, Pillow, numpy, pycocotools).
_PLAIN = r"""
import hashlib, io, json, sys, time, zipfile
import numpy as np
from PIL import Image
from pycocotools import mask as coco
archives = sys.argv[1:]
digest, masks = hashlib.sha256(), 0
started = time.perf_counter()
for path in archives:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            pixels = np.array(Image.open(io.BytesIO(archive.read(info)))) != 0
            rle = coco.encode(np.asfortranarray(pixels, dtype=np.uint8))
            digest.update(rle["counts"] + b"\n")
            masks += 1
seconds = time.perf_counter() - started
print(json.dumps({"masks": masks, "seconds": seconds, "sha256": digest.hexdigest()}))
"""


def _oilake(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def _child(code: str, archives: list[Path]) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``code`` over ``archives``; its JSON line and the monitor's measures."""
    done = run_checked([sys.executable, "-c", code, *map(str, archives)])
    measured = {"process_seconds": done.seconds, "peak_rss_bytes": done.peak_rss_bytes, "cpu_seconds": done.cpu_seconds}
    return json.loads(done.stdout.strip().splitlines()[-1]), measured


def run(scale: float, work: Path, seed: int) -> dict[str, Any]:
    """Synthesize the train archives (reused when identical), time both loops and the build; the results."""
    work.mkdir(parents=True, exist_ok=True)
    data, lake = work / f"data-{scale:g}", work / f"lake-{scale:g}"
    log(f"bench-masks: synthesize the {SPLIT} mask archives at scale {scale:g}")
    synth = run_checked(_oilake("synth", "--scale", f"{scale:g}", "--only", "masks", "--splits", SPLIT,
                                  "--seed", str(seed), "--dest", str(data)))  # fmt: skip
    written = [line.split("\t") for line in synth.stdout.splitlines()[1:] if "-masks-" in line]
    writer = {"masks": sum(int(r[1]) for r in written), "seconds": sum(float(r[3]) for r in written)}
    archives = sorted(data.glob(f"{SPLIT}-masks-*.zip"))
    archive_bytes = sum(p.stat().st_size for p in archives)
    load = {"oilake": list(os.getloadavg())}
    log(f"bench-masks: oilake encode_members (2 workers) over {len(archives)} archives")
    ours, ours_run = _child(_OILAKE, archives)
    load["plain"] = list(os.getloadavg())
    log("bench-masks: the plain loop (Pillow + pycocotools, one core)")
    plain, plain_run = _child(_PLAIN, archives)
    load["build"] = list(os.getloadavg())
    log("bench-masks: oilake build --only mask_pixels")
    build = run_checked(_oilake("build", "--source", str(data), "--lake", str(lake), "--only", "mask_pixels",
                                  "--full"))  # fmt: skip
    masks = int(ours["masks"])
    ours_rate, plain_rate = masks / ours["seconds"], plain["masks"] / plain["seconds"]
    built = {"seconds": build.seconds, "peak_rss_bytes": build.peak_rss_bytes, "cpu_seconds": build.cpu_seconds}
    return {
        "format": 1,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale,
        "seed": seed,
        "machine": machine_info() | {"load_average_phases": load},
        "split": SPLIT,
        "archives": len(archives),
        "archive_bytes": archive_bytes,
        "masks": masks,
        "png_bytes": ours["png_bytes"],
        "writer": writer | {"masks_per_second": writer["masks"] / writer["seconds"] if writer["seconds"] else None},
        "oilake": ours | ours_run | {"masks_per_second": ours_rate},
        "plain": plain | plain_run | {"masks_per_second": plain_rate},
        "results_equal": ours["sha256"] == plain["sha256"] and ours["masks"] == plain["masks"],
        "ratio": ours_rate / plain_rate,
        "build": built | {"masks_per_second": masks / build.seconds},
        "targets": {"masks_per_second": TARGET_MASKS_PER_SECOND},
    }


def _mb(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def section(r: dict[str, Any], results_path: Path, report_dir: Path) -> list[str]:
    """The Markdown section of a run's results."""
    ours, plain, build, writer = r["oilake"], r["plain"], r["build"], r["writer"]
    goal = r["targets"]["masks_per_second"]

    def status(rate: float) -> str:
        return "met" if rate >= goal else "**missed**"

    def minutes(rate: float) -> str:
        return f"{TRAIN_MASKS / rate / 60:,.0f} min"

    rows = [
        ["oilake `encode_members` (2 processes)", f"{ours['masks_per_second']:,.0f}", f"{ours['seconds']:,.1f}",
         f"{_mb(ours['peak_rss_bytes'])}", minutes(ours["masks_per_second"]), status(ours["masks_per_second"])],
        ["plain loop: Pillow + numpy + pycocotools (1 core)", f"{plain['masks_per_second']:,.0f}",
         f"{plain['seconds']:,.1f}", f"{_mb(plain['peak_rss_bytes'])}", minutes(plain["masks_per_second"]),
         "(the baseline)"],
        ["`oilake build --only mask_pixels` (whole process)", f"{build['masks_per_second']:,.0f}",
         f"{build['seconds']:,.1f}", f"{_mb(build['peak_rss_bytes'])}", minutes(build["masks_per_second"]),
         status(build["masks_per_second"])],
    ]  # fmt: skip
    rel = Path(os.path.relpath(results_path.resolve(), report_dir.resolve())).as_posix()
    loads = ", ".join(f"{k} {v[0]:.1f}" for k, v in r["machine"]["load_average_phases"].items())
    return [
        SECTION,
        "",
        f"From [`{results_path.name}`]({rel}) (`make bench-masks`, {r['date']}): the {r['split']} mask archives "
        f"of `oilake synth --scale {r['scale']:g}`, {r['archives']} archives, {r['masks']:,} masks "
        f"({_mb(r['png_bytes'])} MB of PNG, {_mb(r['archive_bytes'])} MB of zip; the writer drew them at "
        f"{writer['masks_per_second']:,.0f} masks/s on 2 threads). Each loop reads every member, decodes the "
        "PNG and encodes the mask as the COCO compressed counts string; both hash their strings in member "
        f"order, and the hashes are {'equal' if r['results_equal'] else '**not equal**'}. Seconds are the "
        "loop's own (after the imports and the pool's start; the child process took "
        f"{ours['process_seconds']:,.1f} s and {plain['process_seconds']:,.1f} s in all); peak RSS is the child "
        "process tree's. The build "
        "is the whole `oilake build` process (planning, reading by ranges, encoding in its pool, Parquet, "
        "catalog, manifest). The goal: ≥ "
        f"{goal:,.0f} masks/s, the release's {TRAIN_MASKS:,} train masks in ≤ 30 minutes. oilake is "
        f"**{r['ratio']:,.1f}×** the plain loop. 1-minute load average per phase: {loads} (2 CPUs).",
        "",
        "| loop | masks/s | seconds | peak RSS MB | train masks at this rate | goal ≥ 1,500 masks/s |",
        "|---|---|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
    ]


def splice(report: Path, lines: list[str]) -> None:
    """Put ``lines`` into ``report`` in place of its Masks section, or before "## All runs"."""
    text = report.read_text(encoding="utf-8").split("\n") if report.is_file() else []
    block = lines if lines[-1] == "" else [*lines, ""]
    if SECTION in text:
        start = text.index(SECTION)
        end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")), len(text))
        text[start:end] = block
    elif "## All runs" in text:
        at = text.index("## All runs")
        text[at:at] = block
    else:
        text += block
    report.write_text("\n".join(text), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.masks", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.015, help="train archives at this scale (0.015: ~40k masks)")
    parser.add_argument("--work", type=Path, default=Path(".bench/masks"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(args.scale, args.work.resolve(), args.seed)
    results["seconds"] = time.perf_counter() - started
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"bench-masks wrote {args.results}")
    splice(args.report, section(results, args.results, args.report.parent))
    log(f"bench-masks wrote its section of {args.report}")


if __name__ == "__main__":
    main()
