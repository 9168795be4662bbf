"""Property-based tests of the readers against a plain reference parse (issue 11, the campaign's second bullet).

The CSV reader, cut into chunks at every offset (a small block size), must give what Python's csv module
gives on the same bytes: the same rows, at the same physical lines, and the same malformed rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.read.csv_reader import _last_record_end, _last_record_end_by_fields, read_csv
from pipeline.read.jsonl_reader import read_jsonl

COLUMNS = ["a", "b", "c"]
_LINE_END = re.compile(r"\r\n|\r|\n")
BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TEXT = 'xyé,\n\r" '  # what values are made of: commas, line ends and quotes included
_UNQUOTED = st.text(alphabet=st.sampled_from([c for c in _TEXT if c not in ',\n\r"'] + ['"']), max_size=5)


@dataclass
class Record:
    """One generated record: its source text (no line end) and the values a CSV parser must find."""

    text: str
    values: list[str]


@st.composite
def fields(draw: st.DrawFn) -> tuple[str, str]:
    """A field's source text and its value: unquoted (a quote inside is literal), quoted, or quoted then more."""
    kind = draw(st.sampled_from(["unquoted", "quoted", "quoted_then_more"]))
    if kind == "unquoted":
        text = draw(_UNQUOTED)
        if text.startswith('"'):
            text = "q" + text  # a quote opens a value only at a field start
        return text, text
    inner = draw(st.text(alphabet=st.sampled_from(list(_TEXT)), max_size=6))
    more = draw(_UNQUOTED) if kind == "quoted_then_more" else ""
    if more.startswith('"'):
        more = "q" + more  # a quote right after the closing one would make a doubled quote
    return '"' + inner.replace('"', '""') + '"' + more, inner + more


@st.composite
def records(draw: st.DrawFn) -> Record:
    count = draw(st.sampled_from([3, 3, 3, 3, 1, 2, 4]))
    drawn = [draw(fields()) for _ in range(count)]
    text = ",".join(text for text, _ in drawn)
    return Record(text, [value for _, value in drawn] if text else [])  # an empty line holds no field


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[Record], list[int]]:
    """A file (header, records, LF, CRLF or CR ends, a final end or not), its records and their first lines.

    A line is ended by LF, CRLF or a CR alone, inside quoted values too (as the csv module counts them).
    """
    body = draw(st.lists(records(), max_size=12))
    ends = [draw(st.sampled_from(["\n", "\r\n", "\r"])) for _ in body]
    for i in range(len(body) - 1):
        if ends[i] == "\r" and not body[i + 1].text:
            ends[i] = "\n"  # a CR before an empty line's LF would be one CRLF
    final = draw(st.booleans()) or (bool(body) and not body[-1].text)  # an empty last line needs its end
    out = "a,b,c" + draw(st.sampled_from(["\n", "\r\n"]))
    starts = []
    for i, (record, end) in enumerate(zip(body, ends, strict=True)):
        starts.append(len(_LINE_END.findall(out)) + 1)
        out += record.text + (end if final or i < len(body) - 1 else "")
    return out.encode(), body, starts


def _read(data: bytes, block_size: int) -> tuple[list[tuple[int, list[str]]], list[tuple[int, str, str]], int]:
    rows: list[tuple[int, list[str]]] = []
    malformed: list[tuple[int, str, str]] = []
    blank = 0
    for batch in read_csv(pa.BufferReader(data), "f.csv", COLUMNS, True, block_size=block_size):
        rows += [(int(line), list(row)) for line, row in zip(batch.lines, batch.frame.rows(), strict=True)]
        malformed += [(m.line, m.reason, m.raw) for m in batch.malformed]
        blank += batch.blank_lines
    return rows, malformed, blank


