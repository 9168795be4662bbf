"""Sources larger than memory are read with their pages dropped behind the reader (read/page_cache.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pipeline.core.official import official_files
from pipeline.read import page_cache
from pipeline.read.page_cache import larger_than_memory
from pipeline.read.sources import Source
from tests.conftest import BOX_HEADER, WriteSource, build, query


@pytest.mark.parametrize(
    ("sizes", "memory", "expected"),
    [([10, 20], 29, True), ([10, 20], 30, False), ([None, 40], 30, True), ([None], 1, False), ([], 0, False)],
)
def test_larger_than_memory(sizes: list[int | None], memory: int, expected: bool) -> None:
    assert larger_than_memory(sizes, memory) is expected


def test_the_machine_reports_its_memory() -> None:
    memory = page_cache.physical_memory()
    assert memory is None or memory > 64 << 20


Calls = list[tuple[int, int, int]]


@pytest.fixture
def fadvise_calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls: Calls = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, length, advice: calls.append((offset, length, advice)))
    monkeypatch.setattr(page_cache, "DROP_EVERY", 1 << 20)
    return calls


def _read_through(source: Source, name: str) -> tuple[bytes, str]:
    [official] = [o for o in official_files() if o.name == name]
    file = source.find(official)
    assert file is not None
    with source.open(file) as opened:
        parts = []
        while part := opened.stream.read(512 << 10):  # the way the readers take chunks
            parts.append(part)
        return b"".join(parts), opened.finish()


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this system")
@pytest.mark.parametrize("drop", [True, False])
def test_pages_are_dropped_behind_the_reader(write_source: WriteSource, fadvise_calls: Calls, drop: bool) -> None:
    rows = "".join(f"{n:016x},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n" for n in range(80_000))
    text = BOX_HEADER + "\n" + rows  # about 5 MB: several drops of 1 MiB, then the rest at the end
    folder = write_source({"test-annotations-bbox.csv": text})
    source = Source(str(folder))
    source.drop_cache_behind = drop
    data, md5 = _read_through(source, "test-annotations-bbox.csv")
    assert data == text.encode() and md5 == hashlib.md5(text.encode()).hexdigest()
    if not drop:
        assert fadvise_calls == []
        return
    assert {advice for _, _, advice in fadvise_calls} == {os.POSIX_FADV_DONTNEED}
    assert len(fadvise_calls) >= 4 and all(length > 0 for _, length, _ in fadvise_calls)
    covered = 0
    for offset, length, _ in fadvise_calls:  # contiguous ranges from the start to the end of the file
        assert offset == covered
        covered += length
    assert covered == len(text.encode())


def test_a_build_of_sources_larger_than_memory_drops_them(
    write_source: WriteSource, tmp_path: Path, fadvise_calls: Calls, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    row = "0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,1,0,1,0,0"
    source = write_source({"test-annotations-bbox.csv": BOX_HEADER + "\n" + row + "\n"})
    build(source, tmp_path / "cached")
    assert "larger than memory" not in capsys.readouterr().err and fadvise_calls == []
    monkeypatch.setattr(page_cache, "physical_memory", lambda: 100)  # the 170-byte source is larger than that
    build(source, tmp_path / "dropped")
    assert "note  the sources are larger than memory" in capsys.readouterr().err and fadvise_calls
    assert query(tmp_path / "dropped", "select * from boxes").equals(query(tmp_path / "cached", "select * from boxes"))
