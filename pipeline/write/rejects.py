"""Quarantine: every refused source row goes to the ``rejects`` table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipeline.core.schema import table_schema
from pipeline.write.parquet_writer import PartWriter

EXAMPLES = 5


class RejectSink:
    """Streams rejected rows to ``rejects.parquet`` and keeps the first few for messages."""

    def __init__(self, path: Path) -> None:
        self._writer = PartWriter(path, table_schema("rejects"))
        self.count = 0
        self.examples: list[str] = []

    def add(self, table: str, source_file: str, lines: list[int], reasons: list[str], raws: list[str]) -> None:
        if not lines:
            return
        self._writer.write(
            pa.table(
                {
                    "table": [table] * len(lines),
                    "source_file": [source_file] * len(lines),
                    "line": pa.array(lines, pa.int64()),
                    "reason": reasons,
                    "raw": raws,
                }
            )
        )
        self.count += len(lines)
        for line, reason in zip(lines, reasons, strict=True):
            if len(self.examples) < EXAMPLES:
                self.examples.append(f"{source_file}:{line}: {reason}")

    def close(self) -> None:
        self._writer.close()
