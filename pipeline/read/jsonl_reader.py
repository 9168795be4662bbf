"""Stream a JSON-lines file as Arrow batches that know each row's line number.

The fast path hands a whole chunk of lines to pyarrow's JSON reader with an
explicit schema; only a chunk that fails is re-read line by line to find and
quarantine the bad lines. A line longer than ``MAX_RECORD_BYTES`` is quarantined
unread (its first bytes kept), so memory stays bounded whatever the file holds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from pipeline.core.errors import InputFormatError
from pipeline.read.batches import CsvBatch, Malformed, to_frame
from pipeline.read.threads import prefetch

CHUNK_BYTES = 8 << 20  # 32 MiB chunks peaked at 1.1 GB on the scale-1 narratives, 8 MiB at 0.6 GB, and ran faster
READ_AHEAD = 1  # chunks read ahead of the parse (each CHUNK_BYTES, plus its lines)
# No line (one narrative, ~32 KB on average) is kept beyond this: a longer one is quarantined unread and
# skipped to its end, so a line of any length costs at most this much memory (times the parse's overhead).
MAX_RECORD_BYTES = 16 << 20
RAW_PREFIX_BYTES = 1 << 10  # what a quarantined over-long line keeps of itself
BLOCK_BYTES = 1 << 20  # pyarrow's JSON block; grown to the longest line of a chunk (no object straddles blocks)

LineCheck = Callable[[object], str | None]


@dataclass
class TooLong:
    """A line longer than ``MAX_RECORD_BYTES``: its first bytes and its length, never the whole of it."""

    prefix: bytes
    size: int


Line = bytes | TooLong


def read_jsonl(
    stream: pa.NativeFile,
    file: str,
    schema: pa.Schema,
    check_line: LineCheck,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[CsvBatch]:
    """Yield batches of ``schema`` rows; ``check_line`` explains why a decoded line is unfit."""
    first_line = 1
    # the next chunk is read (and split into lines) in a thread of its own while this one is parsed: at
    # full scale the sources come from disk (a 1.62 GB file: 13.6 s instead of 15.4-16.9, benchmarks/notes.md)
    for lines in prefetch(_line_chunks(stream, file, chunk_bytes), depth=READ_AHEAD):
        yield _parse_chunk(lines, first_line, schema, check_line)
        first_line += len(lines)


def _line_chunks(stream: pa.NativeFile, file: str, chunk_bytes: int) -> Iterator[list[Line]]:
    """The file's lines, a chunk at a time; a line past ``MAX_RECORD_BYTES`` comes as a ``TooLong``."""
    carry = b""  # the start of a line whose end is not read yet
    skipping: TooLong | None = None  # an over-long line being read past
    lines_before = 0
    while True:
        try:
            data = stream.read(chunk_bytes)
        except (OSError, EOFError, pa.ArrowInvalid) as exc:
            raise InputFormatError(f"{file}: cannot be read after line {lines_before}: {exc}") from exc
        if not data:
            last: list[Line] = [skipping] if skipping is not None else [carry] if carry else []
            if last:
                yield last
            return
        lines: list[Line] = []
        if skipping is not None:
            end = data.find(b"\n")
            skipping.size += len(data) if end < 0 else end
            if end < 0:
                continue
            lines.append(skipping)
            skipping, data = None, data[end + 1 :]
        buffer = carry + data if carry else data
        cut = buffer.rfind(b"\n")
        if cut >= 0:
            lines += buffer[:cut].split(b"\n")
            carry = buffer[cut + 1 :]
        else:
            carry = buffer
        if len(carry) > MAX_RECORD_BYTES:
            skipping, carry = TooLong(carry[:RAW_PREFIX_BYTES], len(carry)), b""
        if lines:
            lines_before += len(lines)
            yield lines


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n and n % (1 << 20) == 0 else f"{n:,} bytes"


def _too_long(number: int, line: Line) -> Malformed | None:
    """The reject of an over-long line, or None for a line within ``MAX_RECORD_BYTES``."""
    if isinstance(line, bytes):
        if len(line) <= MAX_RECORD_BYTES:
            return None
        line = TooLong(line[:RAW_PREFIX_BYTES], len(line))
    reason = f"line of {line.size:,} bytes, longer than the {_size(MAX_RECORD_BYTES)} a line may have: not read"
    return Malformed(line=number, reason=reason, raw=line.prefix.decode("utf-8", errors="replace") + "…")


def _parse_chunk(lines: list[Line], first_line: int, schema: pa.Schema, check_line: LineCheck) -> CsvBatch:
    numbers = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    too_long = [m for number, line in enumerate(lines, first_line) if (m := _too_long(number, line))]
    stripped = [line.strip() if isinstance(line, bytes) else b"" for line in lines]
    if first_line == 1 and stripped and stripped[0].startswith(b"\xef\xbb\xbf"):
        stripped[0] = stripped[0][3:].strip()
    for rejected in too_long:  # neither a row to parse nor a blank line
        stripped[rejected.line - first_line] = b""
    keep = np.array([bool(s) for s in stripped], dtype=bool)
    blank = int((~keep).sum()) - len(too_long)
    kept = [s for s in stripped if s]
    table = _read(kept, schema)
    if table is not None:  # missing keys come out NULL; the family's transform quarantines them
        return CsvBatch(to_frame(table), numbers[keep], too_long, blank)
    good: list[bytes] = []
    good_numbers: list[int] = []
    malformed: list[Malformed] = list(too_long)
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
            read_options=pajson.ReadOptions(block_size=max(BLOCK_BYTES, max(map(len, lines)) + 1)),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(lines):
        return None
    return table.select(schema.names).cast(schema)
