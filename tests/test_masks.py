"""pipeline/masks: mask names, PNG decoding, COCO RLE (against pycocotools), zip streaming and mask rows."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import SourceError, SourceNotFoundError
from pipeline.masks import png, rle, rows, zip_members
from pipeline.masks.errors import MaskPathError, MaskPngError, RleError, ZipArchiveError
from pipeline.masks.mask_path import MaskName, mask_path, parse_mask_path
from pipeline.masks.zip_members import Member, open_archive
from pipeline.resources import sample_dir
from tests.conftest import SHARED
from tests.servers import FileServer

# pycocotools' decode on numpy 2 warns about __array__; the values are right
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

MASKS = Path(__file__).parent / "data" / "masks"
# ../shared/openimages/README.md, "Mask PNGs": size, area and pixel box (x1, y1 exclusive) of the genuine masks
GENUINE = {
    "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png": ((1600, 1066), 32825, (1070, 532, 1412, 749)),
    "00b20c960e6e82c2_m0bt9lr_a9038ca9.png": ((1600, 1200), 250342, (476, 262, 1193, 1053)),
    "000cc62f167d9fa4_m0663v_37f318a2.png": ((1600, 1200), 771871, (352, 96, 1376, 1030)),
    "00dc0baf74f95e45_m0663v_12e4ba7e.png": ((800, 533), 7878, (600, 23, 744, 105)),
    "000bd0b4fa27644c_m0pg52_5c80344b.png": ((1280, 960), 42219, (824, 323, 1148, 504)),
}
# their compressed COCO counts as pycocotools writes them: length and first characters
GENUINE_COUNTS = {
    "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png": (887, "e_jR12WQ12N2F:N2\\OBYPO`0"),
    "00b20c960e6e82c2_m0bt9lr_a9038ca9.png": (1948, "ng^a05ZU12N2cN?hlNCVS1>i"),
    "000cc62f167d9fa4_m0663v_37f318a2.png": (2240, "Tll<m3cQ11N2JY1jN4N0O2N>"),
    "00dc0baf74f95e45_m0663v_12e4ba7e.png": (376, "]\\h95``01N101N1H9M2N2N3M"),
    "000bd0b4fa27644c_m0pg52_5c80344b.png": (933, "jlTh02mm02N6WROJ]m0a0[O^"),
}


def genuine_bytes(name: str) -> bytes:
    return (MASKS / name).read_bytes()


# --- a tiny PNG encoder (zlib), the test's own ----------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter(line: bytes, prior: bytes, kind: int) -> bytes:
    out = bytearray()
    for i, x in enumerate(line):
        a = line[i - 1] if i else 0
        b = prior[i]
        c = prior[i - 1] if i else 0
        predicted = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
        out.append((x - predicted) & 0xFF)
    return bytes(out)


def make_png(
    pixels: np.ndarray, bit_depth: int = 1, filters: int | list[int] = 0, color_type: int = 0, interlace: int = 0
) -> bytes:
    """A PNG of a 2-D array: 1-bit (pixels 0/1) or 8-bit (bytes), each scanline with its filter type."""
    height, width = pixels.shape
    lines = np.packbits(pixels.astype(bool), axis=1) if bit_depth == 1 else pixels.astype(np.uint8)
    kinds = filters if isinstance(filters, list) else [filters] * height
    raw, prior = bytearray(), bytes(lines.shape[1])
    for line, kind in zip(lines, kinds, strict=True):
        data = line.tobytes()
        raw += bytes([kind]) + _filter(data, prior, kind)
        prior = data
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    return (
        png.SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw), 1)) + _chunk(b"IEND", b"")
    )


def random_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blobs and noise: long runs, runs across columns, single pixels."""
    mask = rng.random((height, width)) < rng.choice([0.0, 0.05, 0.5, 0.95, 1.0])
    if rng.random() < 0.5:
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        mask[y0 : y0 + rng.integers(1, height + 1), x0 : x0 + rng.integers(1, width + 1)] = True
    return mask


# --- mask_path -------------------------------------------------------------------------------------


