"""The streaming CSV reader: line numbers, malformed rows, encodings, line ends."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from pipeline.core.errors import HeaderError
from pipeline.read.csv_reader import _parse_any, _parse_plain, check_header, parse_header, read_csv
from pipeline.read.threads import ordered_map

COLUMNS = ["a", "b", "c"]


def _read(data: bytes, has_header: bool = True, block_size: int = 1 << 20) -> tuple[list[dict], list[int], list]:
    rows: list[dict] = []
    lines: list[int] = []
    malformed = []
    for batch in read_csv(pa.BufferReader(data), "f.csv", COLUMNS, has_header, block_size=block_size):
        rows += batch.frame.to_dicts()
        lines += batch.lines.tolist()
        malformed += batch.malformed
    return rows, lines, malformed


@pytest.mark.parametrize("block_size", [1 << 20, 40])
def test_line_numbers_count_newlines_inside_quoted_values(block_size: int) -> None:
    data = b'a,b,c\n1,2,3\n4,"multi\nline\nvalue",6\n7,8\n9,"x\ny",11,12\n13,14,15\n'
    rows, lines, malformed = _read(data, block_size=block_size)
    assert [r["a"] for r in rows] == ["1", "4", "13"]
    assert rows[1]["b"] == "multi\nline\nvalue"
    assert lines == [2, 3, 9]
    assert [(m.line, m.reason, m.raw) for m in malformed] == [
        (6, "expected 3 fields, found 2", "7,8"),
        (7, "expected 3 fields, found 4", '9,"x\ny",11,12'),
    ]


def test_crlf_bom_and_missing_final_newline_are_normal() -> None:
    rows, lines, malformed = _read(b"\xef\xbb\xbfa,b,c\r\n1,2,3\r\n4,5,6")
    assert rows == [{"a": "1", "b": "2", "c": "3"}, {"a": "4", "b": "5", "c": "6"}]
    assert lines == [2, 3]
    assert malformed == []


def test_quoted_values_with_commas_and_quotes_survive() -> None:
    rows, _, _ = _read('a,b,c\n1,"Ducks, geese and swans","say ""hi"", café 日本"\n'.encode())
    assert rows == [{"a": "1", "b": "Ducks, geese and swans", "c": 'say "hi", café 日本'}]


def test_invalid_utf8_is_quarantined_with_its_line() -> None:
    rows, lines, malformed = _read(b"a,b,c\n1,2,3\n4,bad\xff,6\n7,8,9\n")
    assert [r["a"] for r in rows] == ["1", "7"]
    assert lines == [2, 4]
    assert len(malformed) == 1
    assert malformed[0].line == 3
    assert malformed[0].reason.startswith("b: invalid UTF-8")
    assert malformed[0].raw == "4,bad\ufffd,6"


def test_blank_lines_are_not_rows_but_keep_line_numbers() -> None:
    batches = list(read_csv(pa.BufferReader(b"a,b,c\n1,2,3\n\n4,5,6\n"), "f.csv", COLUMNS, True))
    assert sum(b.blank_lines for b in batches) == 1
    assert [int(x) for b in batches for x in b.lines] == [2, 4]


def test_headerless_file_starts_at_line_one() -> None:
    rows, lines, _ = _read(b"1,2,3\n4,5,6\n", has_header=False)
    assert len(rows) == 2 and lines == [1, 2]


def test_header_check_names_file_expected_and_found() -> None:
    assert check_header("x.csv", b"a,b,c\r\n1,2,3", [COLUMNS]) == COLUMNS
    with pytest.raises(HeaderError) as error:
        check_header("x.csv", b"a,c,b\n1,2,3\n", [COLUMNS])
    assert str(error.value) == "x.csv: line 1: wrong header.\n  expected: a,b,c\n  found:    a,c,b"
    with pytest.raises(HeaderError, match="found:    an empty file"):
        check_header("x.csv", b"", [COLUMNS])


@pytest.mark.parametrize(
    ("head", "found"),
    [
        (b"\na,b,c\n1,2,3\n", "a blank line (the header must be on the first line)"),
        (b"\xef\xbb\xbf \r\na,b,c\r\n", "a blank line (the header must be on the first line)"),
        (b"a,b,c\r1,2,3\r", "lines ended by CR alone (no LF), the first being 'a,b,c': lines must end with LF or CRLF"),
        (b'a,"b\rc\n', "lines ended by CR alone (no LF), the first being 'a,\"b': lines must end with LF or CRLF"),
    ],
)  # fmt: skip
def test_a_header_not_on_line_1_is_a_header_error_not_a_traceback(head: bytes, found: str) -> None:
    with pytest.raises(HeaderError) as error:
        check_header("x.csv", head, [COLUMNS])
    assert str(error.value) == f"x.csv: line 1: wrong header.\n  expected: a,b,c\n  found:    {found}"


def test_parse_header_strips_bom() -> None:
    assert parse_header(b"\xef\xbb\xbfImageID,Source\r\n") == ["ImageID", "Source"]


def test_a_quote_that_never_closes_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.core.errors import InputFormatError
    from pipeline.read import csv_reader

    monkeypatch.setattr(csv_reader, "MAX_RECORD_BYTES", 100)
    data = b'a,b,c\n1,"open,3\n' + b"4,5,6\n" * 50
    with pytest.raises(InputFormatError, match="a quote is probably never closed"):
        _read(data, block_size=32)


def test_ordered_map_keeps_order_and_raises_in_place() -> None:

    def slow_square(n: int) -> int:
        time.sleep(0.01 * (5 - n % 5))  # later items finish first
        if n == 7:
            raise ValueError("seven")
        return n * n

    assert list(ordered_map(slow_square, iter(range(7)), workers=2)) == [n * n for n in range(7)]
    results = ordered_map(slow_square, iter(range(10)), workers=2)
    assert [next(results) for _ in range(7)] == [n * n for n in range(7)]
    with pytest.raises(ValueError, match="seven"):
        next(results)


def test_many_chunks_parse_in_order_on_several_workers() -> None:
    rows = [f"{i:016x},/m/0{i % 7},{i}" for i in range(5000)]
    data = ("ImageID,LabelName,N\n" + "\n".join(rows) + "\n").encode()
    batches = list(read_csv(pa.BufferReader(data), "f.csv", ["ImageID", "LabelName", "N"], True, block_size=4096))
    assert len(batches) > 20
    assert [v for b in batches for v in b.frame["N"].to_list()] == [str(i) for i in range(5000)]
    assert [int(n) for b in batches for n in b.lines] == list(range(2, 5002))


@pytest.mark.parametrize(
    "chunk",
    [
        b"a,b,c\n1,2,3\n4,5,6\n",
        b"a,b,c\n1,2,3\n4,5,6",
        b"a,b,c\n1,,3\n,,6\n",
        b"a,b,c\n1,2,3\n,,\n4,5,6\n",
        b"a,b,c\n1,2,3\n,,",
        b"a,b,c\n1,2,3\n\n4,5,6\n",
        b"a,b,c\n1,2\n4,5,6,\n",
        b"a,b,c\n1,2,3,4\n",
        b"a,b,c\n1,2\n",
        b'a,b,c\n1,"2,x",3\n',
        b"a,b,c\r\n1,2,3\r\n",
        b"a,b,c\n1,\xff,3\n",
        b"a,b,c\n",
        b"a,b,c",
    ],
)
def test_fast_path_agrees_with_the_careful_path(chunk: bytes) -> None:
    """Where the Polars fast path takes a chunk, it gives what the pyarrow path gives."""
    fast = _parse_plain(chunk, COLUMNS, True, 10)
    careful = _parse_any(chunk, "f.csv", COLUMNS, True, 10)
    taken = chunk in (b"a,b,c\n1,2,3\n4,5,6\n", b"a,b,c\n1,2,3\n4,5,6", b"a,b,c\n1,,3\n,,6\n")
    assert (fast is not None) == taken
    if fast is not None:
        assert fast.frame.equals(careful.frame)
        assert fast.lines.tolist() == careful.lines.tolist() == [11, 12]
        assert (fast.malformed, fast.blank_lines) == (careful.malformed, careful.blank_lines) == ([], 0)


@pytest.mark.parametrize("block_size", [1 << 20, 7, 32])
def test_a_quote_inside_an_unquoted_field_is_literal_whatever_the_size(
    monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    """Issue 11 defect 13: one rule for small and big files (a big one made big by a small record cap)."""
    from pipeline.read import csv_reader

    monkeypatch.setattr(csv_reader, "MAX_RECORD_BYTES", 100)
    tail = b"".join(b'%d,"q\n%d",x\n' % (i, i) for i in range(40))  # quoted newlines after the literal quote
    data = b'a,b,c\n1,12" single,3\n4,"ab"c""d,6\n' + tail  # 5 quotes before the quoted values
    assert len(data) - data.index(b'"') > 4 * csv_reader.MAX_RECORD_BYTES
    rows, lines, malformed = _read(data, block_size=block_size)
    assert malformed == []
    assert rows[:2] == [{"a": "1", "b": '12" single', "c": "3"}, {"a": "4", "b": 'abc""d', "c": "6"}]
    assert rows[2:] == [{"a": str(i), "b": f"q\n{i}", "c": "x"} for i in range(40)]
    assert lines == [2, 3] + [4 + 2 * i for i in range(40)]


def test_the_record_cutter_knows_where_a_quote_opens() -> None:
    from pipeline.read.csv_reader import _last_record_end, _last_record_end_by_fields

    for buffer, end in [
        (b'1,x"y,3\n4,5', 8),  # a literal quote: the newline after it ends a record
        (b'1,"x\ny",3\n4', 10),
        (b'1,"x\ny', 0),
        (b'1,x"y\n"a\nb",2\n3', 14),  # after the literal one, a quote at a field start opens
        (b'"a""\n",b\n', 9),
        (b'\xef\xbb\xbf"a\nb",c\n', 11),
        (b'1,"a"b"\nc,d\n', 12),
    ]:
        assert _last_record_end(buffer) == _last_record_end_by_fields(buffer) == end, buffer


@pytest.mark.parametrize("block_size", [1 << 20, 5])
def test_a_cr_alone_ends_a_line_for_the_line_numbers_too(block_size: int) -> None:
    """pyarrow (like the csv module) ends a record at a CR alone: the lines after it are counted the same way."""
    rows, lines, malformed = _read(b'a,b,c\n1,"x\ry",3\r4,5,6\r\n7,8\r9,10,11\n', block_size=block_size)
    assert rows == [{"a": "1", "b": "x\ry", "c": "3"}, {"a": "4", "b": "5", "c": "6"}, {"a": "9", "b": "10", "c": "11"}]
    assert lines == [2, 4, 6]
    assert [(m.line, m.raw) for m in malformed] == [(5, "7,8")]


@pytest.mark.parametrize(
    "chunk",
    [
        b'a,b,c\n1,"2,x",3\n4,5,6\n',  # quotes, no line end held: the per-value count is skipped
        b'a,b,c\n1,"2,x",3\n4,5,6',  # ... and no final line end
        b'a,b,c\n1,"2\nx",3\n4,5,6',  # a held LF and no final line end
        b'a,b,c\r\n1,"2\r\nx",3\r\n4,"y\rz",6\r\n',  # held CRLF and CR
        b'a,b,c\n1,"2",3\n7,8\n9,"x\ny",11,12\n\n13,"14",15\n',  # malformed rows, one holding a LF; a blank line
        b'a,b,c\n"1",2\n',  # a malformed quoted row
        b'a,b,c\n"x""y",2,3\n\n',
    ],
)
def test_line_numbers_equal_the_value_by_value_count(monkeypatch: pytest.MonkeyPatch, chunk: bytes) -> None:
    """Counting held line ends once per chunk gives the lines counting them in every value gives."""
    import pipeline.read.csv_reader as reader

    shortcut = _parse_any(chunk, "f.csv", COLUMNS, True, 10)
    monkeypatch.setattr(reader, "held_line_ends", lambda chunk, records: 1)  # always count value by value
    counted = _parse_any(chunk, "f.csv", COLUMNS, True, 10)
    assert shortcut.lines.tolist() == counted.lines.tolist()
    assert [(m.line, m.reason) for m in shortcut.malformed] == [(m.line, m.reason) for m in counted.malformed]
    assert shortcut.frame.equals(counted.frame)


def test_held_line_ends() -> None:
    from pipeline.read.csv_reader import held_line_ends

    assert held_line_ends(b'a,b\n1,"x\ny"\n', 2) == 1
    assert held_line_ends(b'a,b\n1,"x\r\ny"', 2) == 1
    assert held_line_ends(b'a,b\n1,"x"\n', 2) == 0
    assert held_line_ends(b'a,b\n1,"x"', 2) == 0
