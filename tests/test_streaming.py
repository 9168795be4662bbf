"""Streaming: peak memory of a build does not grow with the input size."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.families.narratives import RAW_SCHEMA, check_line
from pipeline.read import jsonl_reader
from tests.conftest import XCLICK_HEADER, WriteSource, build, query, sources_by_file

TRAIN_BOXES = "oidv6-train-annotations-bbox.csv"

# VmHWM, not ru_maxrss: ru_maxrss survives exec and would include the forked test process.
MEASURE = """
import sys
from pathlib import Path
from pipeline.build.run import BuildOptions, build_lake
build_lake(BuildOptions(source=sys.argv[1], lake=Path(sys.argv[2])))
status = Path("/proc/self/status").read_text()
print(next(int(line.split()[1]) // 1024 for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def write_train_boxes(path: Path, rows: int, seed: int = 7) -> None:
    """A train box file in the official format: sorted IDs, 6-decimal coordinates, -1 flags and clicks."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.integers(0, 2**64 - 1, size=max(rows // 8, 1), dtype=np.uint64))
    image = np.sort(rng.integers(0, len(ids), size=rows))
    lo = rng.random((rows, 2)) * 0.5
    coords = {"XMin": lo[:, 0], "XMax": lo[:, 0] + 0.4, "YMin": lo[:, 1], "YMax": lo[:, 1] + 0.4}
    frame = pl.DataFrame(
        {
            "ImageID": [f"{int(i):016x}" for i in ids[image]],
            "Source": np.where(rng.random(rows) < 0.9, "xclick", "activemil"),
            "LabelName": rng.choice(["/m/01g317", "/m/04yx4", "/m/03bt1vf", "/m/09j2d", "/m/0k4j"], rows),
            "Confidence": np.ones(rows, dtype=np.int8),
            **{k: np.round(v, 6) for k, v in coords.items()},
            **{
                k: rng.integers(-1, 2, rows)
                for k in ("IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")
            },
            **{k: np.round(rng.random(rows), 6) for k in XCLICK_HEADER.split(",")[13:]},
        }
    )
    frame.write_csv(path, float_precision=6)


def peak_mib(source: Path, lake: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(source), str(lake)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_generated_file_is_in_the_official_format(tmp_path: Path) -> None:
    write_train_boxes(tmp_path / TRAIN_BOXES, 10)
    lines = (tmp_path / TRAIN_BOXES).read_text().splitlines()
    assert lines[0] == XCLICK_HEADER and len(lines) == 11
    assert lines[1].count(",") == 20


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_memory_is_flat_in_input_size(tmp_path: Path) -> None:
    peaks = {}
    for rows in (1_000_000, 3_000_000):
        source = tmp_path / f"src{rows}"
        source.mkdir()
        write_train_boxes(source / TRAIN_BOXES, rows)
        peaks[rows] = peak_mib(source, tmp_path / f"lake{rows}")
    # Both inputs span many 16 MiB chunks (155 MB and 466 MB of CSV). Memory that grew with the
    # input would add 300 MB or more; measured peaks are 550-620 MiB for both, the spread being
    # how many prefetched chunks happen to be in flight. 128 MiB absorbs that noise.
    assert peaks[3_000_000] < peaks[1_000_000] + 128, peaks


NARRATIVES = "open_images_validation_localized_narratives.jsonl"


def _narrative(annotator: int, points: int = 2) -> str:
    return json.dumps(
        {
            "dataset_id": "open_images_validation",
            "image_id": "0001eeaf4aed83f9",
            "annotator_id": annotator,
            "caption": "A dog plays a guitar.",
            "timed_caption": [{"utterance": "A dog", "start_time": 0.0, "end_time": 1.5}],
            "traces": [[{"x": 0.25, "y": 0.5, "t": 0.125}] * points],
            "voice_recording": f"open_images_validation/x_{annotator}.ogg",
        }
    )


def test_a_long_valid_narrative_is_read_whole(write_source: WriteSource, tmp_path: Path) -> None:
    long = _narrative(2, points=160_000)
    assert len(long) > 5 << 20  # beyond pyarrow's JSON block (1 MiB), which once quarantined it
    source = write_source({NARRATIVES: "\n".join([_narrative(1), long, _narrative(3)]) + "\n"})
    counts = sources_by_file(build(source, tmp_path / "lake"))[NARRATIVES]
    assert (counts["rows_read"], counts["rows_written"], counts["rows_rejected"]) == (3, 3, 0)
    rows = query(tmp_path / "lake", "select annotator_id, len(traces[1]) from narratives order by 1").rows()
    assert rows == [(1, 2), (2, 160_000), (3, 2)]


def test_a_line_over_the_cap_is_a_reject_naming_file_and_line(
    monkeypatch: pytest.MonkeyPatch, write_source: WriteSource, tmp_path: Path
) -> None:
    monkeypatch.setattr(jsonl_reader, "MAX_RECORD_BYTES", 4096)
    long = _narrative(2, points=1000)
    lines = [_narrative(1), long, _narrative(3), "", _narrative(5)]
    source = write_source({NARRATIVES: "\n".join(lines) + "\n"})
    counts = sources_by_file(build(source, tmp_path / "lake", max_rejects=1))[NARRATIVES]
    assert (counts["rows_read"], counts["rows_written"], counts["rows_rejected"], counts["blank_lines"]) == (4, 3, 1, 1)
    reject = query(tmp_path / "lake", "select source_file, line, reason, raw from rejects").row(0)
    assert reject[:3] == (
        NARRATIVES,
        2,
        f"line of {len(long):,} bytes, longer than the 4,096 bytes a line may have: not read",
    )
    assert long.startswith(reject[3].removesuffix("…")) and len(reject[3]) == jsonl_reader.RAW_PREFIX_BYTES + 1
    assert query(tmp_path / "lake", "select annotator_id from narratives order by 1").to_series().to_list() == [1, 3, 5]


class _Endless:
    """A stream of ``good`` line, a ``size``-byte line, ``good`` again: the long line is made as it is read."""

    def __init__(self, good: bytes, size: int) -> None:
        self.parts = [good + b"\n" + b"x" * 100]
        self.left = size - 100
        self.tail = b"\n" + good + b"\n"

    def read(self, n: int) -> bytes:
        if self.parts:
            return self.parts.pop()
        if self.left > 0:
            take = min(n, self.left)
            self.left -= take
            return b"x" * take
        tail, self.tail = self.tail, b""
        return tail


def test_jsonl_reader_memory_stays_bounded_by_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl_reader, "MAX_RECORD_BYTES", 2 << 20)
    stream = _Endless(_narrative(1).encode(), size=200 << 20)  # the 200 MB line that once cost 2 GB
    tracemalloc.start()
    try:
        batches = list(jsonl_reader.read_jsonl(stream, NARRATIVES, RAW_SCHEMA, check_line, chunk_bytes=1 << 20))  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak:,} bytes"
    lines = [int(n) for b in batches for n in b.lines]
    rejects = [(m.line, m.reason) for b in batches for m in b.malformed]
    assert lines == [1, 3]
    assert rejects == [(2, f"line of {(200 << 20):,} bytes, longer than the 2 MiB a line may have: not read")]
