"""The ground truth of one split of a folder of official files, streamed in chunks of whole images.

Files sorted by ImageID (as released, and as ``oilake synth`` writes them) are merged batch by batch in
bounded memory; a file found out of order is read whole and sorted instead (the caller restarts on
``Unsorted``). Either way every image's rows arrive together, in file order, so what is derived per image
does not depend on where chunks are cut.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from pipeline.core.errors import OilakeError
from pipeline.core.official import SPLITS, official_files
from pipeline.families.class_graph import ancestors
from pipeline.families.hierarchy import parse_hierarchy
from pipeline.resources import sample_dir
from pipeline.synth.keyed import string_keys

BLOCK_BYTES = 1 << 22  # CSV bytes a batch
COORDS = ("XMin", "XMax", "YMin", "YMax")
BOX_TYPES = {"ImageID": pa.string(), "LabelName": pa.string(), **dict.fromkeys(COORDS, pa.float64()),
             "IsGroupOf": pa.float64()}  # fmt: skip
LABEL_TYPES = {"ImageID": pa.string(), "LabelName": pa.string(), "Confidence": pa.float64()}
VRD_COORDS = tuple(f"{c}{k}" for k in (1, 2) for c in COORDS)
VRD_TYPES = {"ImageID": pa.string(), "LabelName1": pa.string(), "LabelName2": pa.string(),
             **dict.fromkeys(VRD_COORDS, pa.float64()), "RelationshipLabel": pa.string()}  # fmt: skip


class PredictionsError(OilakeError):
    """Synthetic predictions cannot be derived as asked (a missing or malformed ground-truth file)."""

    hint = "pass a folder holding the split's official box (or relationship) file, e.g. pipeline/sample"


class Unsorted(Exception):
    """A file is not sorted by ImageID: read it whole instead."""


# ---------------------------------------------------------------------------- files


def official_name(family: str, split: str) -> str:
    if split not in SPLITS:
        raise PredictionsError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return next(f.name for f in official_files() if f.family == family and f.split == split)


def find(source: Path, name: str) -> Path | None:
    """``source/name``, else ``source/name.gz``, else None."""
    for candidate in (source / name, source / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def metadata(source: Path, family: str) -> Path:
    """A metadata file of ``source``, else the copy bundled in the sample."""
    name = next(f.name for f in official_files() if f.family == family and f.split is None)
    found = find(source, name) or find(sample_dir(), name)
    if found is None:
        raise PredictionsError(f"{name}: not in {source} nor in the bundled sample")
    return found


def _text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def _rows(path: Path) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(_text(path))) if row]


@cache
def _boxable(path: Path) -> tuple[str, ...]:
    return tuple(dict.fromkeys(row[0] for row in _rows(path)))


def boxable_classes(source: Path) -> tuple[str, ...]:
    """The boxable MIDs, in the order of ``class-descriptions-boxable.csv``."""
    return _boxable(metadata(source, "classes_boxable"))


def ancestor_table(source: Path, mids: tuple[str, ...]) -> np.ndarray:
    """``(classes, depth)`` codes of each class's ancestors (subcategory edges, root excluded), -1 padded."""
    path = metadata(source, "hierarchy")
    hierarchy = parse_hierarchy(path.name, _text(path).encode())
    code = {m: i for i, m in enumerate(mids)}
    found: list[list[int]] = [[] for _ in mids]
    for label, ancestor, _ in ancestors(hierarchy.edges, hierarchy.root):
        if label in code and ancestor in code:
            found[code[label]].append(code[ancestor])
    table = np.full((len(mids), max(1, *(len(a) for a in found))), -1, np.int32)
    for i, codes in enumerate(found):
        table[i, : len(codes)] = codes
    return table


def triplets(source: Path) -> list[tuple[str, str, str]]:
    """(LabelName1, LabelName2, RelationshipLabel) of ``oidv6-relationship-triplets.csv``."""
    rows = _rows(metadata(source, "relationship_triplets"))
    return [(r[0], r[1], r[2]) for r in rows[1:] if len(r) >= 3]


# ---------------------------------------------------------------------------- streams


def fixed_ids(strings: pa.Array) -> np.ndarray:
    """ImageIDs as NUL-padded fixed-width bytes (``S`` dtype): they compare as the strings do."""
    strings = pc.cast(strings, pa.string())
    n = len(strings)
    if n == 0:
        return np.zeros(0, "S1")
    offsets = np.frombuffer(strings.buffers()[1], np.int32, n + 1, strings.offset * 4).astype(np.int64)
    data_buffer = strings.buffers()[2]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    lengths = np.diff(offsets)
    width = max(1, int(lengths.max()))
    if (lengths == width).all() and offsets[-1] - offsets[0] == n * width:  # fixed width: no gather
        mat = data[offsets[0] : offsets[-1]].reshape(n, width)
    else:
        index = np.minimum(offsets[:-1, None] + np.arange(width), max(0, len(data) - 1))
        mat = np.where(np.arange(width) < lengths[:, None], data[index], 0).astype(np.uint8)
    return np.ascontiguousarray(mat).view(f"S{width}").reshape(n)