def test_parse_mask_path_by_fixed_offsets() -> None:
    assert parse_mask_path("677c122b0eaa5d16_m04yx4_9a041d52.png") == MaskName(
        "677c122b0eaa5d16", "/m/04yx4", "9a041d52"
    )
    assert parse_mask_path("7fffffffffffffff_m0_cp5_46bb88ed.png") == MaskName(
        "7fffffffffffffff", "/m/0_cp5", "46bb88ed"
    )
    assert parse_mask_path("0123456789abcdef_m025rp___0000ffff.png").label_mid == "/m/025rp__"
    assert parse_mask_path("0123456789abcdef_m05_5p_0_0000ffff.png").label_mid == "/m/05_5p_0"
    assert mask_path("7fffffffffffffff", "/m/0_cp5", "46bb88ed") == "7fffffffffffffff_m0_cp5_46bb88ed.png"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("677c122b0eaa5d16_m04yx4_9a041d52.PNG", "does not end in .png"),
        ("677c122b0eaa5d16_m_9a041d52.png", "too short"),
        ("677C122B0EAA5D16_m04yx4_9a041d52.png", "'677C122B0EAA5D16' is not an ImageID"),
        ("677c122b0eaa5d16-m04yx4_9a041d52.png", "expected '_' after the 16-digit ImageID"),
        ("677c122b0eaa5d16_m04yx4-9a041d52.png", "expected '_' after the 16-digit ImageID and before"),
        ("677c122b0eaa5d16_m04yx4_9a041d5.png", "before the 8-digit BoxID"),  # a 7-digit BoxID shifts the offsets
        ("677c122b0eaa5d16_M04yx4_9a041d52.png", "'M04yx4' is not a MID without slashes"),
        ("677c122b0eaa5d16_m04yx4_9a041d5z.png", "'9a041d5z' is not a BoxID"),
        ("677c122b0eaa5d16_/m/04yx4_9a041d52.png", "'/m/04yx4' is not a MID"),
        ("masks/677c122b0eaa5d16_m04yx4_9a041d52.png", "is not an ImageID"),
    ],
)
def test_parse_mask_path_names_the_bad_part(name: str, message: str) -> None:
    with pytest.raises(MaskPathError, match=message.replace("(", r"\(")):
        parse_mask_path(name)


def _segmentation_rows() -> list[dict[str, str]]:
    files = sorted(sample_dir().glob("*-annotations-object-segmentation.csv"))
    if SHARED.is_dir():
        files.append(SHARED / "genuine-rows" / "train-annotations-object-segmentation.head.csv")
    found = []
    for file in files:
        with open(file, newline="", encoding="utf-8") as handle:
            found += list(csv.DictReader(handle))
    return found