@BOUNDED
@given(csv_files(), st.integers(min_value=1, max_value=64))
def test_the_csv_reader_agrees_with_the_csv_module(file: tuple[bytes, list[Record], list[int]], block: int) -> None:
    data, body, starts = file
    reference = list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
    assert reference == [r.values for r in body]  # the generator makes what it means
    rows, malformed, blank = _read(data, block)
    expected_rows = [(line, values) for line, values in zip(starts, reference, strict=True) if len(values) == 3]
    expected_rows = [(line, values) for line, values in expected_rows if any(values)]  # ",," is a blank line
    expected_bad = [
        (line, f"expected 3 fields, found {len(values)}", record.text)
        for line, values, record in zip(starts, reference, body, strict=True)
        if values and len(values) != 3
    ]
    assert rows == expected_rows
    assert malformed == expected_bad
    assert blank == sum(1 for values in reference if values in ([], ["", "", ""]))


def _reference_record_end(buffer: bytes) -> int:
    """The last record end outside quotes, by a byte-at-a-time parse (quotes open only at field starts)."""
    last, quoted, at_start = 0, False, True
    i = 3 if buffer.startswith(b"\xef\xbb\xbf") else 0
    while i < len(buffer):
        byte = buffer[i : i + 1]
        if quoted:
            if byte == b'"':
                if buffer[i + 1 : i + 2] == b'"':
                    i += 1
                else:
                    quoted = False
        elif byte == b'"' and at_start:
            quoted = True
        elif byte == b"\n":
            last = i + 1
        at_start = not quoted and byte in (b",", b"\n", b"\r")
        i += 1
    return last


@BOUNDED
@given(st.binary(max_size=40).map(lambda b: bytes(b',"\n\rx'[c % 5] for c in b)))
def test_the_record_cutter_agrees_with_a_byte_at_a_time_parse(buffer: bytes) -> None:
    assert _last_record_end(buffer) == _last_record_end_by_fields(buffer) == _reference_record_end(buffer)


# ---------------------------------------------------------------- the JSON-lines reader

_SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64())])


def _check(value: object) -> str | None:
    return None if isinstance(value, dict) and isinstance(value.get("id"), str) else "not an object with an id"


@st.composite
def jsonl_lines(draw: st.DrawFn) -> bytes:
    """One line: an object (keys in any order, n sometimes missing, spaces around), blank, or not JSON."""
    kind = draw(st.sampled_from(["object", "object", "object", "blank", "broken", "array"]))
    if kind == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t"]))
    if kind == "broken":
        return draw(st.sampled_from([b'{"id": ', b"nul", b'{"id": "a"}}', b'"\xff"']))
    if kind == "array":
        return b"[1, 2]"
    value: dict[str, object] = {"id": draw(st.text(alphabet=st.sampled_from(list('xé"\\\n\r,{}日')), max_size=6))}
    if draw(st.booleans()):
        value["n"] = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    items = list(value.items())
    if draw(st.booleans()):
        items.reverse()
    pad = draw(st.sampled_from(["", " ", "  "]))
    return (pad + json.dumps(dict(items), ensure_ascii=draw(st.booleans())) + pad).encode()


@BOUNDED
@given(st.lists(jsonl_lines(), max_size=12), st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=12, max_size=12))
def test_the_jsonl_reader_agrees_with_json_loads(lines: list[bytes], ends: list[bytes]) -> None:
    data = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    expected_rows, expected_bad, expected_blank = [], [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            expected_blank += 1
            continue
        try:
            reason = _check(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            reason = "not valid JSON"
        if reason is None:
            value = json.loads(line)
            expected_rows.append((number, value["id"], value.get("n")))
        else:
            expected_bad.append((number, reason))
    for chunk in (1, 7, 64, 1 << 20):
        rows, bad, blank = [], [], 0
        for batch in read_jsonl(pa.BufferReader(data), "f.jsonl", _SCHEMA, _check, chunk_bytes=chunk):
            rows += [(int(n), *row) for n, row in zip(batch.lines, batch.frame.rows(), strict=True)]
            bad += [(m.line, m.reason.split(":")[0]) for m in batch.malformed]
            blank += batch.blank_lines
        assert (rows, bad, blank) == (expected_rows, expected_bad, expected_blank), chunk
