"""Localized narratives (JSON lines): captions, timed utterances and mouse traces, ~32 KB a narrative.

Numbers are written as Python's ``json.dumps`` writes them (``0.8606``, ``-0.007``, ``12.5``), with the
published ``", "`` and ``": "`` separators. A trace point is three ``take``s from tables that hold the
JSON around the numbers, so a narrative's traces are one contiguous slice of the joined points.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.synth import text
from pipeline.synth.core import Chunk, Group, Output, Task, image_ids, official
from pipeline.synth.plan import SPLIT_KEY, cuts, file_rows, rows_of, spread, stream, universe
from pipeline.synth.vocab import CAPTION_PHRASES

CHUNK_NARRATIVES = 1_000
DATASET = {"train": "open_images_train_v6", "validation": "open_images_validation", "test": "open_images_test"}
MEAN_SENTENCES = 2.4  # ~36 words a caption
PHRASES = CAPTION_PHRASES[0] + CAPTION_PHRASES[1] + CAPTION_PHRASES[2]
_KIND_SIZES = np.cumsum([0, *(len(k) for k in CAPTION_PHRASES)])
PHRASE_KINDS = np.stack([_KIND_SIZES[:-1], _KIND_SIZES[1:]], axis=1)  # [first, end) code of each kind
MEAN_POINTS = 770  # trace points per narrative (~32 KB with the caption)
EMPTY_TRACES = 0.005
ANNOTATORS = 211  # prime: (first + 37 · k) mod 211 differs for the k narratives of an image
COORD_OFFSET = 200  # trace coordinate codes: round(v · 10⁴) + 200, v in [-0.02, 1.02]
COORD_CODES = 10_401
MAX_MS = 300_000


@cache
def _phrase_table() -> pa.StringArray:
    """Caption phrases ``code = phrase · 4 + sentence end · 2 + space``: ``a man``, ``a man.``, ``a man ``…"""
    return text.table([p + e + s for p in PHRASES for e in ("", ".") for s in ("", " ")])


@cache
def _time_table() -> pa.StringArray:
    """``repr(ms / 1000)`` for every millisecond up to ``MAX_MS``."""
    return text.table([repr(ms / 1000) for ms in range(MAX_MS + 1)])


@cache
def _point_tables() -> tuple[pa.StringArray, pa.StringArray, pa.StringArray]:
    """x (``{"x": X, "y": ``, a segment's first point with ``[``), y (``Y, "t": ``) and t (``T}, ``,
    ``T}], `` at a segment end, ``T}]`` at the trace end) tables."""
    numbers = [repr((c - COORD_OFFSET) / 10_000) for c in range(COORD_CODES)]
    xs = [f'{p}{{"x": {v}, "y": ' for p in ("", "[") for v in numbers]
    ys = [f'{v}, "t": ' for v in numbers]
    times = pc.binary_join_element_wise(_time_table(), "}", "")
    ts = pa.concat_arrays([pc.binary_join_element_wise(times, end, "") for end in (", ", "], ", "]")])
    return text.table(xs), text.table(ys), ts


def _segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` restarting at each group of ``counts[i]`` consecutive elements."""
    total = np.cumsum(values, dtype=values.dtype)
    before = np.concatenate([np.zeros(1, total.dtype), total])[_offsets(counts)[:-1]]
    return total - np.repeat(before, counts)