@dataclass
class Piece:
    """Rows of one file: their ImageIDs as fixed bytes, and the columns."""

    ids: np.ndarray
    table: pa.Table


class Stream:
    """One CSV file's rows, in ImageID order, buffered batch by batch."""

    def __init__(self, path: Path, types: dict[str, pa.DataType], in_memory: bool) -> None:
        self.path = path
        self.eof = False
        self.buffer: list[Piece] = []
        self.images = 0  # distinct images in the buffer (at most)
        self.last: bytes | None = None
        convert = pcsv.ConvertOptions(include_columns=list(types), column_types=types)
        try:
            if in_memory:
                table = pcsv.read_csv(path, convert_options=convert)
                table = table.take(pc.sort_indices(table, [("ImageID", "ascending")]))
                self._batches: Iterator[pa.RecordBatch] = iter(table.to_batches(max_chunksize=100_000))
            else:
                self._batches = iter(
                    pcsv.open_csv(path, pcsv.ReadOptions(block_size=BLOCK_BYTES), convert_options=convert)
                )
        except (pa.ArrowException, OSError) as exc:
            raise _format_error(path, exc) from exc

    def pull(self) -> None:
        """Buffer the next batch (or mark the end)."""
        try:
            batch = next(self._batches, None)
        except (pa.ArrowException, OSError) as exc:
            raise _format_error(self.path, exc) from exc
        if batch is None:
            self.eof = True
            return
        if batch.num_rows == 0:
            return
        ids = fixed_ids(batch.column("ImageID"))
        if (len(ids) > 1 and bool((ids[1:] < ids[:-1]).any())) or (self.last is not None and ids[0] < self.last):
            raise Unsorted(str(self.path))
        self.images += 1 + int(np.count_nonzero(ids[1:] != ids[:-1]))
        self.last = bytes(ids[-1])
        self.buffer.append(Piece(ids, pa.Table.from_batches([batch])))

    def boundary(self, images: int) -> bytes | None:
        """The ImageID of buffered image number ``images`` (0-based): the chunk ends before it. With fewer
        images buffered, the last one (it may go on in the next batch), or None at the end of the file."""
        seen, previous = 0, None
        for piece in self.buffer:
            new = np.ones(len(piece.ids), bool)
            new[1:] = piece.ids[1:] != piece.ids[:-1]
            new[0] = previous is None or bytes(piece.ids[0]) != previous
            starts = np.flatnonzero(new)
            if seen + len(starts) > images:
                return bytes(piece.ids[starts[images - seen]])
            seen, previous = seen + len(starts), bytes(piece.ids[-1])
        return None if self.eof else self.last

    def take(self, below: bytes | None) -> Piece:
        """Remove and return the buffered rows with ImageID < ``below`` (all when None)."""
        out: list[Piece] = []
        while self.buffer:
            piece = self.buffer[0]
            cut = len(piece.ids) if below is None else int(np.searchsorted(piece.ids, np.bytes_(below), "left"))
            if cut == len(piece.ids):
                out.append(self.buffer.pop(0))
                continue
            if cut:
                out.append(Piece(piece.ids[:cut], piece.table.slice(0, cut)))
                self.buffer[0] = Piece(piece.ids[cut:], piece.table.slice(cut))
            break
        self.images = sum(1 + int(np.count_nonzero(p.ids[1:] != p.ids[:-1])) for p in self.buffer)
        if not out:
            return Piece(np.zeros(0, "S1"), pa.table({}))
        return Piece(np.concatenate([p.ids for p in out]), pa.concat_tables([p.table for p in out]))


def _format_error(path: Path, exc: Exception) -> PredictionsError:
    return PredictionsError(f"{path}: not in the official format: {exc}", hint="check that it is the right file")


def merged(streams: list[Stream], chunk_images: int) -> Iterator[list[Piece]]:
    """Chunks of about ``chunk_images`` images: the rows of every stream for the same images."""
    while True:
        for stream in streams:
            while not stream.eof and stream.images <= chunk_images:
                stream.pull()
        live = [s for s in streams if s.buffer or not s.eof]
        if not live:
            return
        cuts = [c for c in (s.boundary(chunk_images) for s in live) if c is not None]
        below = min(cuts) if cuts else None  # None: every file is read to its end, take the rest
        parts = [s.take(below) for s in streams]
        if all(len(p.ids) == 0 for p in parts):  # one image fills the buffer: read further
            for stream in live:
                if stream.last == below:
                    stream.pull()
            continue
        yield parts


# ---------------------------------------------------------------------------- chunks


@dataclass
class Images:
    """The images of a chunk: sorted ImageIDs, their text and keyed-random keys."""

    ids: np.ndarray  # S dtype, sorted, distinct
    text: pa.Array  # the ImageID strings as in the file
    keys: np.ndarray  # uint64

    def __len__(self) -> int:
        return len(self.ids)


