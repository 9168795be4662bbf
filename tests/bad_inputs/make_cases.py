"""Write the byte-level cases of the bad-input corpus (gzip, BOM, CRLF, invalid UTF-8).

The other cases are plain text files written by hand. These are committed too, so the
corpus can be inspected; this script says exactly how they were made. Run from anywhere:
``python tests/bad_inputs/make_cases.py``. Gzip output depends on the zlib build, so a
regenerated ``.gz`` may differ byte-wise from the committed one; its content does not.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOX = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
XCLICK = ",XClick1X,XClick2X,XClick3X,XClick4X,XClick1Y,XClick2Y,XClick3Y,XClick4Y"
LABEL = "ImageID,Source,LabelName,Confidence"
IMAGE = (
    "ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,OriginalSize,"
    "OriginalMD5,Thumbnail300KURL,Rotation"
)
BOM = b"\xef\xbb\xbf"
SEGMENTATION = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks"
GENUINE_MASKS = HERE.parent / "data" / "masks"  # 5 genuine mask PNGs (../shared/openimages/genuine-masks)
# their size and pixel box (x1, y1 exclusive), from ../shared/openimages/README.md
GENUINE_BOXES = {
    "00a1ab47b5439e8c_m0bt9lr_ece6d8d8.png": ((1600, 1066), (1070, 532, 1412, 749)),
    "00b20c960e6e82c2_m0bt9lr_a9038ca9.png": ((1600, 1200), (476, 262, 1193, 1053)),
    "000cc62f167d9fa4_m0663v_37f318a2.png": ((1600, 1200), (352, 96, 1376, 1030)),
    "00dc0baf74f95e45_m0663v_12e4ba7e.png": ((800, 533), (600, 23, 744, 105)),
    "000bd0b4fa27644c_m0pg52_5c80344b.png": ((1280, 960), (824, 323, 1148, 504)),
}


def _image(image_id: str, subset: str, author: bytes, title: bytes, size: str = "494555") -> bytes:
    url = f"https://c1.staticflickr.com/1/67/{image_id}_o.jpg,https://www.flickr.com/photos/x/{image_id}"
    license_and_profile = "https://creativecommons.org/licenses/by/2.0/,https://www.flickr.com/people/x/"
    head = f"{image_id},{subset},{url},{license_and_profile},".encode()
    tail = f",{size},9IzEn38GRNsVpATuv7gzEA==,https://c3.staticflickr.com/1/67/{image_id}_z.jpg,0.0".encode()
    return head + author + b"," + title + tail


def _labels(count: int) -> bytes:
    rows = [f"{i * 7919:016x},verification,/m/0{i % 97:03d}k,{i % 2}" for i in range(1, count + 1)]
    return ("\n".join([LABEL, *rows]) + "\n").encode()


def cases() -> dict[str, dict[str, bytes]]:
    """Case folder → official file name → bytes."""
    boxes = "\n".join(
        [
            BOX,
            "0001eeaf4aed83f9,xclick,/m/0cmf2,1,0.022673031,0.9642005,0.07103825,0.80054647,0,0,0,0,0",
            "000595fe6fee6369,xclick,/m/02wbm,1,0.0,1.0,0.0,1.0,0,0,1,0,0",
            "000595fe6fee6369,activemil,/m/02xwb,1,0.141604,0.180273,0.676238,0.732341,-1,-1,-1,-1,-1",
        ]
    )
    labels = _labels(200)
    damaged = bytearray(gzip.compress(labels, mtime=0))
    middle = len(damaged) * 3 // 4
    damaged[middle : middle + 64] = bytes(64)
    crlf_boxes = [
        BOX + XCLICK,
        "000002b66c9c498e,xclick,/m/01g317,1,0.012500,0.195312,0.148438,0.587500,0,1,0,0,0,"
        "0.148438,0.012500,0.059375,0.195312,0.148438,0.357812,0.587500,0.325000",
        "000002b66c9c498e,activemil,/m/0k4j,1,0.1,0.9,0.2,0.8,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",
    ]
    crlf_images = [
        IMAGE.encode(),
        _image("0001eeaf4aed83f9", "validation", b"Karen", b'"Sunset,\r\nover the lake"'),
        _image("000595fe6fee6369", "validation", b"Ann", b"Hill", size="-5"),
        _image("00075905539074f2", "validation", b"Bob", b"Swans"),
    ]
    return {
        "gzip": {"validation-annotations-bbox.csv.gz": gzip.compress(boxes.encode() + b"\n", mtime=0)},
        "corrupt_gzip": {"test-annotations-human-imagelabels.csv.gz": bytes(damaged)},
        "truncated_gzip": {
            "validation-annotations-human-imagelabels.csv.gz": gzip.compress(_labels(40), mtime=0)[:300]
        },
        "invalid_utf8_title": {
            "oidv6-train-images-with-labels-with-rotation.csv": b"\n".join(
                [
                    IMAGE.encode(),
                    _image("000002b66c9c498e", "train", b"Michael Beat", "Caf\u00e9 \u65e5\u672c".encode()),
                    _image("000002b97e5471a0", "train", b"Michael Beat", b"Caf\xe9 au lait"),  # Latin-1
                    _image("000002c707c9895e", "train", b"\xff\xfeKaren", b'"Three boys, one hill"'),
                    _image("0000048549557964", "train", b"Karen", b'"quoted, and cut: \xe6\x97"'),
                    _image("0000071d71a0a6f6", "train", b"Ann", b"fine"),
                ]
            )
            + b"\n"
        },
        "bom": {
            "validation-annotations-human-imagelabels-boxable.csv": BOM
            + b"\n".join([LABEL.encode(), b"0001eeaf4aed83f9,verification,/m/0cmf2,1"])
            + b"\n"
        },
        "bom_headerless": {  # the official file's CRLF on every line but the last, plus a BOM
            "class-descriptions-boxable.csv": BOM + b"/m/011k07,Tortoise\r\n/m/011q46kg,Container\r\n/m/012074,Magpie"
        },
        "crlf": {
            "oidv6-train-annotations-bbox.csv": ("\r\n".join(crlf_boxes) + "\r\n").encode(),
            "validation-images-with-rotation.csv": b"\r\n".join(crlf_images) + b"\r\n",
        },
    }


def _segmentation_row(name: str) -> str:
    """The CSV row of a genuine mask, its box the mask's pixel box normalised (their real rows are not published)."""
    (width, height), (x0, y0, x1, y1) = GENUINE_BOXES[name]
    image_id, label, box_id = name[:16], "/m/" + name[18:-13], name[-12:-4]
    box = f"{x0 / width:.6f},{x1 / width:.6f},{y0 / height:.6f},{y1 / height:.6f}"
    return f"{name},{image_id},{label},{box_id},{box},0.9,"


