"""Image-level labels: human-verified (the full file and its ``-boxable`` subset) and machine-generated.

The ``-boxable`` file is exactly the boxable-class rows of the full file (on boxable images), so the
build counts every one of its rows as a duplicate of the full file when both are present.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, partial

import numpy as np
import pyarrow as pa

from pipeline.synth import text
from pipeline.synth.core import Chunk, Group, Task, distinct_within_images, image_ids, lines, output
from pipeline.synth.plan import SPLIT_KEY, Universe, cuts, draw, spread, stream, universe, zipf_cdf
from pipeline.synth.vocab import classes

CHUNK_LABELS = 1_200_000
NEGATIVE_SHARE = 0.65  # of human-verified labels (confidence 0)
CROWDSOURCE_SHARE = 0.25  # of human-verified labels
HUMAN_SOURCES = ("verification", "crowdsource-verification")


@cache
def _cdf(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes by rank, cumulative Zipf weights) of the boxable, non-boxable or all classes."""
    cls = classes()
    ranked = {
        "boxable": cls.boxable_by_rank,
        "other": cls.other_by_rank,
        "all": np.concatenate([cls.boxable_by_rank, cls.other_by_rank]),
    }[kind]
    return ranked, zipf_cdf(len(ranked), 1.0)


def _labels(rng: np.random.Generator, kind: str, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image index, class code) of ``counts[i]`` distinct classes per image, sorted."""
    ranked, cdf = _cdf(kind)
    image = np.repeat(np.arange(len(counts)), counts)

    def redraw(k: int) -> np.ndarray:
        return ranked[rng.integers(0, len(ranked), k)]

    codes = distinct_within_images(image, ranked[draw(rng, cdf, len(image))], len(classes().mids), redraw)
    return image, codes


@cache
def _human_table() -> pa.StringArray:
    """``source,mid,confidence\\n`` for ``code = mid · 4 + source · 2 + confidence``."""
    return text.table([f"{s},{m},{c}\n" for m in classes().mids for s in HUMAN_SOURCES for c in (0, 1)])


def _human_chunk(
    seed: int, split: str, block: int, lo: int, ids: np.ndarray, boxable: np.ndarray, other: np.ndarray,
    names: tuple[str, str], wanted: frozenset[str],
) -> Chunk:  # fmt: skip
    rng = stream(seed, 7, SPLIT_KEY[split], block, lo)
    classes_count = len(classes().mids)
    b_image, b_codes = _labels(rng, "boxable", boxable)
    o_image, o_codes = _labels(rng, "other", other)
    key = np.concatenate([b_image * classes_count + b_codes, o_image * classes_count + o_codes])
    key.sort()
    image, codes = np.divmod(key, classes_count)
    n = len(key)
    code = codes * 4 + (rng.random(n) < CROWDSOURCE_SHARE) * 2 + (rng.random(n) >= NEGATIVE_SHARE)
    full, subset = names
    out: Chunk = {}
    if full in wanted:
        out[full] = (lines([image_ids(ids[image]), text.pick(_human_table(), code)]), n)
    if subset in wanted:
        keep = classes().is_boxable[codes]
        part = [image_ids(ids[image[keep]]), text.pick(_human_table(), code[keep])]
        out[subset] = (lines(part), int(keep.sum()))
    return out


def human_group(seed: int, split: str, scale: float) -> Group:
    """``*-human-imagelabels.csv`` and ``*-human-imagelabels-boxable.csv`` of one split."""
    full = output("image_labels_human", split, scale)
    subset = output("image_labels_human_boxable", split, scale)

    def tasks(wanted: frozenset[str]) -> Iterator[Task]:
        world = universe(seed, split, scale)
        boxable_rows = min(subset.rows, full.rows)
        other_rows = full.rows - boxable_rows
        for k in range(world.blocks):
            block = world.block(k)
            rng = stream(seed, 6, SPLIT_KEY[split], k)
            on_boxable = np.zeros(len(block.ids), np.int64)
            on_boxable[block.boxable] = spread(
                rng, int(block.boxable.sum()), world.block_rows(boxable_rows, k, True), 2.0
            )
            other = spread(rng, len(block.ids), world.block_rows(other_rows, k, False), 2.0)
            for lo, hi in cuts(on_boxable + other, CHUNK_LABELS):
                names = (full.file.name, subset.file.name)
                yield partial(
                    _human_chunk, seed, split, k, lo, block.ids[lo:hi], on_boxable[lo:hi], other[lo:hi], names, wanted
                )

    return Group(f"image_labels_human/{split}", (full, subset), tasks)


@cache
def _machine_tables() -> tuple[pa.StringArray, pa.StringArray]:
    labels = text.table([f"machine,{m}" for m in classes().mids])
    confidences = text.table([f"{h / 100!r}\n" for h in range(101)])
    return labels, confidences


def _machine_chunk(seed: int, split: str, block: int, lo: int, ids: np.ndarray, counts: np.ndarray, name: str) -> Chunk:
    rng = stream(seed, 9, SPLIT_KEY[split], block, lo)
    image, codes = _labels(rng, "all", counts)
    hundredths = rng.integers(50, 100, len(codes))
    hundredths = np.where(rng.random(len(codes)) < 0.3, hundredths // 10 * 10, hundredths)
    labels, confidences = _machine_tables()
    parts = [image_ids(ids[image]), text.pick(labels, codes), text.pick(confidences, hundredths)]
    return {name: (lines(parts), len(codes))}


def machine_group(seed: int, split: str, scale: float) -> Group:
    """``*-machine-imagelabels.csv`` of one split: fractional confidences."""
    out = output("image_labels_machine", split, scale)

    def tasks(wanted: frozenset[str]) -> Iterator[Task]:
        world: Universe = universe(seed, split, scale)
        for k in range(world.blocks):
            block = world.block(k)
            rows = world.block_rows(out.rows, k, False)
            counts = spread(stream(seed, 8, SPLIT_KEY[split], k), len(block.ids), rows, 2.0)
            for lo, hi in cuts(counts, CHUNK_LABELS):
                yield partial(_machine_chunk, seed, split, k, lo, block.ids[lo:hi], counts[lo:hi], out.file.name)

    return Group(f"image_labels_machine/{split}", (out,), tasks)