def test_mask_paths_of_the_segmentation_files_parse_to_their_columns() -> None:
    found = _segmentation_rows()
    assert len(found) >= 50
    assert any("_" in row["LabelName"] for row in found)  # the sample has /m/05_5p_0
    for row in found:
        assert parse_mask_path(row["MaskPath"]) == (row["ImageID"], row["LabelName"], row["BoxID"])


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/openimages is not beside the project")
def test_every_segmentable_mid_round_trips_through_a_mask_path() -> None:
    path = SHARED / "metadata" / "challenge-2019-classes-description-segmentable.csv"
    mids = [line.split(",")[0] for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert len(mids) == 300
    assert sum("_" in mid for mid in mids) == 31
    for mid in mids:
        name = mask_path("00a1ab47b5439e8c", mid, "ece6d8d8")
        assert parse_mask_path(name) == ("00a1ab47b5439e8c", mid, "ece6d8d8")


# --- png -----------------------------------------------------------------------------------------


def test_genuine_masks_decode_to_their_size_area_and_box() -> None:
    for name, ((width, height), area, (x0, y0, x1, y1)) in GENUINE.items():
        mask = png.decode_mask(genuine_bytes(name))
        assert mask.shape == (height, width) and mask.dtype == np.bool_
        assert int(mask.sum()) == area
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/openimages is not beside the project")
def test_the_bundled_masks_are_the_genuine_ones() -> None:
    assert sorted(p.name for p in (SHARED / "genuine-masks").glob("*.png")) == sorted(GENUINE)
    for name in GENUINE:
        assert (SHARED / "genuine-masks" / name).read_bytes() == genuine_bytes(name)


@pytest.mark.parametrize("bit_depth", [1, 8])
@pytest.mark.parametrize("filters", [0, 1, 2, 3, 4, "mixed"])
def test_png_decoder_undoes_every_filter_type(bit_depth: int, filters: int | str) -> None:
    rng = np.random.default_rng(bit_depth * 10 + (5 if filters == "mixed" else int(filters)))
    height, width = 23, 37  # a width that is not a multiple of 8: 1-bit rows end in padding bits
    values = rng.integers(0, 2, (height, width)) if bit_depth == 1 else rng.integers(0, 256, (height, width))
    kinds = list(rng.integers(0, 5, height)) if filters == "mixed" else int(filters)
    data = make_png(values, bit_depth, [int(k) for k in kinds] if isinstance(kinds, list) else kinds)
    decoded = png.decode(data)
    assert (decoded.width, decoded.height, decoded.bit_depth) == (width, height, bit_depth)
    if bit_depth == 8:
        assert np.array_equal(decoded.rows, values.astype(np.uint8))  # the exact bytes, not only set / not set
    assert np.array_equal(decoded.mask(), values != 0)
    pillow = pytest.importorskip("PIL.Image")
    assert np.array_equal(np.array(pillow.open(io.BytesIO(data))) != 0, values != 0)


def test_png_decoder_agrees_with_pillow_on_the_genuine_masks() -> None:
    pillow = pytest.importorskip("PIL.Image")
    for name in GENUINE:
        expected = np.array(pillow.open(MASKS / name)).astype(bool)
        assert np.array_equal(png.decode_mask(genuine_bytes(name)), expected)


def test_png_decoder_gives_the_same_pixels_with_stdlib_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    faster = [png.decode_mask(genuine_bytes(name)) for name in GENUINE]
    monkeypatch.setattr(png, "INFLATE", zlib)  # the fallback when zlib-ng is not installed
    assert all(np.array_equal(png.decode_mask(genuine_bytes(n)), m) for n, m in zip(GENUINE, faster, strict=True))
    with pytest.raises(MaskPngError, match="does not inflate"):
        png.decode(GOOD_PNG[:33] + _chunk(b"IDAT", b"\x78\x01garbage") + _chunk(b"IEND", b""))


def _with_ihdr(data: bytes, **changes: int) -> bytes:
    fields = dict(zip(("width", "height", "depth", "color", "compression", "filter", "interlace"),
                      struct.unpack(">IIBBBBB", data[16:29]), strict=True))  # fmt: skip
    fields.update(changes)
    return data[:8] + _chunk(b"IHDR", struct.pack(">IIBBBBB", *fields.values())) + data[33:]


GOOD_PNG = make_png(np.eye(5, 9, dtype=np.uint8))


REFUSALS = [
        (b"", png.NOT_PNG, "it does not start with the PNG signature (found an empty member)"),
        (b"GIF89a\x01\x00", png.NOT_PNG, "it does not start with the PNG signature (found 47 49 46 38 39 61 01 00)"),
        (GOOD_PNG[:50], png.CORRUPT, "truncated: chunk 'IDAT' needs 23 bytes, 5 remain"),
        (GOOD_PNG[:-12], png.CORRUPT, "truncated: the data ends after"),
        (GOOD_PNG[:20] + b"\xff" + GOOD_PNG[21:], png.CORRUPT, "chunk 'IHDR' at byte 8 fails its CRC"),
        (_with_ihdr(GOOD_PNG, color=2, depth=8), png.WRONG_MODE, "it is 8-bit RGB (color type 2)"),
        (_with_ihdr(GOOD_PNG, color=3, depth=1), png.WRONG_MODE, "it is 1-bit palette (color type 3)"),
        (_with_ihdr(GOOD_PNG, color=0, depth=16), png.WRONG_MODE, "it is 16-bit grayscale (color type 0)"),
        (_with_ihdr(GOOD_PNG, color=0, depth=2), png.WRONG_MODE, "it is 2-bit grayscale (color type 0)"),
        (_with_ihdr(GOOD_PNG, color=4, depth=8), png.WRONG_MODE, "it is 8-bit grayscale + alpha (color type 4)"),
        (_with_ihdr(GOOD_PNG, interlace=1), png.INTERLACED, "it is Adam7-interlaced"),
        (_with_ihdr(GOOD_PNG, color=2, depth=1), png.CORRUPT, "the IHDR is invalid (color type 2, bit depth 1"),
        (_with_ihdr(GOOD_PNG, width=0), png.CORRUPT, "the IHDR gives an impossible size 0 x 5"),
        (_with_ihdr(GOOD_PNG, height=6), png.CORRUPT, "the image data holds 15 bytes, not the 18 of its size"),
        (_with_ihdr(GOOD_PNG, height=4), png.CORRUPT, "the image data is longer than the 12 bytes of its size"),
        (GOOD_PNG[:33] + _chunk(b"IDAT", zlib.compress(bytes(15))[:-4]) + _chunk(b"IEND", b""), png.CORRUPT,
         "the image data's zlib stream is cut short"),
        (_with_ihdr(GOOD_PNG, width=40000, height=40000), png.CORRUPT, "40000 x 40000 pixels is more than a mask"),
        (png.SIGNATURE + _chunk(b"IEND", b""), png.CORRUPT, "the first chunk is 'IEND', not IHDR"),
        (GOOD_PNG[:33] + _chunk(b"IEND", b""), png.CORRUPT, "no IDAT chunk"),
        (GOOD_PNG[:33] + _chunk(b"IDAT", b"\x78\x01garbage") + _chunk(b"IEND", b""), png.CORRUPT, "the image data does not inflate"),
        (GOOD_PNG[:33] + _chunk(b"IDAT", zlib.compress(b"\x07\x00\x00" * 5)) + _chunk(b"IEND", b""), png.CORRUPT,
         "scanline 0 has filter type 7"),
        (GOOD_PNG[:33] + _chunk(b"QQQQ", b"") + GOOD_PNG[33:], png.CORRUPT, "unknown critical chunk 'QQQQ'"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "kind", "detail"), REFUSALS, ids=[detail for _, _, detail in REFUSALS])
def test_png_decoder_refuses_by_name(data: bytes, kind: str, detail: str) -> None:
    with pytest.raises(MaskPngError) as raised:
        png.decode(data)
    assert raised.value.kind == kind
    assert raised.value.detail.startswith(detail), raised.value.detail
    assert str(raised.value).startswith(f"{kind}: ")


def test_png_decoder_skips_ancillary_chunks_and_joins_idat_chunks() -> None:
    pixels = np.eye(5, 9, dtype=np.uint8)
    idat = GOOD_PNG[33:-12][8:-4]
    split = GOOD_PNG[:33] + _chunk(b"tEXt", b"k\x00v") + _chunk(b"IDAT", idat[:3]) + _chunk(b"IDAT", idat[3:])
    assert np.array_equal(png.decode_mask(split + _chunk(b"IEND", b"")), pixels.astype(bool))


# --- rle -----------------------------------------------------------------------------------------


def test_rle_pinned_values() -> None:
    mask = np.array([[0, 1, 1], [0, 1, 0], [1, 1, 0]], np.uint8)
    assert rle.encode(mask).tolist() == [2, 5, 2]
    assert rle.to_string(rle.encode(mask)) == "252"
    assert rle.encode(np.ones((2, 2), bool)).tolist() == [0, 4]
    assert rle.encode(np.zeros((2, 3), bool)).tolist() == [6]
    assert rle.from_string("252").tolist() == [2, 5, 2]
    big = np.zeros((40, 50), np.uint8)
    big[3:30, 5:45] = 1
    big[10:12, :] = 1
    expected = ":2V10000000Ii0^O" + "0" * 77 + "7WOb00000000F"
    assert rle.to_string(rle.encode(big)) == expected
    assert rle.area(rle.encode(big)) == int(big.sum()) == 27 * 40 + 2 * 10
    assert rle.bbox(rle.encode(big), 40) == (0, 3, 50, 30)
    assert rle.bbox(rle.encode(np.zeros((3, 3))), 3) is None
    assert rle.coco_bbox(rle.encode(np.zeros((3, 3))), 3) == [0.0, 0.0, 0.0, 0.0]


def test_rle_matches_pycocotools_on_random_masks() -> None:
    coco = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(13)
    shapes = [(1, 1), (1, 7), (7, 1), (2, 2), (31, 1), (1, 33)]
    shapes += [(int(rng.integers(1, 70)), int(rng.integers(1, 70))) for _ in range(400)]
    shapes += [(1200, 1600), (4, 70000)]  # counts past 2^16; deltas of either sign and many 5-bit groups
    for height, width in shapes:
        mask = random_mask(rng, height, width)
        reference = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        counts = rle.encode(mask)
        assert rle.to_string(counts) == reference["counts"].decode("ascii")
        assert np.array_equal(rle.from_string(reference["counts"]), counts)
        assert np.array_equal(rle.encode_packed(np.packbits(mask, axis=1), width), counts)
        assert np.array_equal(rle.decode(counts, height, width), coco.decode(reference).astype(bool))
        assert np.array_equal(rle.decode(counts, height, width), mask)
        assert rle.area(counts) == int(coco.area(reference))
        assert rle.coco_bbox(counts, height) == coco.toBbox(reference).tolist()


def test_rle_of_the_genuine_masks_matches_pycocotools() -> None:
    for name, ((width, height), area, box) in GENUINE.items():
        scanlines = png.decode(genuine_bytes(name))
        counts = rle.encode_packed(scanlines.rows, width)
        text = rle.to_string(counts)
        assert (len(text), text[:24]) == GENUINE_COUNTS[name]
        assert (rle.area(counts), rle.bbox(counts, height)) == (area, box)
        assert np.array_equal(rle.decode(rle.from_string(text), height, width), scanlines.mask())
    coco = pytest.importorskip("pycocotools.mask")
    for name, ((width, height), area, _) in GENUINE.items():
        mask = png.decode_mask(genuine_bytes(name))
        reference = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        counts = rle.encode(mask)
        assert rle.to_string(counts) == reference["counts"].decode("ascii")
        pixels = coco.decode({"size": [height, width], "counts": rle.to_string(counts).encode()})
        assert np.array_equal(pixels.astype(bool), mask) and int(coco.area(reference)) == area


def test_rle_round_trips_strings_of_every_delta_size() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        counts = rng.integers(0, 2**32, rng.integers(1, 40), dtype=np.int64).astype(np.uint32)
        counts[1:] = np.maximum(counts[1:], 1)
        assert np.array_equal(rle.from_string(rle.to_string(counts)), counts)
    coco = pytest.importorskip("pycocotools.mask")
    counts = np.array([3, 70000, 1, 2**20, 5, 2**31, 7], np.uint32)
    height = int(counts.sum(dtype=np.int64))
    assert (
        coco.frPyObjects({"size": [height, 1], "counts": counts.tolist()}, height, 1)["counts"]
        == rle.to_string(counts).encode()
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("25 ", "character 3"),
        ("25é", "character 3"),
        ("2a", "truncated"),
        ("O", "outside 0..2\\^32-1"),
        ("`" * 13 + "0", "too long"),
    ],
)
def test_rle_refuses_bad_strings(text: str, message: str) -> None:
    with pytest.raises(RleError, match=message):
        rle.from_string(text)


