"""What a generator group is: the files it writes and the chunk tasks that produce their text."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa

from pipeline.core.official import OfficialFile, official_files
from pipeline.families import family_specs
from pipeline.synth import text
from pipeline.synth.plan import file_rows

Chunk = dict[str, tuple[pa.Buffer, int]]  # official file name → (text, rows)
Task = Callable[[], Chunk]
T = TypeVar("T")
WORKERS = 2


@dataclass(frozen=True)
class Output:
    """One generated file: its official entry, planned rows and header line."""

    file: OfficialFile
    rows: int
    header: bytes


@dataclass(frozen=True)
class Group:
    """Files generated together (they share random draws, e.g. boxes and the masks on them).

    ``tasks(wanted)`` yields independent chunk tasks in file order; each returns the text of the next
    rows of every wanted output.
    """

    label: str
    outputs: tuple[Output, ...]
    tasks: Callable[[frozenset[str]], Iterator[Task]]


def official(family: str, split: str | None) -> list[OfficialFile]:
    """The official files of a family in a split, in list order."""
    return [f for f in official_files() if f.family == family and f.split == split]


def header(family: str, split: str) -> bytes:
    """The published header line of a family's per-split file (the one with XClick for train boxes)."""
    headers = family_specs()[family].headers
    chosen = headers[1] if family == "boxes" and split != "train" else headers[0]
    return (",".join(chosen) + "\n").encode()


def output(family: str, split: str, scale: float, with_header: bool = True) -> Output:
    """The single output of a family in a split."""
    (file,) = official(family, split)
    return Output(file, file_rows(file, scale), header(family, split) if with_header else b"")


def image_ids(ids: np.ndarray) -> pa.StringArray:
    """ImageIDs as 16 lowercase hex digits."""
    return text.from_matrix(text.hex_digits(ids))


def lines(parts: list[text.Part], sep: str = ",") -> pa.Buffer:
    """The text of rows joined from ``parts`` (the last part carries the newline)."""
    return text.data_of(text.join(parts, sep))


def sort_within_images(image: np.ndarray, codes: np.ndarray, classes: int) -> np.ndarray:
    """``codes`` sorted within each run of equal (sorted) ``image`` indices."""
    key = image.astype(np.int64) * classes + codes
    key.sort()
    return key % classes


def distinct_within_images(
    image: np.ndarray, codes: np.ndarray, classes: int, redraw: Callable[[int], np.ndarray]
) -> np.ndarray:
    """Sorted codes per image with repeats redrawn (a few rounds; a rare leftover repeat stays)."""
    codes = sort_within_images(image, codes, classes)
    for _ in range(4):
        repeat = np.flatnonzero((image[1:] == image[:-1]) & (codes[1:] == codes[:-1])) + 1
        if len(repeat) == 0:
            break
        codes[repeat] = redraw(len(repeat))
        codes = sort_within_images(image, codes, classes)
    return codes


def in_order(tasks: Iterable[Callable[[], T]]) -> Iterator[T]:
    """Run tasks on ``WORKERS`` threads (numpy and Arrow release the GIL), results in order,
    at most ``WORKERS + 1`` results in memory."""
    with ThreadPoolExecutor(WORKERS) as pool:
        pending: list[Future[T]] = []
        for task in tasks:
            pending.append(pool.submit(task))
            if len(pending) > WORKERS:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
