"""``write_predictions``: synthetic detector output for the ground truth of any folder of official files,
in the official CSV columns, as Parquet, or in the Kaggle submission form; streamed, deterministic for a seed."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.official import SPLITS
from pipeline.core.progress import log
from pipeline.synth import text
from pipeline.synth.core import in_order
from pipeline.synth.detector import KINDS, MICRO, SCORE_DIGITS, Detector, Rows, detect, finish, rank_within, relate
from pipeline.synth.truth import (
    Images,
    PredictionsError,
    Unsorted,
    ancestor_table,
    boxable_classes,
    detection_truth,
    find,
    official_name,
    relationship_truth,
    triplets,
)

TASKS = ("detection", "relationships")
FORMS = ("csv", "parquet", "kaggle")
DETECTION_COLUMNS = ("ImageID", "LabelName", "Score", "XMin", "XMax", "YMin", "YMax")
RELATIONSHIP_COLUMNS = ("ImageID", "LabelName1", "LabelName2", "XMin1", "XMax1", "YMin1", "YMax1",
                        "XMin2", "XMax2", "YMin2", "YMax2", "RelationshipLabel", "Score")  # fmt: skip
KAGGLE_COLUMNS = ("ImageId", "PredictionString")  # PredictionString: `LabelName Score XMin YMin XMax YMax …`
PREDICTIONS_PER_CHUNK = 250_000  # rows a chunk (two chunks are generated at a time)

__all__ = ["FORMS", "TASKS", "Detector", "PredictionsError", "PredictionsFile", "check_options", "file_name",
           "write_all", "write_predictions"]  # fmt: skip


@dataclass
class PredictionsFile:
    """One written predictions file."""

    path: Path
    split: str
    kind: str  # detection or relationships
    form: str  # csv, parquet or kaggle
    rows: int
    images: int
    bytes: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)  # rows by what they are (detector.KINDS)


def file_name(split: str, kind: str = "detection", form: str = "csv") -> str:
    """``validation-predictions-bbox.csv``, ``…-vrd.parquet``, ``…-bbox-kaggle.csv``."""
    stem = f"{split}-predictions-{'bbox' if kind == 'detection' else 'vrd'}"
    return f"{stem}-kaggle.csv" if form == "kaggle" else f"{stem}.{form}"


def write_predictions(
    source: Path | str, dest: Path | str, split: str, per_image: int = 100, seed: int = 0,
    kind: str = "detection", form: str = "csv", bad_fraction: float = 0.0, score_digits: int | None = None,
    detector: Detector | None = None, progress: bool = False,
) -> PredictionsFile:  # fmt: skip
    """Write ``per_image`` predictions for every image of ``split`` in the official files of ``source``
    (every image with a box or a verified label; for relationships every image with a relationship).
    ``dest`` is the file, or a folder to write ``file_name(split, kind, form)`` into. The same arguments
    give the same bytes. ``bad_fraction`` of the rows are made invalid on purpose (XMin > XMax, YMin = YMax
    or XMax > 1); ``score_digits`` rounds scores (making ties); ``detector`` sets the rates."""
    detector = detector or Detector()
    _check(split, per_image, seed, kind, form, bad_fraction, score_digits, detector)
    source, dest = Path(source), Path(dest)
    if dest.is_dir() or not dest.suffix:
        dest = dest / file_name(split, kind, form)
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    args = (source, dest, split, per_image, seed, kind, form, bad_fraction, score_digits, detector)
    try:
        rows, images, counts = _write(*args, in_memory=False)
    except Unsorted as exc:
        if progress:
            log(f"{exc}: not sorted by ImageID; reading it whole")
        rows, images, counts = _write(*args, in_memory=True)
    out = PredictionsFile(dest, split, kind, form, rows, images, dest.stat().st_size, time.perf_counter() - started,
                          counts)  # fmt: skip
    if progress:
        log(f"predictions {kind}/{split}: {dest.name}: {rows:,} rows on {images:,} images ({out.seconds:.1f}s)")
    return out


def write_all(
    source: Path | str, dest: Path | str, splits: Sequence[str] | None = None, per_image: int = 100, seed: int = 0,
    form: str = "csv", bad_fraction: float = 0.0, progress: bool = False,
) -> list[PredictionsFile]:  # fmt: skip
    """Detection and relationship predictions for each split (all when None) whose box or relationship file
    ``source`` holds, into the folder ``dest``. Relationship predictions have no Kaggle form: CSV then."""
    source, dest = Path(source), Path(dest)
    chosen = list(splits or SPLITS)
    files = []
    for split in chosen:
        for kind, family in (("detection", "boxes"), ("relationships", "relationships")):
            if find(source, official_name(family, split)) is None:
                continue
            chosen_form = "csv" if kind == "relationships" and form == "kaggle" else form
            files.append(write_predictions(source, dest, split, per_image, seed, kind, chosen_form, bad_fraction,
                                           progress=progress))  # fmt: skip
    if not files:
        raise PredictionsError(f"{source}: no box or relationship file of {', '.join(chosen)}")
    return files


def check_options(per_image: int, form: str, bad_fraction: float) -> None:
    """Raise ``PredictionsError`` for options ``write_all`` would refuse (before any work)."""
    _check("validation", per_image, 0, "detection", form, bad_fraction, None, Detector())


def _check(split: str, per_image: int, seed: int, kind: str, form: str, bad_fraction: float,
           score_digits: int | None, detector: Detector) -> None:  # fmt: skip
    problems = []
    if split not in SPLITS:
        problems.append(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if per_image < 1:
        problems.append(f"per_image must be 1 or more, not {per_image}")
    if seed < 0:
        problems.append(f"seed must be 0 or more, not {seed}")
    if kind not in TASKS:
        problems.append(f"kind {kind!r} is not one of {', '.join(TASKS)}")
    if form not in FORMS:
        problems.append(f"form {form!r} is not one of {', '.join(FORMS)}")
    elif form == "kaggle" and kind == "relationships":
        problems.append("the Kaggle form is for detection; write relationship predictions as csv or parquet")
    if not (math.isfinite(bad_fraction) and 0 <= bad_fraction <= 1):
        problems.append(f"bad_fraction must be in [0, 1], not {bad_fraction}")
    if score_digits is not None and not 1 <= score_digits <= SCORE_DIGITS:
        problems.append(f"score_digits must be 1 to {SCORE_DIGITS}, not {score_digits}")
    problems += [f"detector rate out of range: {p}" for p in detector.check()]
    if problems:
        raise PredictionsError("; ".join(problems), hint="see `oilake synth -h` and docs/synthetic.md")


# ---------------------------------------------------------------------------- generation


def _write(
    source: Path, dest: Path, split: str, per_image: int, seed: int, kind: str, form: str, bad_fraction: float,
    score_digits: int | None, detector: Detector, in_memory: bool,
) -> tuple[int, int, dict[str, int]]:  # fmt: skip
    chunk_images = max(1, PREDICTIONS_PER_CHUNK // per_image)
    writer = _Writer(dest, kind, form)
    finishing = partial(finish, bad_fraction=bad_fraction, score_digits=score_digits)
    tasks: Iterator[Callable[[], _Done]]
    if kind == "detection":
        mids = boxable_classes(source)
        ancestors = ancestor_table(source, mids)
        labels = text.table(list(mids))
        tasks = (
            partial(
                _task, writer, truth.images, labels, partial(detect, truth, per_image, detector, ancestors), finishing
            )
            for truth in detection_truth(source, split, seed, chunk_images, in_memory)
        )
    else:
        known = triplets(source)
        base = pa.array(sorted({s for t in known for s in t} | {"is"}), pa.string())
        code = {s: i for i, s in enumerate(base.to_pylist())}
        triplet_codes = np.array([[code[s] for s in t] for t in known] or [[0, 0, code["is"]]], np.int64)
        relations = np.setdiff1d(triplet_codes[:, 2], [code["is"]])
        tasks = (
            partial(_task, writer, vrd.images, vrd.vocab,
                    partial(relate, vrd, per_image, detector, triplet_codes, relations, code["is"]), finishing)
            for vrd in relationship_truth(source, split, seed, chunk_images, in_memory, base)
        )  # fmt: skip
    rows = images = 0
    counts = np.zeros(len(KINDS), np.int64)
    try:
        for done in in_order(tasks):
            writer.put(done.rendered)
            rows, images, counts = rows + done.rows, images + done.images, counts + done.kinds
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return rows, images, {k: int(n) for k, n in zip(KINDS, counts, strict=True) if n}


@dataclass
class _Done:
    """A generated chunk: its text (or table), rows, images and rows by kind."""

    rendered: pa.Buffer | pa.Table
    rows: int
    images: int
    kinds: np.ndarray


def _task(
    writer: _Writer, images: Images, labels: pa.Array, generate: Callable[[], Rows], finishing: Callable[[Rows], Rows]
) -> _Done:
    out = finishing(generate())
    return _Done(writer.render(images, out, labels), len(out.image), len(images), _kinds(out))


def _kinds(rows: Rows) -> np.ndarray:
    return np.bincount(rows.kind, minlength=len(KINDS)).astype(np.int64)


# ---------------------------------------------------------------------------- forms


def _units(column: np.ndarray, end: bytes = b"") -> pa.StringArray:
    return text.from_matrix(text.decimals(column, 6, end))


def _fixed(columns: list[np.ndarray], end: bytes) -> pa.StringArray:
    """Comma-separated 6-decimal fields of micro-unit columns, then ``end``."""
    blocks = []
    for j, column in enumerate(columns):
        blocks.append(text.decimals(column, 6, end if j == len(columns) - 1 else b","))
    return text.from_matrix(np.concatenate(blocks, axis=1))


def _scores(score: np.ndarray) -> pa.StringArray:
    """Scores (below 1, ``SCORE_DIGITS`` decimals at most) as ``0.`` and 12 digits: ``0.731240952301``."""
    units = np.round(score * 10**SCORE_DIGITS).astype(np.int64)
    high, low = np.divmod(units, 10**6)
    return text.from_matrix(np.concatenate([text.decimals(high, 6), text.decimals(low, 6)[:, 2:]], axis=1))


def _coordinates(box: np.ndarray) -> list[pa.Array]:
    return [pa.array(box[:, j] / MICRO, pa.float64()) for j in range(4)]


class _Writer:
    """One predictions file in one form, written chunk by chunk to ``NAME.part`` and renamed at the end."""

    def __init__(self, dest: Path, kind: str, form: str) -> None:
        self.dest, self.kind, self.form = dest, kind, form
        self.part = dest.with_name(dest.name + ".part")
        columns = DETECTION_COLUMNS if kind == "detection" else RELATIONSHIP_COLUMNS
        self.parquet: pq.ParquetWriter | None = None
        self.handle = None
        if form == "parquet":
            types = {c: pa.float64() if c == "Score" or c[:4] in ("XMin", "XMax", "YMin", "YMax") else pa.string()
                     for c in columns}  # fmt: skip
            self.schema = pa.schema([(c, types[c], False) for c in columns])
            self.parquet = pq.ParquetWriter(self.part, self.schema, compression="zstd")
        else:
            self.handle = open(self.part, "wb")  # noqa: SIM115
            header = KAGGLE_COLUMNS if form == "kaggle" else columns
            self.handle.write((",".join(header) + "\n").encode())

    def render(self, images: Images, rows: Rows, labels: pa.Array) -> pa.Buffer | pa.Table:
        """The text (or table) of a chunk's rows; safe to call from several threads."""
        ids = images.text.take(pa.array(rows.image))
        label = text.pick(labels, rows.label)
        if self.parquet is not None:
            return pa.Table.from_arrays(self._columns(ids, label, rows, labels), schema=self.schema)
        if self.form == "kaggle":
            return text.data_of(_kaggle_lines(ids, label, rows))
        if self.kind == "detection":
            parts = [ids, label, _scores(rows.score), _fixed([rows.box[:, j] for j in range(4)], b"\n")]
            return text.data_of(text.join(parts, ","))
        assert rows.label2 is not None and rows.relation is not None and rows.box2 is not None
        coords = _fixed([*(rows.box[:, j] for j in range(4)), *(rows.box2[:, j] for j in range(4))], b"")
        parts = [ids, label, text.pick(labels, rows.label2), coords, text.pick(labels, rows.relation)]
        return text.data_of(text.join([*parts, text.join([_scores(rows.score), "\n"])], ","))

    def put(self, rendered: pa.Buffer | pa.Table) -> None:
        if isinstance(rendered, pa.Table):
            assert self.parquet is not None
            self.parquet.write_table(rendered)
        else:
            assert self.handle is not None
            self.handle.write(rendered)

    def _columns(self, ids: pa.Array, label: pa.Array, rows: Rows, labels: pa.Array) -> list[pa.Array]:
        score = pa.array(rows.score, pa.float64())
        if self.kind == "detection":
            return [ids, label, score, *_coordinates(rows.box)]
        assert rows.label2 is not None and rows.relation is not None and rows.box2 is not None
        return [ids, label, text.pick(labels, rows.label2), *_coordinates(rows.box), *_coordinates(rows.box2),
                text.pick(labels, rows.relation), score]  # fmt: skip

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None:
            self.handle.close()
        os.replace(self.part, self.dest)

    def abort(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None:
            self.handle.close()
        self.part.unlink(missing_ok=True)


def _kaggle_lines(ids: pa.Array, label: pa.Array, rows: Rows) -> pa.StringArray:
    """One ``ImageId,LabelName Score XMin YMin XMax YMax …`` line per image (rows grouped by image)."""
    first = rank_within(rows.image) == 0
    last = np.ones(len(rows.image), bool)
    last[:-1] = rows.image[1:] != rows.image[:-1]
    box = rows.box
    fields = [label, _scores(rows.score), _units(box[:, 0]), _units(box[:, 2]), _units(box[:, 1]), _units(box[:, 3])]
    head = text.where(first, text.join([ids, ","]), "")
    return text.join([head, text.join(fields, " "), text.where(last, "\n", " ")])
