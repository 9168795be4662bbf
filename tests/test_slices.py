"""Ranges of image_id_u64 for the sliced build steps."""

from __future__ import annotations

import itertools

import pytest

from pipeline.build.slices import KEY_SPACE, MAX_SLICES, key_ranges, range_conditions, slice_count


@pytest.mark.parametrize("slices", [1, 2, 3, 7, 64])
def test_key_ranges_cover_every_key_once(slices: int) -> None:
    ranges = key_ranges(slices)
    assert len(ranges) == slices and ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(high == next_low for (_, high), (next_low, _) in itertools.pairwise(ranges))
    assert all(low < (KEY_SPACE if high is None else high) for low, high in ranges)


def test_slice_count_follows_the_rows() -> None:
    assert [slice_count(n, 100) for n in (0, 1, 100, 101, 950, 10**9)] == [1, 1, 1, 2, 10, MAX_SLICES]


def test_range_conditions() -> None:
    assert range_conditions("k", 0, 2**63) == ["k >= 0::ubigint", f"k < {2**63}::ubigint"]
    assert range_conditions("s.k", 2**63, None) == [f"s.k >= {2**63}::ubigint"]
