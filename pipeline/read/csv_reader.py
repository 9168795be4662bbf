"""Stream a CSV file as string batches that know each row's physical line number.

The stream is cut into chunks of whole records, parsed by two workers in order.
A plain chunk (no quote, CR, BOM, blank, short or long row, invalid UTF-8) is
parsed by Polars; any other by pyarrow, which reports rows with the wrong number
of fields by record number, so they come out as ``Malformed`` rows instead of
stopping the read. Invalid UTF-8 is caught per value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.core.errors import HeaderError, InputFormatError
from pipeline.read.batches import CsvBatch, Malformed, to_csv_line, to_frame
from pipeline.read.threads import ordered_map, prefetch

BLOCK_SIZE = 16 << 20
PARSE_WORKERS = 2  # chunks parsed at once (the machine this is tuned for has two cores)
MAX_RECORD_BYTES = 64 << 20
T = TypeVar("T")
BOM = b"\xef\xbb\xbf"


def parse_header(head: bytes) -> list[str] | str | None:
    """The field names on the first line of ``head``, None for an empty file, or what is there instead (in words).

    What is there instead: a blank first line, lines ended by CR alone, a line the csv module cannot split.
    """
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if not head.strip():
        return None
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if b"\r" in first:
        shown = first.split(b"\r", 1)[0].decode("utf-8", errors="replace")
        return f"lines ended by CR alone (no LF), the first being {shown!r}: lines must end with LF or CRLF"
    if not first.strip():
        return "a blank line (the header must be on the first line)"
    try:
        return next(csv.reader(io.StringIO(first.decode("utf-8", errors="replace"))))
    except csv.Error as exc:
        return f"a line that cannot be read as CSV ({exc})"


def check_header(file: str, head: bytes, expected: list[list[str]]) -> list[str]:
    """Return the matching expected header, or raise ``HeaderError`` (line 1: expected, found)."""
    found = parse_header(head)
    for header in expected:
        if found == header:
            return header
    raise HeaderError(file, expected, found)


@dataclass
class _Invalid:
    """A record pyarrow skipped because it had the wrong number of fields."""

    record: int
    text: str
    expected: int
    actual: int


def _locate(
    table: pa.Table, invalid: list[_Invalid], first_record: int, first_line: int, may_hold_newlines: bool
) -> tuple[np.ndarray, list[Malformed]]:
    """Physical line numbers of the good rows of one chunk, and its malformed rows.

    pyarrow numbers a chunk's records from 1 (a skipped header included) and
    reports only the skipped ones; the good rows are the other numbers, in
    order. A record's line is the chunk's first line, plus its number, plus
    every line end held inside quoted values of the records before it.
    """
    bad_records = np.array([row.record for row in invalid], dtype=np.int64)
    candidates = np.arange(first_record, first_record + table.num_rows + len(invalid))
    good_records = candidates[~np.isin(candidates, bad_records)]
    newlines = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns if may_hold_newlines else ():
        for end, sign in (("\n", 1), ("\r", 1), ("\r\n", -1)):  # LF, CR, CRLF: each one line end
            counts = pc.count_substring(column, end)
            if pc.sum(counts).as_py():
                newlines += sign * counts.to_numpy(zero_copy_only=False).astype(np.int64)
    records = np.concatenate([good_records, bad_records])
    held = np.concatenate([newlines, np.array([line_ends(row.text.encode()) for row in invalid], dtype=np.int64)])
    order = np.argsort(records, kind="stable")
    before = np.cumsum(held[order]) - held[order]
    lines = np.empty_like(records)
    lines[order] = first_line - 1 + records[order] + before
    malformed = [
        Malformed(line=int(line), reason=f"expected {row.expected} fields, found {row.actual}", raw=row.text)
        for line, row in zip(lines[len(good_records) :], invalid, strict=True)
    ]
    return lines[: len(good_records)], malformed


def read_csv(
    stream: pa.NativeFile,
    file: str,
    columns: list[str],
    has_header: bool,
    block_size: int = BLOCK_SIZE,
) -> Iterator[CsvBatch]:
    """Yield batches of ``columns`` (strings) read from ``stream``, in file order.

    The stream is cut into chunks of whole records (a cut is only made at a
    newline outside any quoted value; a quote opens a value only at a field
    start, elsewhere it is a literal character, as for pyarrow and the csv
    module), so memory stays at a few chunks whatever the file size, and a
    row's values never depend on where a chunk ends. A line ends at LF, CRLF or
    a CR alone (where pyarrow ends a record), so line numbers count all three.
    """
    return read_csv_then(stream, file, columns, has_header, _same, block_size)


def _same(batch: CsvBatch) -> CsvBatch:
    return batch


def read_csv_then(
    stream: pa.NativeFile,
    file: str,
    columns: list[str],
    has_header: bool,
    then: Callable[[CsvBatch], T],
    block_size: int = BLOCK_SIZE,
) -> Iterator[T]:
    """``read_csv`` with ``then`` applied to each batch by the same worker that parsed it."""

    def numbered() -> Iterator[tuple[bytes, bool, int]]:
        first_line = 1
        for chunk, is_first in _record_chunks(stream, file, block_size):
            yield chunk, has_header and is_first, first_line
            first_line += line_ends(chunk)

    def parse(item: tuple[bytes, bool, int]) -> T:
        return then(_parse_chunk(item[0], file, columns, item[1], item[2]))

    yield from prefetch(ordered_map(parse, numbered(), PARSE_WORKERS))


def _record_chunks(stream: pa.NativeFile, file: str, block_size: int) -> Iterator[tuple[bytes, bool]]:
    carry = b""
    first = True
    bytes_read = 0
    while True:
        try:
            data = stream.read(block_size)
        except (OSError, EOFError, pa.ArrowInvalid) as exc:
            raise InputFormatError(f"{file}: cannot be read after byte {bytes_read:,}: {exc}") from exc
        bytes_read += len(data)
        buffer = carry + data if carry else data
        if not data:
            if buffer:
                yield buffer, first
            return
        cut = _last_record_end(buffer)
        if cut <= 0:
            if len(buffer) > MAX_RECORD_BYTES:
                raise InputFormatError(
                    f"{file}: no record ends within {MAX_RECORD_BYTES >> 20} MiB; "
                    "a quote is probably never closed (the file is damaged or not CSV)"
                )
            carry = buffer
            continue
        yield buffer[:cut], first
        first = False
        carry = buffer[cut:]


def count_byte(data: bytes, byte: int) -> int:
    """How many times ``byte`` occurs in ``data`` (numpy: twice the speed of ``bytes.count``)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == byte))