def _ends(strings: pa.StringArray) -> np.ndarray:
    """Cumulative byte lengths of ``strings``."""
    offsets = text.offsets_of(strings)
    return (offsets[1:] - offsets[0]).astype(np.int64)


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _captions(rng: np.random.Generator, n: int) -> tuple[pa.StringArray, pa.StringArray, np.ndarray]:
    """(caption per narrative, utterance texts, utterances per narrative).

    A sentence is an opener, an object, then 0-3 (connector, object) pairs: "In this image we can see a
    man and a car on the left side a building." Utterances are one or two phrases.
    """
    sentences = 1 + rng.poisson(MEAN_SENTENCES - 1, n)
    pairs = rng.integers(0, 4, int(sentences.sum()))
    per_sentence = 2 + 2 * pairs
    position = np.arange(int(per_sentence.sum())) - np.repeat(_offsets(per_sentence)[:-1], per_sentence)
    kind = np.where(position == 0, 0, np.where(position % 2 == 1, 1, 2))  # opener, object, connector
    low, high = PHRASE_KINDS[kind, 0], PHRASE_KINDS[kind, 1]
    phrase = low + (rng.random(len(kind)) * (high - low)).astype(np.int64)
    sentence_end = np.zeros(len(kind), bool)
    sentence_end[_offsets(per_sentence)[1:] - 1] = True
    tokens = np.bincount(np.repeat(np.arange(n), sentences), weights=per_sentence, minlength=n).astype(np.int64)
    owner = np.repeat(np.arange(n), tokens)
    starts = _offsets(tokens)
    last = np.zeros(len(owner), bool)
    last[starts[1:] - 1] = True
    utterance_last = (rng.random(len(owner)) < 0.7) | last
    base = phrase * 4 + sentence_end * 2
    caption_tokens = text.pick(_phrase_table(), base + ~last)
    utterance_tokens = text.pick(_phrase_table(), base + ~utterance_last)
    token_ends = _ends(caption_tokens)
    captions = text.from_slices(text.data_of(caption_tokens), np.concatenate([[0], token_ends[starts[1:] - 1]]))
    cut = np.flatnonzero(utterance_last)
    utterances = text.from_slices(text.data_of(utterance_tokens), np.concatenate([[0], _ends(utterance_tokens)[cut]]))
    return captions, utterances, np.bincount(owner[cut], minlength=n)


def _timed_captions(rng: np.random.Generator, utterances: pa.StringArray, per_narrative: np.ndarray,
                    start_ms: np.ndarray) -> pa.StringArray:  # fmt: skip
    """``{"utterance": …, "start_time": …, "end_time": …}, …`` per narrative."""
    owner = np.repeat(np.arange(len(per_narrative)), per_narrative)
    duration = rng.integers(200, 1200, len(owner))
    gap = rng.integers(0, 300, len(owner))
    end = np.minimum(start_ms[owner] + _segment_cumsum(gap + duration, per_narrative), MAX_MS)
    begin = np.maximum(end - duration, 0)
    times = _time_table()
    elements = text.join(
        ['{"utterance": "', utterances, '", "start_time": ', text.pick(times, begin), ', "end_time": ',
         text.pick(times, end), "}"]
    )  # fmt: skip
    listed = pa.ListArray.from_arrays(pa.array(_offsets(per_narrative), pa.int32()), elements)
    return pc.binary_join(listed, ", ")


def _traces(rng: np.random.Generator, n: int, start_ms: np.ndarray) -> pa.StringArray:
    """``[{"x": …, "y": …, "t": …}, …], […]`` per narrative (empty for a few): a random walk in 10⁻⁴
    steps reflected into [-0.02, 1.02], 15-60 ms a point, a pause before each new segment."""
    points = np.maximum(20, rng.gamma(4.0, MEAN_POINTS / 4.0, n)).astype(np.int64)
    points[rng.random(n) < EMPTY_TRACES] = 0
    offsets = _offsets(points)
    drawn = points > 0
    starts, ends = offsets[:-1][drawn], offsets[1:][drawn]
    total = int(offsets[-1])
    segment_start = np.zeros(total, bool)
    segment_start[starts] = True
    extra = rng.poisson(1.5, len(starts))  # further segments per trace
    segment_start[
        np.repeat(starts, extra) + (rng.random(int(extra.sum())) * np.repeat(ends - starts, extra)).astype(np.int64)
    ] = True
    last = np.zeros(total, bool)
    last[ends - 1] = True
    segment_end = np.append(segment_start[1:], True) | last
    xy = np.empty((total, 2), np.int32)
    for axis in range(2):
        steps = rng.integers(-200, 201, total, dtype=np.int32)
        steps[starts] = rng.integers(1200, 9200, len(starts), dtype=np.int32)  # 0.1 .. 0.9
        walk = _segment_cumsum(steps, points) % (2 * (COORD_CODES - 1))
        xy[:, axis] = (COORD_CODES - 1) - np.abs(walk - (COORD_CODES - 1))  # reflected into [0, COORD_CODES)
    step_ms = rng.integers(15, 60, total, dtype=np.int32)
    step_ms[segment_start] += rng.integers(200, 900, int(segment_start.sum()), dtype=np.int32)
    step_ms[starts] = start_ms[drawn]
    t = np.minimum(_segment_cumsum(step_ms, points), MAX_MS)
    variant = np.where(last, 2, segment_end.astype(np.int32))
    x_table, y_table, t_table = _point_tables()
    joined = text.join(
        [text.pick(x_table, xy[:, 0] + segment_start * COORD_CODES), text.pick(y_table, xy[:, 1]),
         text.pick(t_table, t + variant * (MAX_MS + 1))]
    )  # fmt: skip
    bounds = np.concatenate([[0], _ends(joined)])[offsets]
    return text.from_slices(text.data_of(joined), bounds)


