"""Stream a JSON-lines file as Arrow batches that know each row's line number.

The fast path hands a whole chunk of lines to pyarrow's JSON reader with an
explicit schema; only a chunk that fails is re-read line by line to find and
quarantine the bad lines.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from pipeline.core.errors import InputFormatError
from pipeline.read.batches import CsvBatch, Malformed, to_frame

CHUNK_BYTES = 32 << 20

LineCheck = Callable[[object], str | None]


def read_jsonl(
    stream: pa.NativeFile,
    file: str,
    schema: pa.Schema,
    check_line: LineCheck,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[CsvBatch]:
    """Yield batches of ``schema`` rows; ``check_line`` explains why a decoded line is unfit."""
    carry = b""
    first_line = 1
    while True:
        try:
            data = stream.read(chunk_bytes)
        except (OSError, EOFError, pa.ArrowInvalid) as exc:
            raise InputFormatError(f"{file}: cannot be read after line {first_line - 1}: {exc}") from exc
        if data:
            carry += data
            cut = carry.rfind(b"\n")
            if cut < 0:
                continue
            chunk, carry = carry[: cut + 1], carry[cut + 1 :]
        else:
            chunk, carry = carry, b""
            if not chunk:
                return
        lines = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            lines.pop()
        yield _parse_chunk(lines, first_line, schema, check_line)
        first_line += len(lines)
        if not data:
            return


def _parse_chunk(lines: list[bytes], first_line: int, schema: pa.Schema, check_line: LineCheck) -> CsvBatch:
    numbers = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    stripped = [line.strip() for line in lines]
    if first_line == 1 and stripped and stripped[0].startswith(b"\xef\xbb\xbf"):
        stripped[0] = stripped[0][3:].strip()
    keep = np.array([bool(s) for s in stripped], dtype=bool)
    blank = int((~keep).sum())
    kept = [s for s in stripped if s]
    table = _read(kept, schema)
    if table is not None:  # missing keys come out NULL; the family's transform quarantines them
        return CsvBatch(to_frame(table), numbers[keep], [], blank)
    good: list[bytes] = []
    good_numbers: list[int] = []
    malformed: list[Malformed] = []
    for number, line in zip(numbers[keep], kept, strict=True):
        text = line.decode("utf-8", errors="replace")
        try:
            reason = check_line(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = f"not valid JSON: {exc}"
        if reason is None and _read([line], schema) is None:
            reason = "values do not fit the narrative schema"
        if reason is None:
            good.append(line)
            good_numbers.append(int(number))
        else:
            malformed.append(Malformed(line=int(number), reason=reason, raw=text))
    table = _read(good, schema) if good else schema.empty_table()
    if table is None:  # pragma: no cover - every line was read alone above
        raise InputFormatError("lines that parse alone failed together")
    return CsvBatch(to_frame(table), np.array(good_numbers, dtype=np.int64), malformed, blank)


def _read(lines: list[bytes], schema: pa.Schema) -> pa.Table | None:
    if not lines:
        return schema.empty_table()
    try:
        table = pajson.read_json(
            io.BytesIO(b"\n".join(lines) + b"\n"),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(lines):
        return None
    return table.select(schema.names).cast(schema)
