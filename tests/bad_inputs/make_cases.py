"""Write the byte-level cases of the bad-input corpus (gzip, BOM, CRLF, invalid UTF-8).

The other cases are plain text files written by hand. These are committed too, so the
corpus can be inspected; this script says exactly how they were made. Run from anywhere:
``python tests/bad_inputs/make_cases.py``. Gzip output depends on the zlib build, so a
regenerated ``.gz`` may differ byte-wise from the committed one; its content does not.
"""

from __future__ import annotations

import gzip
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


def main() -> None:
    for case, files in cases().items():
        folder = HERE / case
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
            print(f"wrote {folder.relative_to(HERE)}/{name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
