"""Overlap removal: the rows of a -boxable subset that its full file holds are removed, range by range."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.build.overlap import remove_overlap
from pipeline.core.schema import table_schema
from pipeline.write.parquet_writer import write_batches

KEYS = ("image_id_u64", "source", "label_mid", "confidence")
# ids at both ends of the key space and on slice bounds (2**63 is the bound of two slices)
EDGES = [0, 1, 2**62, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]


def _labels(path: Path, rows: list[tuple[int, str, str, float]]) -> None:
    rows = sorted(rows, key=lambda r: r[0])
    table = pa.table(
        {
            "image_id": [f"{r[0]:016x}" for r in rows],
            "image_id_u64": pa.array([r[0] for r in rows], pa.uint64()),
            "source": [r[1] for r in rows],
            "label_mid": [r[2] for r in rows],
            "confidence": pa.array([r[3] for r in rows], pa.float32()),
        }
    )
    write_batches(path, table_schema("image_labels"), table.to_batches(max_chunksize=7))


@pytest.mark.parametrize("slice_rows", [1, 3, 10**9])
def test_sliced_removal_equals_the_set_difference(tmp_path: Path, slice_rows: int) -> None:
    rng = random.Random(7)
    ids = EDGES + [rng.randrange(2**64) for _ in range(60)]
    full = [(i, rng.choice(["verification", "crowdsource-verification"]), f"/m/{rng.randrange(4)}", 1.0) for i in ids]
    held = rng.sample(full, 40)  # in both files
    only = [(i, "verification", "/m/9", 0.0) for i in rng.sample(ids, 25)]  # in the subset alone
    near = [(r[0], r[1], r[2], 0.0) for r in held[:5]]  # same image, source and class, other confidence
    subset, superset = tmp_path / "subset.parquet", tmp_path / "superset.parquet"
    _labels(superset, full)
    _labels(subset, held + only + near)
    expected = sorted(only + near, key=lambda r: r[0])

    removed = remove_overlap(subset, superset, "image_labels", KEYS, tmp_path, slice_rows=slice_rows)

    assert removed == len(held)
    kept = pq.read_table(subset)
    got = list(zip(*(kept.column(k).to_pylist() for k in KEYS), strict=True))
    assert sorted(got) == sorted(expected)
    assert kept.column("image_id_u64").to_pylist() == sorted(r[0] for r in expected)  # still sorted
    assert kept.column("image_id").to_pylist() == [f"{i:016x}" for i in kept.column("image_id_u64").to_pylist()]
    assert kept.schema.equals(table_schema("image_labels").arrow, check_metadata=False)
