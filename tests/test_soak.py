"""The reader soak (issue 11, item 3): readers query in a loop while builds, rollbacks and prunes run.

Every answer a reader gets (one ``open_lake`` and a count per table) must be one release's answer:
never a mix of two releases, never a half-written one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pipeline.core.errors import OilakeError
from pipeline.lake.local import LocalStore
from pipeline.lake.store import rollback
from pipeline.query.api import open_lake
from tests.conftest import BOX_HEADER, WriteSource, build

VAL_BOXES = "validation-annotations-bbox.csv"
TABLES = ("boxes", "image_summary")
Answer = tuple[int, ...]


def _source(write_source: WriteSource, n: int) -> Path:
    rows = [f"{i:016x},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0" for i in range(1, n + 1)]
    return write_source({VAL_BOXES: BOX_HEADER + "\n" + "\n".join(rows) + "\n"})


def _answer(lake: Path) -> Answer:
    with open_lake(lake) as opened:
        return tuple(int(opened.sql(f"select count(*) from {table}").item()) for table in TABLES)


def test_every_answer_a_reader_gets_is_one_releases_answer(write_source: WriteSource, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build(_source(write_source, 1), lake)
    expected: set[Answer] = {(1, 1)}
    answers: list[Answer] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                answers.append(_answer(lake))
            except OilakeError as exc:  # a reader may lose a race with prune: an error, never a wrong answer
                errors.append(exc)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                raise

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 6
        n = 1
        while time.monotonic() < deadline:
            n += 1
            expected.add((n, n))
            build(_source(write_source, n), lake, keep=2)  # publishes and prunes
            rollback(lake)  # back to the previous release
            build(_source(write_source, n), lake, keep=3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert len(answers) >= 10 and len(set(answers)) >= 2, "the readers ran throughout and saw releases change"
    wrong = sorted(set(answers) - expected)
    assert not wrong, f"answers no release gave: {wrong}"
    unexpected = [e for e in errors if not isinstance(e, OilakeError)]
    assert not unexpected, unexpected
    assert len(errors) <= len(answers) // 2, f"an error only when a reader loses a race with prune: {errors[:3]}"
    assert _answer(lake) == (n, n) and len(LocalStore(lake).releases()) <= 3