def test_rle_decode_checks_the_size() -> None:
    with pytest.raises(RleError, match=r"add up to 9 pixels, not 2 x 4 = 8"):
        rle.decode(np.array([2, 5, 2]), 2, 4)
    with pytest.raises(RleError, match="2-D"):
        rle.encode(np.zeros(3))


# --- zip_members ---------------------------------------------------------------------------------


def member_names(count: int) -> list[str]:
    return [f"{i:016x}_m0_cp5_{i:08x}.png" for i in range(count)]


@pytest.fixture(scope="module")
def zip64_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """More members than a classic end record counts (65,535): Python's zipfile writes it as Zip64."""
    path = tmp_path_factory.mktemp("zip64") / "train-masks-0.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i, name in enumerate(member_names(65_600)):
            archive.writestr(name, i.to_bytes(3, "little"))
    return path


def test_zip64_archive_streams_every_member(zip64_archive: Path) -> None:
    data = zip64_archive.read_bytes()
    assert b"PK\x06\x06" in data[-200:] and data[-12:-10] == b"\xff\xff"  # Zip64 end record; classic count 0xFFFF
    with open_archive(str(zip64_archive)) as archive:
        assert len(archive) == 65_600
        members = list(archive.members())
    assert [m.name for m in members] == member_names(65_600)
    assert all(m.data == i.to_bytes(3, "little") and m.error is None for i, m in enumerate(members))