def _segmentation(names: list[str], extra: list[str] = []) -> bytes:  # noqa: B006 (read only)
    return ("\n".join([SEGMENTATION, *(_segmentation_row(n) for n in names), *extra]) + "\n").encode()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip of ``members`` in order, stored (PNGs are compressed already), with a fixed date: same bytes every run."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2019, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _rgb_png(width: int, height: int) -> bytes:
    """A valid 8-bit RGB PNG (not a mask's mode)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">2I5B", width, height, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\0" + b"\xff\0\0" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def mask_cases() -> dict[str, dict[str, bytes]]:
    """Cases of mask archives: genuine PNGs, a cut archive, a damaged member, a wrong mode, a bad name, orphans."""
    genuine = {name: (GENUINE_MASKS / name).read_bytes() for name in sorted(GENUINE_BOXES)}
    names = list(genuine)
    csv_name, zip_name = "validation-annotations-object-segmentation.csv", "validation-masks-0.zip"
    whole = _zip(list(genuine.items()))
    first = names[0]
    damaged = bytearray(_zip([(first, genuine[first])]))
    damaged[30 + len(first) + 100] ^= 0xFF  # a byte of the stored PNG: the member fails its CRC-32
    rgb_name = "0001eeaf4aed83f9_m0cmf2_0badc0de.png"
    return {
        "masks_genuine": {csv_name: _segmentation(names), zip_name: whole},
        "mask_archive_truncated": {csv_name: _segmentation(names), zip_name: whole[: len(whole) // 2]},
        "mask_archive_not_zip": {zip_name: b"<html>Not Found</html>\n"},
        "mask_member_corrupt": {csv_name: _segmentation([first]), zip_name: bytes(damaged)},
        "mask_member_wrong_mode": {zip_name: _zip([(first, genuine[first]), (rgb_name, _rgb_png(4, 3))])},
        "mask_member_bad_name": {zip_name: _zip([("00a1ab47b5439e8c.png", genuine[first]), (first, genuine[first])])},
        "mask_missing_csv_row": {
            csv_name: _segmentation([names[0]], [_segmentation_row(names[1]).replace(names[1][-12:-4], "0000beef")]),
            zip_name: _zip([(names[0], genuine[names[0]]), (names[2], genuine[names[2]])]),
        },
    }


def main() -> None:
    for case, files in (cases() | mask_cases()).items():
        folder = HERE / case
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
            print(f"wrote {folder.relative_to(HERE)}/{name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