def _images(pieces: list[Piece], seed: int) -> tuple[Images, list[np.ndarray]]:
    """The distinct images of the pieces, and each piece's row → image index."""
    every = np.concatenate([p.ids for p in pieces])
    ids, first = np.unique(every, return_index=True)
    texts = [p.table.column("ImageID").combine_chunks() for p in pieces if p.table.num_rows]
    text = pa.concat_arrays(texts).take(pa.array(first)) if texts else pa.array([], pa.string())
    index = [np.searchsorted(ids, p.ids).astype(np.int64) for p in pieces]
    return Images(ids, text, string_keys(ids, seed)), index


def _codes(table: pa.Table, column: str, vocab: pa.Array) -> np.ndarray:
    """Codes of a column's values in ``vocab``; -1 for values not in it."""
    if table.num_rows == 0:
        return np.zeros(0, np.int32)
    found = pc.index_in(table.column(column), value_set=vocab)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int32)


def _floats(table: pa.Table, columns: tuple[str, ...]) -> np.ndarray:
    if table.num_rows == 0:
        return np.zeros((0, len(columns)))
    return np.stack([pc.fill_null(table.column(c), np.nan).to_numpy() for c in columns], axis=1)


@dataclass
class DetectionTruth:
    """Boxes and verified labels of a chunk of images (known boxable classes only), in file order."""

    images: Images
    box_image: np.ndarray
    box_class: np.ndarray
    box: np.ndarray  # (n, 4) XMin, XMax, YMin, YMax
    group: np.ndarray  # bool
    label_image: np.ndarray
    label_class: np.ndarray
    positive: np.ndarray  # bool (Confidence 1)


def detection_truth(
    source: Path, split: str, seed: int, chunk_images: int, in_memory: bool
) -> Iterator[DetectionTruth]:
    """The detection ground truth of ``split`` in ``source``, in chunks of whole images."""
    boxes = find(source, official_name("boxes", split))
    if boxes is None:
        raise PredictionsError(f"{source}: no {official_name('boxes', split)} (the {split} boxes)")
    labels = find(source, official_name("image_labels_human_boxable", split)) or find(
        source, official_name("image_labels_human", split)
    )
    vocab = pa.array(boxable_classes(source), pa.string())
    streams = [Stream(boxes, BOX_TYPES, in_memory)]
    if labels is not None:
        streams.append(Stream(labels, LABEL_TYPES, in_memory))
    for pieces in merged(streams, chunk_images):
        if not any(len(p.ids) for p in pieces):
            continue
        images, index = _images(pieces, seed)
        box_class = _codes(pieces[0].table, "LabelName", vocab)
        coords = _floats(pieces[0].table, COORDS)
        keep = (box_class >= 0) & np.isfinite(coords).all(axis=1)
        group = _floats(pieces[0].table, ("IsGroupOf",))[:, 0] == 1 if pieces[0].table.num_rows else np.zeros(0, bool)
        if len(pieces) > 1 and pieces[1].table.num_rows:
            label_class = _codes(pieces[1].table, "LabelName", vocab)
            confidence = _floats(pieces[1].table, ("Confidence",))[:, 0]
            known = label_class >= 0
            label_image, label_class, positive = index[1][known], label_class[known], confidence[known] >= 0.5
        else:
            label_image, label_class, positive = (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, bool))
        yield DetectionTruth(
            images, index[0][keep], box_class[keep], np.clip(coords[keep], 0, 1), group[keep],
            label_image, label_class, positive,
        )  # fmt: skip


@dataclass
class RelationshipTruth:
    """Relationship rows of a chunk of images, in file order; labels as codes into ``vocab``."""

    images: Images
    image: np.ndarray
    label1: np.ndarray
    label2: np.ndarray
    relation: np.ndarray
    box1: np.ndarray  # (n, 4) XMin, XMax, YMin, YMax
    box2: np.ndarray
    vocab: pa.Array  # label and relationship strings: the triplets' and this chunk's


def relationship_truth(
    source: Path, split: str, seed: int, chunk_images: int, in_memory: bool, base: pa.Array
) -> Iterator[RelationshipTruth]:
    """The relationship ground truth of ``split`` in ``source``; ``base`` strings keep their codes."""
    path = find(source, official_name("relationships", split))
    if path is None:
        raise PredictionsError(f"{source}: no {official_name('relationships', split)} (the {split} relationships)")
    for (piece,) in merged([Stream(path, VRD_TYPES, in_memory)], chunk_images):
        if not len(piece.ids):
            continue
        images, (image,) = _images([piece], seed)
        table = piece.table
        seen = pc.unique(pa.concat_arrays([table.column(c).combine_chunks() for c in
                                           ("LabelName1", "LabelName2", "RelationshipLabel")]))  # fmt: skip
        fresh = seen.filter(pc.invert(pc.is_in(seen, value_set=base)))
        vocab = pa.concat_arrays([base, fresh.take(pc.sort_indices(fresh))])
        label1, label2, relation = (_codes(table, c, vocab) for c in ("LabelName1", "LabelName2", "RelationshipLabel"))
        coords = _floats(table, VRD_COORDS)
        keep = np.isfinite(coords).all(axis=1)
        yield RelationshipTruth(
            images, image[keep], label1[keep], label2[keep], relation[keep],
            np.clip(coords[keep, :4], 0, 1), np.clip(coords[keep, 4:], 0, 1), vocab,
        )  # fmt: skip