def write_zip(path: Path, members: dict[str, bytes], comment: bytes = b"", deflate: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.comment = comment
    return path


def test_zip_reader_reads_deflate_comments_and_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zip_members, "DIRECTORY_CHUNK", 100)  # entries cut across directory reads
    monkeypatch.setattr(zip_members, "SPAN", 3000)  # several member spans
    contents = {name: bytes([i % 251]) * (i * 37 % 700) for i, name in enumerate(member_names(40))}
    path = write_zip(tmp_path / "a.zip", contents, comment=b"PK\x05\x06 looks like an end record", deflate=True)
    with open_archive(str(path)) as archive:
        assert len(archive) == 40
        assert {m.name: m.data for m in archive.members(read_ahead=0)} == contents


def _corrupt_first_member(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[30 + len(member_names(1)[0])] ^= 0xFF  # the first data byte of a stored member
    path.write_bytes(bytes(data))


def test_zip_member_with_bad_crc_comes_out_with_its_error(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "train-masks-0.zip", {name: b"\x01\x02\x03" for name in member_names(3)})
    _corrupt_first_member(path)
    with open_archive(str(path)) as archive:
        members = list(archive.members())
    assert members[0] == Member(member_names(1)[0], b"", "zip member fails its CRC-32 check")
    assert [m.error for m in members[1:]] == [None, None]


def test_zip_members_that_cannot_be_taken_out_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "train-masks-0.zip"
    names = member_names(4)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(names[0], b"a" * 300, compress_type=zipfile.ZIP_BZIP2)
        archive.writestr(names[1], b"b" * 300, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(names[2], b"c" * 3000)
        archive.writestr(names[3], b"d" * 30)
    data = bytearray(path.read_bytes())
    second = data.index(names[1].encode()) + len(names[1])
    data[second : second + 4] = b"\xff\xff\xff\xff"  # its deflate stream, broken
    path.write_bytes(bytes(data))
    monkeypatch.setattr(zip_members, "MAX_MEMBER", 1000)
    with open_archive(str(path)) as archive:
        errors = [m.error for m in archive.members()]
    assert errors[0] == "zip compression method 12 (only stored and deflate are read)"
    assert errors[1] is not None and errors[1].startswith("zip member's deflate data is corrupt (Error -3")
    assert errors[2:] == ["zip member of 3,000 bytes is larger than a mask can be", None]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[: len(d) // 2], "train-masks-0.zip: no end-of-central-directory record in its last"),
        (lambda d: b"", "train-masks-0.zip: no end-of-central-directory record in its last 0 bytes"),
        (lambda d: b"\x00" * 100, "the archive is truncated or not a zip file"),
        (lambda d: d[:-22] + d[-22:-12] + (0x7FFF).to_bytes(2, "little") + d[-10:], "the end record says 32,767"),
        (lambda d: d[:-6] + (0).to_bytes(4, "little") + d[-2:], "has no signature"),
        (lambda d: d[100:], "runs past its end record"),
        (lambda d: d.replace(b"PK\x03\x04", b"PK\x03\x05", 1), "no local header at byte 0"),
    ],
)
def test_damaged_archive_fails_naming_it(tmp_path: Path, damage: Callable[[bytes], bytes], message: str) -> None:
    path = write_zip(tmp_path / "train-masks-0.zip", {name: b"x" * 50 for name in member_names(5)})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ZipArchiveError, match=message), open_archive(str(path)) as archive:
        list(archive.members())