def line_ends(data: bytes) -> int:
    """How many lines ``data`` ends: LF, CRLF and a CR alone each end one (pyarrow and the csv module split there)."""
    if b"\r" not in data:  # memchr: a twentieth of a count, and most files hold no CR
        return count_byte(data, ord("\n"))
    return count_byte(data, ord("\n")) + count_byte(data, ord("\r")) - data.count(b"\r\n")


def _last_record_end(buffer: bytes) -> int:
    """Offset just after the last newline that lies outside quotes, or 0 (``buffer`` starts at a record).

    A quote opens a quoted value only at the start of a field (pyarrow's rule and the csv module's);
    anywhere else it is a literal character. Where every quote that would open by count does stand at
    a field start, the count of quotes before a newline tells whether it is inside a value (fast);
    otherwise the quoted values are found one by one.
    """
    if b'"' not in buffer:
        return buffer.rfind(b"\n") + 1
    if not _quotes_open_at_field_starts(buffer):
        return _last_record_end_by_fields(buffer)
    end = buffer.rfind(b"\n")
    quotes = buffer.count(b'"', 0, end) if end >= 0 else 0
    while end >= 0:
        if quotes % 2 == 0:
            return end + 1
        previous = buffer.rfind(b"\n", 0, end)
        quotes -= buffer.count(b'"', previous + 1, end)
        end = previous
    return 0


_QUOTED = re.compile(rb'"[^"]*(?:""[^"]*)*"?')  # a quoted value up to its closing quote, or to the end
_OPENED = re.compile(rb'[,\r\n]("[^"]*(?:""[^"]*)*"?)')  # one that opens at a field start


