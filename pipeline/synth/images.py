"""Image metadata files (Flickr URLs, quoted authors and titles, rotation) and the human-parts image list."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, partial

import numpy as np
import pyarrow as pa

from pipeline.synth import text
from pipeline.synth.core import Chunk, Group, Output, Task, image_ids, lines, official, output
from pipeline.synth.plan import SPLIT_KEY, file_rows, stream, universe
from pipeline.synth.vocab import LICENSES, TITLES, author_table

CHUNK_IMAGES = 1 << 17
ROTATIONS = ("0.0", "90.0", "180.0", "270.0", "", "nan")
ROTATION_P = (0.86, 0.03, 0.01, 0.03, 0.06, 0.01)
ALIAS_SHARE = 0.6  # of authors shown by profile alias rather than numeric ID
FARM_URL_SHARE = 0.5  # of original URLs on farmN.staticflickr.com rather than cN.staticflickr.com
NO_THUMBNAIL_SHARE = 0.08
CAMERA_TITLE_SHARE = 0.3  # of titles like IMG_1234 / DSC01234


@cache
def _tables() -> dict[str, pa.StringArray]:
    authors = author_table()
    return {
        "author": text.table([text.csv_quote(a) for a, _ in authors]),
        "alias": text.table([alias for _, alias in authors]),
        "title": text.table([text.csv_quote(t) for t in TITLES]),
        "camera": text.table(["IMG_", "DSC0", "P10", "DSCN"]),
        "license": text.table(LICENSES),
        "rotation": text.table([f"{r}\n" for r in ROTATIONS]),
    }


def _digits(rng: np.random.Generator, low: int, high: int, n: int) -> pa.StringArray:
    return text.integers(rng.integers(low, high, n))


def image_rows(rng: np.random.Generator, split: str, ids: np.ndarray) -> pa.StringArray:
    """One images-file line per ID (with its newline)."""
    n = len(ids)
    t = _tables()
    farm, server, photo = _digits(rng, 1, 10, n), _digits(rng, 1, 10_000, n), _digits(rng, 10**8, 5 * 10**10, n)
    host = text.where(
        rng.random(n) < FARM_URL_SHARE,
        text.join(["https://farm", farm, ".staticflickr.com/"]),
        text.join(["https://c", _digits(rng, 1, 9, n), ".staticflickr.com/", farm, "/"]),
    )
    secrets = text.hex_digits(rng.integers(0, 2**63, (n,), dtype=np.uint64) * 2 + 1)
    original = text.join([host, server, "/", photo, "_", text.from_matrix(secrets[:, :10]), "_o.jpg"])
    author = rng.integers(0, len(t["author"]), n)
    nsid = text.join([_digits(rng, 10**7, 10**8, n), "@N0", _digits(rng, 0, 9, n)])
    user = text.where(rng.random(n) < ALIAS_SHARE, text.pick(t["alias"], author), nsid)
    camera = text.join([text.pick(t["camera"], rng.integers(0, 4, n)), _digits(rng, 1000, 10_000, n)])
    titled = text.pick(t["title"], rng.integers(0, len(TITLES), n))
    title = text.where(rng.random(n) < CAMERA_TITLE_SHARE, camera, titled)
    size = text.integers(np.exp(rng.uniform(np.log(40_000), np.log(12_000_000), n)).astype(np.int64))
    md5 = text.from_matrix(text.base64_16(rng.integers(0, 256, (n, 16), dtype=np.uint8)))
    thumb_host = text.join(["https://c", _digits(rng, 1, 9, n), ".staticflickr.com/", farm, "/", server, "/"])
    thumb = text.join([thumb_host, photo, "_", text.from_matrix(secrets[:, 6:]), "_z.jpg"])
    thumb = text.join([thumb, text.where(rng.random(n) < 0.2, "?zz=1", "")])
    thumb = text.where(rng.random(n) < NO_THUMBNAIL_SHARE, "", thumb)
    rotation = text.pick(t["rotation"], rng.choice(len(ROTATIONS), n, p=ROTATION_P))
    return text.join(
        [
            image_ids(ids), split, original, text.join(["https://www.flickr.com/photos/", user, "/", photo]),
            text.pick(t["license"], rng.integers(0, len(LICENSES), n)),
            text.join(["https://www.flickr.com/people/", user, "/"]), text.pick(t["author"], author), title,
            size, md5, thumb, rotation,
        ],
        ",",
    )  # fmt: skip


def _chunk(seed: int, split: str, block: int, lo: int, ids: np.ndarray, boxable: np.ndarray, names: dict[str, str],
           wanted: frozenset[str]) -> Chunk:  # fmt: skip
    rows = image_rows(stream(seed, 10, SPLIT_KEY[split], block, lo), split, ids)
    out: Chunk = {}
    if names["images"] in wanted:
        out[names["images"]] = (text.data_of(rows), len(ids))
    if "images_boxable" in names and names["images_boxable"] in wanted:
        out[names["images_boxable"]] = (text.data_of(rows.filter(pa.array(boxable))), int(boxable.sum()))
    return out


def group(seed: int, split: str, scale: float) -> Group:
    """The images file(s) of a split: train has the full file and its boxable subset."""
    families = ("images", "images_boxable") if split == "train" else ("images",)
    outputs = tuple(output(f, split, scale) for f in families)
    names = {o.file.family: o.file.name for o in outputs}

    def tasks(wanted: frozenset[str]) -> Iterator[Task]:
        world = universe(seed, split, scale)
        for k in range(world.blocks):
            block = world.block(k)
            for lo in range(0, len(block.ids), CHUNK_IMAGES):
                hi = lo + CHUNK_IMAGES
                yield partial(_chunk, seed, split, k, lo, block.ids[lo:hi], block.boxable[lo:hi], names, wanted)

    return Group(f"images/{split}", outputs, tasks)


def _parts_chunk(seed: int, block: int, ids: np.ndarray, rows: int, name: str) -> Chunk:
    rng = stream(seed, 11, block)
    chosen = np.sort(rng.choice(len(ids), rows, replace=False))
    return {name: (lines([image_ids(ids[chosen]), "\n"], ""), rows)}


def human_parts_group(seed: int, scale: float) -> Group:
    """``train-image-ids-with-human-parts-and-mammal-boxes.txt``: boxable train IDs, one per line."""
    (file,) = official("human_parts_images", "train")
    out = Output(file, file_rows(file, scale), b"")

    def tasks(wanted: frozenset[str]) -> Iterator[Task]:
        world = universe(seed, "train", scale)
        for k in range(world.blocks):
            rows = world.block_rows(out.rows, k, True)
            if rows:
                yield partial(_parts_chunk, seed, k, world.block(k).boxable_ids, rows, file.name)

    return Group("human_parts_images/train", (out,), tasks)