def test_missing_archive_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match=r"^nope\.zip: archive not found at /"):
        open_archive(str(tmp_path / "nope.zip"))
    with pytest.raises(SourceError, match="is not a regular file"):
        open_archive(str(tmp_path))


@pytest.mark.server
def test_zip_over_http_uses_range_requests(
    tmp_path: Path, file_server: Callable[[Path], FileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zip_members, "DIRECTORY_CHUNK", 4096)
    monkeypatch.setattr(zip_members, "SPAN", 64 << 10)
    contents = {name: bytes([i % 256]) * 1200 for i, name in enumerate(member_names(300))}
    path = write_zip(tmp_path / "validation-masks-0.zip", contents)
    server = file_server(tmp_path)
    with open_archive(server.url + path.name) as archive:
        assert {m.name: m.data for m in archive.members()} == contents
    gets = server.gets(path.name)
    assert gets and all(g.range and g.range.startswith("bytes=") for g in gets)  # never the whole file
    directory = archive.directory_size // 4096 + 1
    spans = len(contents) * 1300 // (64 << 10)
    assert directory + 1 <= len(gets) <= 1 + directory + spans + 3  # the tail, the directory, the spans


@pytest.mark.server
def test_truncated_or_cut_archive_over_http_is_named(tmp_path: Path, file_server: Callable[[Path], FileServer]) -> None:
    path = write_zip(tmp_path / "test-masks-3.zip", {name: b"y" * 500 for name in member_names(20)})
    full = path.read_bytes()
    (tmp_path / "test-masks-4.zip").write_bytes(full[: len(full) - 300])
    server = file_server(tmp_path)
    with pytest.raises(ZipArchiveError, match=r"^test-masks-4\.zip: no end-of-central-directory record"):
        open_archive(server.url + "test-masks-4.zip")
    server.fail("test-masks-3.zip", "cut", after=100)
    cut = r"^test-masks-3\.zip: the transfer was cut while reading the archive from http://127\.0\.0\.1:\d+/test-masks-3\.zip"
    with pytest.raises(ZipArchiveError, match=cut), open_archive(server.url + path.name) as archive:
        list(archive.members())
    with pytest.raises(SourceNotFoundError, match=r"test-masks-9\.zip"):
        open_archive(server.url + "test-masks-9.zip")


# --- rows ----------------------------------------------------------------------------------------


def test_genuine_mask_rows() -> None:
    name = "00dc0baf74f95e45_m0663v_12e4ba7e.png"
    row = rows.mask_row(name, genuine_bytes(name))
    assert tuple(row) == rows.COLUMNS
    assert {k: v for k, v in row.items() if k != "rle_counts"} == {
        "image_id": "00dc0baf74f95e45", "image_id_u64": 0x00DC0BAF74F95E45, "mask_path": name,
        "label_mid": "/m/0663v", "box_id": "12e4ba7e", "mask_width": 800, "mask_height": 533, "area": 7878,
        "pixel_x0": 600, "pixel_y0": 23, "pixel_x1": 744, "pixel_y1": 105,
        "mask_x_min": 600 / 800, "mask_x_max": 744 / 800, "mask_y_min": 23 / 533, "mask_y_max": 105 / 533,
    }  # fmt: skip
    assert rows.decode_row(str(row["rle_counts"]), 533, 800).sum() == 7878


def test_genuine_masks_zipped_under_their_names_give_the_published_rows(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "train-masks-0.zip", {name: genuine_bytes(name) for name in GENUINE}, deflate=True)
    with open_archive(str(path)) as archive:
        (batch,) = rows.encode_members(archive.members(), workers=2, pool="thread")
    assert batch.rejects == [] and batch.read == 5
    table = batch.to_arrow()
    assert table.schema == rows.SCHEMA
    for row in table.to_pylist():
        (width, height), area, box = GENUINE[row["mask_path"]]
        assert (row["mask_width"], row["mask_height"], row["area"]) == (width, height, area)
        assert (row["pixel_x0"], row["pixel_y0"], row["pixel_x1"], row["pixel_y1"]) == box
        mask = png.decode_mask(genuine_bytes(row["mask_path"]))
        assert np.array_equal(rows.decode_row(row["rle_counts"], height, width), mask)
        coco = pytest.importorskip("pycocotools.mask")
        pixels = coco.decode({"size": [height, width], "counts": row["rle_counts"].encode()})
        assert np.array_equal(pixels.astype(bool), mask)


def test_an_8_bit_mask_gives_the_same_row_as_its_1_bit_twin() -> None:
    pixels = np.zeros((30, 45), np.uint8)
    pixels[4:20, 7:40] = 255
    pixels[25, 44] = 1
    name = "0123456789abcdef_m0_cp5_0000ffff.png"
    one, eight = rows.mask_row(name, make_png(pixels > 0, 1)), rows.mask_row(name, make_png(pixels, 8, filters=4))
    assert one == eight
    assert (one["area"], one["pixel_x0"], one["pixel_y0"], one["pixel_x1"], one["pixel_y1"]) == (
        16 * 33 + 1,
        7,
        4,
        45,
        26,
    )


def test_empty_mask_row_has_no_box() -> None:
    row = rows.mask_row("0123456789abcdef_m0_cp5_0000ffff.png", make_png(np.zeros((4, 6), np.uint8)))
    assert (row["area"], row["rle_counts"], row["pixel_x0"], row["mask_x_min"]) == (0, "h0", None, None)


def test_every_member_is_a_row_or_a_reject() -> None:
    good = "0123456789abcdef_m0_cp5_0000ffff.png"
    members: list[rows.MemberLike] = [
        Member(good, make_png(np.eye(4, dtype=np.uint8))),
        Member("0123456789abcdef_m0_cp5_0000ffff.jpg", b"\xff\xd8"),
        Member(good, b"\xff\xd8\xff\xe0 a JPEG"),
        Member(good, GOOD_PNG[:-20]),
        Member(good, _with_ihdr(GOOD_PNG, color=6, depth=8)),
        Member(good, _with_ihdr(GOOD_PNG, interlace=1)),
        Member(good, b"", "zip member fails its CRC-32 check"),
        (good, make_png(np.ones((2, 2), np.uint8))),
    ]
    batch = rows.encode_batch(members)
    assert (batch.rows, len(batch.rejects), batch.read) == (2, 6, 8)
    assert [(r.kind, r.reason) for r in batch.rejects] == [
        ("name pattern", "name pattern: '0123456789abcdef_m0_cp5_0000ffff.jpg': does not end in .png"),
        ("not a PNG", "not a PNG: it does not start with the PNG signature (found ff d8 ff e0 20 61 20 4a)"),
        ("corrupt", "corrupt: truncated: chunk 'IDAT' needs 23 bytes, 15 remain"),
        ("not 1-bit or 8-bit grayscale", "not 1-bit or 8-bit grayscale: it is 8-bit RGBA (color type 6)"),
        ("interlaced", "interlaced: it is Adam7-interlaced; mask PNGs are read non-interlaced only"),
        ("corrupt", "corrupt: zip member fails its CRC-32 check"),
    ]
    assert {r.kind for r in batch.rejects} == set(rows.REJECT_KINDS)


@pytest.mark.parametrize(("workers", "pool"), [(1, "thread"), (2, "thread"), (2, "process"), (2, "given")])
def test_parallel_encoding_keeps_member_order(workers: int, pool: str) -> None:
    rng = np.random.default_rng(7)
    masks = [random_mask(rng, int(rng.integers(1, 60)), int(rng.integers(1, 60))) for _ in range(90)]
    members = [(f"{i:016x}_m0663v_{i:08x}.png", make_png(m)) for i, m in enumerate(masks)]
    members.insert(45, ("not-a-mask.txt", b"hello"))
    if pool == "given":  # a pool the caller keeps across archives
        with ThreadPoolExecutor(2) as executor:
            batches = list(rows.encode_members(members, workers=workers, batch_size=8, pool=executor))
    else:
        batches = list(rows.encode_members(members, workers=workers, batch_size=8, pool=pool))  # type: ignore[arg-type]
    assert len(batches) == 12 and sum(b.read for b in batches) == 91
    paths = [p for b in batches for p in b.columns["mask_path"]]
    assert paths == [name for name, _ in members if name != "not-a-mask.txt"]
    counts = [c for b in batches for c in b.columns["rle_counts"]]
    assert counts == [rle.to_string(rle.encode(m)) for m in masks]
    assert [r.mask_path for b in batches for r in b.rejects] == ["not-a-mask.txt"]


def test_png_encoder_round_trips_and_writes_the_genuine_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GENUINE:  # zlib level 1, Z_RLE, filter 0: the release's own encoding, byte for byte
        assert png.encode(png.decode_mask(genuine_bytes(name))) == genuine_bytes(name), name
    rng = np.random.default_rng(11)
    for height, width in [(1, 1), (3, 7), (5, 8), (9, 9), (40, 1600), (533, 800)]:
        mask = random_mask(rng, height, width)
        data = png.encode(mask)
        scanlines = png.decode(data)
        assert (scanlines.width, scanlines.height, scanlines.bit_depth) == (width, height, 1)
        assert np.array_equal(scanlines.mask(), mask != 0)
        assert png.encode(mask.astype(bool)) == data == png.encode_packed(np.packbits(mask != 0, axis=1), width)
    assert len(png.encode(np.zeros((1200, 1600), bool))) == 312  # an empty 1600 x 1200 mask
    with_zlib = [png.encode(png.decode_mask(genuine_bytes(n))) for n in GENUINE]
    monkeypatch.setattr(png, "DEFLATE", zlib)  # zlib-ng and zlib deflate the same bytes
    assert [png.encode(png.decode_mask(genuine_bytes(n))) for n in GENUINE] == with_zlib
    for bad in (np.zeros((0, 4), bool), np.zeros(4, bool), np.zeros((2, 2, 2), bool)):
        with pytest.raises(ValueError, match="2-D"):
            png.encode(bad)
    with pytest.raises(ValueError, match="cannot hold"):
        png.encode_packed(np.zeros((2, 3), np.uint8), 8)