def _quotes_open_at_field_starts(buffer: bytes) -> bool:
    """Whether each quote preceded by an even number of quotes stands at a field start or ends a ``""``."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    quotes = np.flatnonzero(data == ord('"'))
    opening = quotes[0::2]
    closing_before = np.concatenate(([-2], quotes[1::2]))[: len(opening)]
    after = data[np.maximum(opening - 1, 0)]
    first = len(BOM) if buffer.startswith(BOM) else 0
    ok = (after == ord(",")) | (after == ord("\n")) | (after == ord("\r"))
    ok |= (opening == first) | (closing_before == opening - 1)
    return bool(ok.all())


def _quoted_spans(buffer: bytes) -> Iterator[tuple[int, int]]:
    """The (start, end) of each quoted value of ``buffer``, in order, the quotes included."""
    first = len(BOM) if buffer.startswith(BOM) else 0
    position = 0
    if buffer.startswith(b'"', first):
        value = _QUOTED.match(buffer, first)
        assert value is not None
        yield value.span()
        position = value.end()
    for match in _OPENED.finditer(buffer, position):
        yield match.span(1)


def _last_record_end_by_fields(buffer: bytes) -> int:
    """``_last_record_end`` for any buffer: the last newline between quoted values."""
    last = -1
    outside = 0
    for start, end in _quoted_spans(buffer):
        newline = buffer.rfind(b"\n", outside, start)
        if newline >= 0:
            last = newline
        outside = end
    newline = buffer.rfind(b"\n", outside)
    return (newline if newline >= 0 else last) + 1


def _parse_chunk(chunk: bytes, file: str, columns: list[str], skip_header: bool, first_line: int) -> CsvBatch:
    return _parse_plain(chunk, columns, skip_header, first_line) or _parse_any(
        chunk, file, columns, skip_header, first_line
    )


def _parse_plain(chunk: bytes, columns: list[str], skip_header: bool, first_line: int) -> CsvBatch | None:
    """The fast path for the common chunk: Polars parses it, or None when the chunk needs the careful path.

    Taken only when nothing can differ from ``_parse_any``: several columns, no quote, no carriage
    return, no BOM, valid UTF-8 (Polars refuses the rest), no row with too many fields (Polars
    refuses it), as many separators as full rows need (so no row has too few) and no row whose
    fields are all empty (a blank line); then every line is a good row and its number is its position.
    """
    if len(columns) < 2 or b'"' in chunk or b"\r" in chunk or chunk.startswith(BOM) or chunk.endswith(b"\n\n"):
        return None
    if skip_header and b"\n" not in chunk:
        return None  # the header alone
    body = chunk[chunk.index(b"\n") + 1 :] if skip_header else chunk
    if not body.strip(b"\n"):
        return None
    try:
        frame = pl.read_csv(
            body,
            has_header=False,
            new_columns=columns,
            schema=dict.fromkeys(columns, pl.String),
            quote_char=None,
            empty_string_is_null=False,
        )
    except pl.exceptions.PolarsError:  # any refusal: the careful path explains it
        return None
    if count_byte(body, ord(",")) != frame.height * (len(columns) - 1):
        return None
    if frame.select(pl.all_horizontal(pl.all().str.len_bytes() == 0).any()).item():
        return None
    start = first_line + (1 if skip_header else 0)
    return CsvBatch(frame, np.arange(start, start + frame.height, dtype=np.int64))


def held_line_ends(chunk: bytes, records: int) -> int:
    """How many line ends of ``chunk`` lie inside quoted values, given that it holds ``records`` records.

    Every record but an unterminated last one ends with one line end; the rest are held in values.
    Zero lets the reader skip counting line ends value by value.
    """
    terminated = records if chunk.endswith((b"\n", b"\r")) else records - 1
    return line_ends(chunk) - terminated


def _parse_any(chunk: bytes, file: str, columns: list[str], skip_header: bool, first_line: int) -> CsvBatch:
    """The careful path: quotes, embedded newlines, malformed rows, invalid UTF-8, blank lines."""
    invalid: list[_Invalid] = []
    if skip_header and b"\n" not in chunk:
        chunk += b"\n"  # a header-only file without a final newline: pyarrow needs the header line ended

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(_Invalid(row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(chunk),
            read_options=pacsv.ReadOptions(
                use_threads=False,
                block_size=len(chunk) + 1,
                skip_rows=1 if skip_header else 0,
                column_names=columns,
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.binary() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFormatError(f"{file}: line {first_line} or after: cannot be read as CSV: {exc}") from exc
    first_record = 2 if skip_header else 1
    records = first_record - 1 + table.num_rows + len(invalid)
    held = b'"' in chunk and held_line_ends(chunk, records) > 0
    lines, malformed = _locate(table, invalid, first_record, first_line, may_hold_newlines=held)
    table, lines, blank = _drop_blank(table, lines)
    table, lines, bad_utf8 = _decode(table, lines)
    return CsvBatch(to_frame(table), lines, sorted(malformed + bad_utf8, key=lambda m: m.line), blank)


def _drop_blank(table: pa.Table, lines: np.ndarray) -> tuple[pa.Table, np.ndarray, int]:
    """Remove rows whose every field is empty (blank lines); they are not data rows."""
    if table.num_rows == 0:
        return table, lines, 0
    blank = None
    for column in table.columns:
        empty = pc.equal(pc.binary_length(column), 0)
        blank = empty if blank is None else pc.and_(blank, empty)
    count = pc.sum(blank).as_py() or 0
    if not count:
        return table, lines, 0
    keep = pc.invert(blank)
    return table.filter(keep), lines[keep.to_numpy(zero_copy_only=False)], count


def _decode(table: pa.Table, lines: np.ndarray) -> tuple[pa.Table, np.ndarray, list[Malformed]]:
    """Cast binary columns to UTF-8 strings; rows with invalid UTF-8 become malformed."""
    try:
        return table.cast(pa.schema([(c, pa.string()) for c in table.column_names])), lines, []
    except pa.ArrowInvalid:
        pass
    bad_rows: dict[int, str] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        for i, value in enumerate(column.to_pylist()):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_rows.setdefault(i, f"{name}: invalid UTF-8 ({exc.reason} at byte {exc.start})")
    keep = np.ones(table.num_rows, dtype=bool)
    keep[list(bad_rows)] = False
    malformed = []
    for i, reason in sorted(bad_rows.items()):
        fields = [v.decode("utf-8", errors="replace") for v in table.slice(i, 1).to_pylist()[0].values()]
        malformed.append(Malformed(line=int(lines[i]), reason=reason, raw=to_csv_line(fields)))
    kept = table.filter(pa.array(keep))
    return kept.cast(pa.schema([(c, pa.string()) for c in kept.column_names])), lines[keep], malformed