def narrative_lines(rng: np.random.Generator, split: str, ids: np.ndarray, counts: np.ndarray) -> pa.StringArray:
    """``counts[i]`` narratives on image ``ids[i]``, one JSON line each."""
    n = int(counts.sum())
    image = np.repeat(np.arange(len(ids)), counts)
    rank = np.arange(n) - np.repeat(_offsets(counts)[:-1], counts)
    annotator = text.integers((rng.integers(0, ANNOTATORS, len(ids))[image] + 37 * rank) % ANNOTATORS)
    start_ms = rng.integers(0, 1500, n)
    captions, utterances, per_narrative = _captions(rng, n)
    timed = _timed_captions(rng, utterances, per_narrative, start_ms)
    traces = _traces(rng, n, start_ms + rng.integers(0, 500, n))
    dataset = DATASET[split]
    image_id = image_ids(ids[image])
    voice = text.join([f"{dataset}/{dataset}_", annotator, "_", image_id, ".ogg"])
    return text.join(
        [f'{{"dataset_id": "{dataset}", "image_id": "', image_id, '", "annotator_id": ', annotator,
         ', "caption": "', captions, '", "timed_caption": [', timed, '], "traces": [', traces,
         '], "voice_recording": "', voice, '"}\n']
    )  # fmt: skip


def _chunk(seed: int, split: str, block: int, lo: int, ids: np.ndarray, counts: np.ndarray, first: int,
           shards: list[tuple[str, int, int]]) -> Chunk:  # fmt: skip
    """Narratives ``first ..`` of the split; ``shards`` are (file, first row, end row) in split order."""
    rows = narrative_lines(stream(seed, 13, SPLIT_KEY[split], block, lo), split, ids, counts)
    out: Chunk = {}
    end = first + len(rows)
    for name, lo_row, hi_row in shards:
        a, b = max(first, lo_row), min(end, hi_row)
        if a < b:
            out[name] = (text.data_of(rows.slice(a - first, b - a)), b - a)
    return out


def group(seed: int, split: str, scale: float) -> Group:
    """The narratives of a split (train: ten shards, consecutive in ImageID order)."""
    outputs = []
    bounds = []
    row = 0
    for file in official("narratives", split):
        rows = file_rows(file, scale)
        outputs.append(Output(file, rows, b""))
        bounds.append((file.name, row, row + rows))
        row += rows

    def tasks(wanted: frozenset[str]) -> Iterator[Task]:
        world = universe(seed, split, scale)
        total = rows_of("narratives", split, scale)
        shards = [b for b in bounds if b[0] in wanted]
        for k in range(world.blocks):
            block = world.block(k)
            ids = block.boxable_ids
            counts = spread(stream(seed, 12, SPLIT_KEY[split], k), len(ids), world.block_rows(total, k, True), 1.0)
            first = world.cum_rows(total, k, True)
            for lo, hi in cuts(counts, CHUNK_NARRATIVES):
                start = first + int(counts[:lo].sum())
                if any(a < start + counts[lo:hi].sum() and start < b for _, a, b in shards):
                    yield partial(_chunk, seed, split, k, lo, ids[lo:hi], counts[lo:hi], start, shards)

    return Group(f"narratives/{split}", tuple(outputs), tasks)
