"""Generate the bundled Open Images V6 sample in ``pipeline/sample/``.

The sample has one small file per official V6 file name, in the exact official
formats (header line, column order, quoting, number formats):

* the class lists and the hierarchy are byte-exact copies of the genuine files
  kept in the reference folder (``--source``);
* the big annotation files are synthetic, built around the genuine head rows
  of the real files (which are included verbatim), and consistent with each
  other: every ImageID of a split's boxes, masks, relationships, labels and
  narratives is in that split's image file(s), masks and relationships reuse
  boxes of the same split, the ``-boxable`` and boxable-image files are subsets
  of their full counterparts, and so on;
* the 16 mask archives of each split hold one synthetic 1-bit PNG for each of
  its segmentation rows, drawn inside the row's box by the same writer as
  ``oilake synth`` (``pipeline/synth/mask_archives.py``).

The output is deterministic: a fixed seed drives a numpy ``Generator`` and
nothing depends on hash order, so two runs give byte-identical files.

Usage::

    .venv/bin/python tests/tools/make_sample.py [--dest DIR] [--source DIR]
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.synth.mask_archives import DIGITS, archive_name, write_split_archives

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DEST = REPO / "pipeline" / "sample"
DEFAULT_SOURCE = REPO.parent / "shared" / "openimages"
SEED = 20200226  # Open Images V6 release date

SPLITS = ("train", "validation", "test")

IMAGE_HEADER = [
    "ImageID",
    "Subset",
    "OriginalURL",
    "OriginalLandingURL",
    "License",
    "AuthorProfileURL",
    "Author",
    "Title",
    "OriginalSize",
    "OriginalMD5",
    "Thumbnail300KURL",
    "Rotation",
]
BOX_HEADER = [
    "ImageID",
    "Source",
    "LabelName",
    "Confidence",
    "XMin",
    "XMax",
    "YMin",
    "YMax",
    "IsOccluded",
    "IsTruncated",
    "IsGroupOf",
    "IsDepiction",
    "IsInside",
]
XCLICK_HEADER = [
    "XClick1X",
    "XClick2X",
    "XClick3X",
    "XClick4X",
    "XClick1Y",
    "XClick2Y",
    "XClick3Y",
    "XClick4Y",
]
MASK_HEADER = [
    "MaskPath",
    "ImageID",
    "LabelName",
    "BoxID",
    "BoxXMin",
    "BoxXMax",
    "BoxYMin",
    "BoxYMax",
    "PredictedIoU",
    "Clicks",
]
VRD_HEADER = [
    "ImageID",
    "LabelName1",
    "LabelName2",
    "XMin1",
    "XMax1",
    "YMin1",
    "YMax1",
    "XMin2",
    "XMax2",
    "YMin2",
    "YMax2",
    "RelationshipLabel",
]
LABEL_HEADER = ["ImageID", "Source", "LabelName", "Confidence"]

# Official file names, per split.
IMAGES_FILE = {
    "validation": "validation-images-with-rotation.csv",
    "test": "test-images-with-rotation.csv",
}
TRAIN_BOXABLE_IMAGES_FILE = "train-images-boxable-with-rotation.csv"
TRAIN_ALL_IMAGES_FILE = "oidv6-train-images-with-labels-with-rotation.csv"
BOXES_FILE = {
    "train": "oidv6-train-annotations-bbox.csv",
    "validation": "validation-annotations-bbox.csv",
    "test": "test-annotations-bbox.csv",
}
MASKS_FILE = {s: f"{s}-annotations-object-segmentation.csv" for s in SPLITS}
VRD_FILE = {s: f"oidv6-{s}-annotations-vrd.csv" for s in SPLITS}
HUMAN_BOXABLE_FILE = {s: f"{s}-annotations-human-imagelabels-boxable.csv" for s in SPLITS}
HUMAN_FULL_FILE = {
    "train": "oidv6-train-annotations-human-imagelabels.csv",
    "validation": "validation-annotations-human-imagelabels.csv",
    "test": "test-annotations-human-imagelabels.csv",
}
MACHINE_FILE = {s: f"{s}-annotations-machine-imagelabels.csv" for s in SPLITS}
NARRATIVE_FILES = {
    "train": [
        "open_images_train_v6_localized_narratives-00000-of-00010.jsonl",
        "open_images_train_v6_localized_narratives-00001-of-00010.jsonl",
    ],
    "validation": ["open_images_validation_localized_narratives.jsonl"],
    "test": ["open_images_test_localized_narratives.jsonl"],
}
NARRATIVE_DATASET = {
    "train": "open_images_train_v6",
    "validation": "open_images_validation",
    "test": "open_images_test",
}
HUMAN_PARTS_CLASSES_FILE = "class-ids-human-body-parts-and-mammal.txt"
HUMAN_PARTS_IMAGES_FILE = "train-image-ids-with-human-parts-and-mammal-boxes.txt"
TRAINABLE_FILE = "oidv6-classes-trainable.txt"
SEGMENTABLE_FILE = "classes-segmentation.txt"

# Byte-exact copies: official name -> file in the reference metadata folder.
COPIES = {
    "class-descriptions-boxable.csv": "class-descriptions-boxable.csv",
    "oidv6-class-descriptions.csv": "oidv6-class-descriptions.csv",
    "bbox_labels_600_hierarchy.json": "bbox_labels_600_hierarchy.json",
    "oidv6-attributes-description.csv": "challenge-2018-attributes-description.csv",
    "oidv6-relationships-description.csv": "challenge-2018-relationships-description.csv",
    "oidv6-relationship-triplets.csv": "challenge-2018-relationship-triplets.csv",
}

# Sizes of the sample.
N_BOXED = {"train": 120, "validation": 40, "test": 40}
N_TRAIN_UNBOXED = 40
MEAN_EXTRA_BOXES = {"train": 7.2, "validation": 6.3, "test": 6.3}
N_MASKS = {"train": 26, "validation": 10, "test": 10}  # plus 4 genuine in train
EMPTY_CLICKS = {"train": 2, "validation": 0, "test": 1}
VRD_PLAN = {  # (images, `is` rows, other rows)
    "train": (20, 53, 7),
    "validation": (5, 13, 2),
    "test": (5, 13, 2),
}
N_HUMAN_PARTS_IMAGES = 20
N_NARRATIVE_IMAGES = {"train": 24, "validation": 8, "test": 8}
N_DOUBLE_NARRATIVES = {"train": 6, "validation": 2, "test": 2}
N_TRAINABLE_BOXABLE = 190
N_TRAINABLE_OTHER = 110

# The four ImageIDs at the edges of the signed/unsigned 64-bit ranges; splits
# stay disjoint, as in the real release.
EDGE_IDS = {
    "train": ["7fffffffffffffff", "8000000000000000"],
    "validation": ["0000000000000000"],
    "test": ["ffffffffffffffff"],
}

PERSON, MAN, WOMAN, CLOTHING = "/m/01g317", "/m/04yx4", "/m/03bt1vf", "/m/09j2d"
GUITAR, CANDLE, BOY, HUMAN_EYE = "/m/0342h", "/m/0c06p", "/m/01bl7v", "/m/014sv8"
CHOPSTICKS = "/m/01_5g"

# Boxable classes by decreasing frequency (Zipf-like weights follow the rank);
# the rest of the class pool is drawn at random from the boxable list.
TOP_CLASSES = [
    PERSON,
    MAN,
    WOMAN,
    CLOTHING,
    "/m/0dzct",  # Human face
    "/m/07j7r",  # Tree
    "/m/09j5n",  # Footwear
    "/m/0k4j",  # Car
    "/m/0cgh4",  # Building
    "/m/083wq",  # Wheel
    "/m/03q69",  # Human hair
    "/m/0d4v4",  # Window
    "/m/05r655",  # Girl
    BOY,
    "/m/0dzf4",  # Human arm
    "/m/05s2s",  # Plant
    "/m/0c9ph5",  # Flower
    "/m/0k65p",  # Human hand
    "/m/04bcr3",  # Table
    "/m/01mzpv",  # Chair
    "/m/03jm5",  # House
    "/m/0h9mv",  # Tire
    "/m/0jyfg",  # Glasses (two parents)
    "/m/02dl1y",  # Hat (two parents)
    "/m/0fly7",  # Jeans
    "/m/01d40f",  # Dress
    "/m/04dr76w",  # Bottle (two parents)
    "/m/02wbm",  # Food
    "/m/0bt9lr",  # Dog
    "/m/01yrx",  # Cat
    HUMAN_EYE,
    "/m/04hgtk",  # Human head
    "/m/0zvk5",  # Helmet (two parents)
    "/m/04ctx",  # Knife (two parents)
    CHOPSTICKS,  # Chopsticks (two parents)
    "/m/0cmx8",  # Spoon (two parents)
    "/m/03k3r",  # Horse
    GUITAR,
    "/m/0199g",  # Bicycle (two parents)
    "/m/07j87",  # Tomato (two parents)
]
N_CLASS_POOL = 100

# Human body parts and mammals (the exhaustively annotated classes).
HUMAN_PARTS_NAMES = [
    "Human body",
    "Human face",
    "Human eye",
    "Human hand",
    "Human ear",
    "Human nose",
    "Human mouth",
    "Human head",
    "Human arm",
    "Human leg",
    "Human foot",
    "Human beard",
    "Human hair",
    "Mammal",
    "Cat",
    "Dog",
    "Horse",
    "Cattle",
    "Sheep",
    "Elephant",
    "Bear",
    "Monkey",
    "Rabbit",
    "Squirrel",
    "Deer",
]

# Non-boxable classes whose names need CSV quoting; kept in the trainable list.
QUOTED_CLASSES = ["/m/01c_0l", "/m/02wvth"]

AUTHORS = [  # (Author, Flickr alias used in the profile URL)
    ("Anna Schmidt", "anna-schmidt"),
    ("José Ramírez", "jramirez"),
    ("Zoë Taylor", "zoetaylor"),
    ("Jürgen Müller", "jmueller"),
    ("田中 太郎", "taro_tanaka"),
    ("Smith, John", "johnsmith"),
    ('Dave "Tiny" Jones', "tinyjones"),
    ("Studio Nord, Ltd.", "studionord"),
    ("bob & alice", "bobandalice"),
    ("Łukasz Kowalski", "lkowalski"),
    ("Sébastien Côté", "scote"),
    ("photo_nerd_82", "photo_nerd_82"),
    ("Nguyễn Văn An", "nguyenvanan"),
    ("Émilie 🌻", "emilie"),
    ("Marco Rossi", "marcorossi"),
    ("Karen", "drkaren"),
    ("Peter O'Brien", "pobrien"),
    ("Ingrid Ødegård", "ingrido"),
    ('The "Weekend" Photographers, Inc.', "weekendphotographers"),
    ("Tomás", "tomas_photo"),
    ("mike t", "miket"),
    ("Ахмед Иванов", "aivanov"),
]
TITLES = [
    "IMG_4521",
    "DSC01234",
    "Summer holiday, day 3",
    'The "old" bridge',
    "Café au lait",
    "Über den Wolken",
    "日本の夏祭り",
    "🎸 jam session 🎸",
    "",
    "Three dogs, one ball",
    'Marché, Paris, "rue Cler"',
    "P1010234.JPG",
    "Birthday party",
    "Sunset at the beach",
    "Frühling in München",
    "",
    "Straße, Köln",
    "Grandma's kitchen",
    "東京タワー",
    "Happy 🎉 New Year!",
    "Rock concert",
    "street",
    "My new bike, finally!",
    "Ça va?",
    '"Untitled"',
    "Hiking trip - day 2",
    "Zürich",
]
ANNOTATORS = [7, 28, 41, 59, 80, 93, 101, 117, 125, 136, 151]

PLURALS = {
    "person": "people",
    "man": "men",
    "woman": "women",
    "clothing": "clothes",
    "footwear": "shoes",
    "glasses": "glasses",
    "jeans": "jeans",
    "food": "food",
    "hair": "hair",
    "sheep": "sheep",
    "deer": "deer",
    "chopsticks": "chopsticks",
    "knife": "knives",
    "cattle": "cattle",
}
NUMBER_WORDS = {2: "two", 3: "three", 4: "a few"}


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    """Return one element of ``items`` chosen uniformly."""
    return items[int(rng.integers(len(items)))]


def pick_weighted(rng: np.random.Generator, items: Sequence[str], weights: np.ndarray) -> str:
    """Return one element of ``items`` chosen with probabilities ``weights``."""
    return items[int(rng.choice(len(items), p=weights))]


def sample(rng: np.random.Generator, items: Sequence[str], k: int) -> list[str]:
    """Return ``k`` distinct elements of ``items`` (in drawn order)."""
    idx = rng.choice(len(items), size=min(k, len(items)), replace=False)
    return [items[int(i)] for i in idx]


def tri(rng: np.random.Generator, p_one: float, p_unknown: float) -> str:
    """Draw an ``Is*`` attribute: ``1`` present, ``0`` absent, ``-1`` unknown."""
    u = rng.random()
    if u < p_unknown:
        return "-1"
    return "1" if u < p_unknown + p_one else "0"


def fmt_train(v: float) -> str:
    """Train box number: exactly six decimals (``0.012500``)."""
    return f"{v:.6f}"


def fmt_eval(v: float) -> str:
    """Validation/test box number: shortest float32 text (``0.022673031``)."""
    return str(np.float32(v))


def trim(text: str) -> str:
    """Drop trailing zeros of a decimal (``0.887500`` -> ``0.8875``, ``1.000000`` -> ``1.0``)."""
    out = text.rstrip("0")
    return out + "0" if out.endswith(".") else out


def read_csv_rows(path: Path) -> list[list[str]]:
    """Read every row of a CSV file (header included)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def read_pairs(path: Path) -> dict[str, str]:
    """Read a headerless ``MID,Name`` file into an ordered dict."""
    return {row[0]: row[1] for row in read_csv_rows(path)}


def write_csv(path: Path, header: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> int:
    """Write a CSV file (QUOTE_MINIMAL, LF line ends); return the data row count."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def write_lines(path: Path, lines: Sequence[str]) -> int:
    """Write one item per line (LF); return the line count."""
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return len(lines)


# --------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------


@dataclass
class Image:
    """One image of a split; ``row`` is its line in the images file."""

    image_id: str
    split: str
    width: int
    height: int
    boxed: bool
    row: list[str] = field(default_factory=list)


@dataclass
class Box:
    """One box row; coordinates are kept as the text written in the box file."""

    image_id: str
    source: str
    label: str
    coords: tuple[str, str, str, str]  # XMin, XMax, YMin, YMax
    flags: tuple[str, str, str, str, str]
    clicks: tuple[str, ...] = ()  # the eight XClick values (train only)

    def row(self) -> list[str]:
        """The box file row."""
        return [self.image_id, self.source, self.label, "1", *self.coords, *self.flags, *self.clicks]


@dataclass
class Triplet:
    """A planned relationship of an image (``label2`` is an attribute for ``is``)."""

    label1: str
    label2: str
    relation: str


@dataclass
class Split:
    """Everything generated for one split."""

    name: str
    images: dict[str, Image] = field(default_factory=dict)
    boxes: list[Box] = field(default_factory=list)
    masks: list[list[str]] = field(default_factory=list)
    vrd: list[list[str]] = field(default_factory=list)
    human_boxable: list[list[str]] = field(default_factory=list)
    human_full: list[list[str]] = field(default_factory=list)
    machine: list[list[str]] = field(default_factory=list)
    narratives: list[dict[str, object]] = field(default_factory=list)
    required: dict[str, list[str]] = field(default_factory=dict)
    forbidden: dict[str, set[str]] = field(default_factory=dict)
    fixed_boxes: dict[str, list[Box]] = field(default_factory=dict)
    plans: dict[str, list[Triplet]] = field(default_factory=dict)

    def boxes_of(self, image_id: str) -> list[Box]:
        """Boxes of one image, in file order."""
        return [b for b in self.boxes if b.image_id == image_id]


@dataclass
class Reference:
    """Genuine reference material read from ``--source``."""

    boxable: dict[str, str]
    all_classes: dict[str, str]
    segmentable: list[str]
    attributes: dict[str, str]
    triplets: list[Triplet]
    genuine_images: list[list[str]]
    genuine_train_boxes: list[list[str]]
    genuine_val_boxes: list[list[str]]
    genuine_train_labels: list[list[str]]
    genuine_val_labels: list[list[str]]
    genuine_masks: list[list[str]]


def load_reference(source: Path) -> Reference:
    """Read the genuine metadata and head rows."""
    meta, heads = source / "metadata", source / "genuine-rows"
    all_rows = read_csv_rows(meta / "oidv6-class-descriptions.csv")[1:]
    triplet_rows = read_csv_rows(meta / "challenge-2018-relationship-triplets.csv")[1:]
    return Reference(
        boxable=read_pairs(meta / "class-descriptions-boxable.csv"),
        all_classes={r[0]: r[1] for r in all_rows},
        segmentable=list(read_pairs(meta / "challenge-2019-classes-description-segmentable.csv")),
        attributes=read_pairs(meta / "challenge-2018-attributes-description.csv"),
        triplets=[Triplet(*r) for r in triplet_rows],
        genuine_images=read_csv_rows(heads / "train-images-boxable-with-rotation.head.csv")[1:],
        genuine_train_boxes=read_csv_rows(heads / "oidv6-train-annotations-bbox.head.csv")[1:],
        genuine_val_boxes=read_csv_rows(heads / "validation-annotations-bbox.head.csv")[1:],
        genuine_train_labels=read_csv_rows(heads / "train-annotations-human-imagelabels-boxable.head.csv")[1:],
        genuine_val_labels=read_csv_rows(heads / "validation-annotations-human-imagelabels-boxable.head.csv")[1:],
        genuine_masks=read_csv_rows(heads / "train-annotations-object-segmentation.head.csv")[1:],
    )


# --------------------------------------------------------------------------
# Class lists
# --------------------------------------------------------------------------


@dataclass
class Classes:
    """The class pools the generator draws from."""

    pool: list[str]  # boxable classes used for boxes, by rank
    weights: np.ndarray  # Zipf-like box frequencies over ``pool``
    trainable: list[str]  # oidv6-classes-trainable.txt (sorted)
    other: list[str]  # trainable non-boxable classes
    human_parts: list[str]  # class-ids-human-body-parts-and-mammal.txt
    segmentable: set[str]


def build_classes(rng: np.random.Generator, ref: Reference) -> Classes:
    """Choose the class pool, the trainable list and the human-parts list."""
    boxable = list(ref.boxable)
    missing = [m for m in boxable if m not in ref.all_classes]
    assert not missing, f"boxable MIDs missing from oidv6-class-descriptions: {missing}"
    for mid in TOP_CLASSES:
        assert mid in ref.boxable, mid
    rest = [m for m in boxable if m not in TOP_CLASSES]
    pool = TOP_CLASSES + sample(rng, rest, N_CLASS_POOL - len(TOP_CLASSES))
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 1.1
    weights /= weights.sum()

    by_name = {name: mid for mid, name in ref.boxable.items()}
    human_parts = sorted(by_name[n] for n in HUMAN_PARTS_NAMES)

    extra_boxable = [m for m in boxable if m not in pool]
    trainable_boxable = pool + sample(rng, extra_boxable, N_TRAINABLE_BOXABLE - len(pool))
    non_boxable = [m for m in ref.all_classes if m not in ref.boxable and m not in QUOTED_CLASSES]
    other = QUOTED_CLASSES + sample(rng, non_boxable, N_TRAINABLE_OTHER - len(QUOTED_CLASSES))
    return Classes(
        pool=pool,
        weights=weights,
        trainable=sorted(trainable_boxable + other),
        other=other,
        human_parts=human_parts,
        segmentable=set(ref.segmentable),
    )


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------


def new_ids(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """Draw ``n`` fresh random 64-bit ImageIDs (16 lowercase hex digits)."""
    out: list[str] = []
    while len(out) < n:
        image_id = rng.bytes(8).hex()
        if image_id not in taken:
            taken.add(image_id)
            out.append(image_id)
    return out


def rotations(rng: np.random.Generator, n: int) -> list[str]:
    """Rotation texts for ``n`` images: mostly ``0.0``, a few of each other value."""
    k = max(1, n // 13)
    special = ["90.0"] * k + ["180.0"] * k + ["270.0"] * k + [""] * k + ["nan"] * k
    values = special + ["0.0"] * (n - len(special))
    return [values[int(i)] for i in rng.permutation(n)]


def image_row(rng: np.random.Generator, image_id: str, split: str, rotation: str) -> list[str]:
    """A synthetic images-file row in the Flickr style of the genuine rows."""
    author, alias = AUTHORS[int(rng.integers(len(AUTHORS)))]
    nsid = f"{int(rng.integers(10_000_000, 99_999_999))}@N0{int(rng.integers(0, 9))}"
    user = alias if rng.random() < 0.6 else nsid
    photo = str(int(rng.integers(100_000_000, 50_000_000_000)))
    farm, server = int(rng.integers(1, 10)), int(rng.integers(1, 9999))
    o_secret, secret = rng.bytes(5).hex(), rng.bytes(5).hex()
    if rng.random() < 0.5:
        original = f"https://farm{farm}.staticflickr.com/{server}/{photo}_{o_secret}_o.jpg"
    else:
        original = f"https://c{int(rng.integers(1, 9))}.staticflickr.com/{farm}/{server}/{photo}_{o_secret}_o.jpg"
    thumb = ""
    if rng.random() >= 0.08:
        thumb = f"https://c{int(rng.integers(1, 9))}.staticflickr.com/{farm}/{server}/{photo}_{secret}_z.jpg"
        if rng.random() < 0.2:
            thumb += "?zz=1"
    md5 = base64.b64encode(rng.bytes(16)).decode("ascii")
    return [
        image_id,
        split,
        original,
        f"https://www.flickr.com/photos/{user}/{photo}",
        "https://creativecommons.org/licenses/by/2.0/",
        f"https://www.flickr.com/people/{user}/",
        author,
        pick(rng, TITLES),
        str(int(rng.integers(40_000, 12_000_000))),
        md5,
        thumb,
        rotation,
    ]


def build_images(rng: np.random.Generator, ref: Reference) -> dict[str, Split]:
    """Choose the ImageIDs of every split and write their image rows."""
    genuine_rows = {r[0]: r for r in ref.genuine_images}
    special = {
        "train": [*genuine_rows, ref.genuine_train_boxes[0][0], *dict.fromkeys(r[1] for r in ref.genuine_masks)],
        "validation": [ref.genuine_val_boxes[0][0]],
        "test": [],
    }
    taken = {i for ids in special.values() for i in ids} | {i for ids in EDGE_IDS.values() for i in ids}
    splits: dict[str, Split] = {}
    for name in SPLITS:
        split = Split(name)
        fixed = special[name] + EDGE_IDS[name]
        boxed = fixed + new_ids(rng, N_BOXED[name] - len(fixed), taken)
        unboxed = new_ids(rng, N_TRAIN_UNBOXED, taken) if name == "train" else []
        all_ids = boxed + unboxed
        rots = rotations(rng, len(all_ids))
        for image_id, rot in zip(all_ids, rots, strict=True):
            width, height = (int(v) for v in rng.integers(300, 1025, size=2))
            image = Image(image_id, name, width, height, image_id in boxed)
            image.row = genuine_rows.get(image_id) or image_row(rng, image_id, name, rot)
            split.images[image_id] = image
        high = [i for i in all_ids if i >= "8000000000000000"]
        assert 0 < len(high) < len(all_ids), "need ImageIDs on both sides of 2**63"
        splits[name] = split
    # Sizes implied by the genuine coordinates (pixel grids of the real images).
    splits["train"].images[ref.genuine_train_boxes[0][0]].width = 640
    splits["train"].images[ref.genuine_train_boxes[0][0]].height = 640
    splits["validation"].images[ref.genuine_val_boxes[0][0]].width = 838
    splits["validation"].images[ref.genuine_val_boxes[0][0]].height = 366
    return splits


# --------------------------------------------------------------------------
# Boxes
# --------------------------------------------------------------------------


def xclick_values(rng: np.random.Generator, x0: float, x1: float, y0: float, y1: float) -> tuple[str, ...]:
    """Four extreme clicks (left, right, top, bottom points in random order)."""
    points = [
        (x0, rng.uniform(y0, y1)),
        (x1, rng.uniform(y0, y1)),
        (rng.uniform(x0, x1), y0),
        (rng.uniform(x0, x1), y1),
    ]
    order = [points[int(i)] for i in rng.permutation(4)]
    return tuple(fmt_train(p[0]) for p in order) + tuple(fmt_train(p[1]) for p in order)


def xclick_grid(rng: np.random.Generator, w: int, h: int, box: tuple[int, int, int, int]) -> tuple[str, ...]:
    """Extreme clicks on the pixel grid of a ``w`` x ``h`` image."""
    x0, x1, y0, y1 = box
    points = [
        (x0 / w, int(rng.integers(y0, y1 + 1)) / h),
        (x1 / w, int(rng.integers(y0, y1 + 1)) / h),
        (int(rng.integers(x0, x1 + 1)) / w, y0 / h),
        (int(rng.integers(x0, x1 + 1)) / w, y1 / h),
    ]
    order = [points[int(i)] for i in rng.permutation(4)]
    return tuple(fmt_train(p[0]) for p in order) + tuple(fmt_train(p[1]) for p in order)


def random_flags(rng: np.random.Generator, source: str) -> tuple[str, str, str, str, str]:
    """IsOccluded, IsTruncated, IsGroupOf, IsDepiction, IsInside."""
    unknown = 0.45 if source == "activemil" else 0.04
    return (
        tri(rng, 0.35, unknown),
        tri(rng, 0.25, unknown),
        tri(rng, 0.06, unknown),
        tri(rng, 0.05, unknown),
        tri(rng, 0.02, unknown),
    )


def random_box(rng: np.random.Generator, split: str, image: Image, label: str) -> Box:
    """A random box of ``label`` on ``image``, written in the split's format."""
    w, h = image.width, image.height
    bw = max(2, int(w * rng.uniform(0.04, 0.95)))
    bh = max(2, int(h * rng.uniform(0.04, 0.95)))
    x0 = int(rng.integers(0, w - bw + 1))
    y0 = int(rng.integers(0, h - bh + 1))
    x1, y1 = x0 + bw, y0 + bh
    source = "activemil" if split == "train" and rng.random() < 0.10 else "xclick"
    fmt = fmt_train if split == "train" else fmt_eval
    coords = (fmt(x0 / w), fmt(x1 / w), fmt(y0 / h), fmt(y1 / h))
    clicks: tuple[str, ...] = ()
    if split == "train":
        clicks = ("-1",) * 8 if source == "activemil" else xclick_grid(rng, w, h, (x0, x1, y0, y1))
    return Box(image.image_id, source, label, coords, random_flags(rng, source), clicks)


def box_from_row(row: list[str]) -> Box:
    """A genuine box row, kept verbatim."""
    return Box(
        row[0],
        row[1],
        row[2],
        (row[4], row[5], row[6], row[7]),
        (row[8], row[9], row[10], row[11], row[12]),
        tuple(row[13:]),
    )


def box_for_mask(rng: np.random.Generator, mask: list[str]) -> Box:
    """The train box a genuine mask row refers to (same image, label, coordinates)."""
    x0, x1, y0, y1 = (float(v) for v in mask[4:8])
    return Box(
        mask[1],
        "xclick",
        mask[2],
        (fmt_train(x0), fmt_train(x1), fmt_train(y0), fmt_train(y1)),
        random_flags(rng, "xclick"),
        xclick_values(rng, x0, x1, y0, y1),
    )


def plan_special_boxes(rng: np.random.Generator, ref: Reference, splits: dict[str, Split]) -> None:
    """Fixed (genuine) boxes and required classes of the special images."""
    train, val = splits["train"], splits["validation"]
    for row in ref.genuine_train_boxes:
        train.fixed_boxes.setdefault(row[0], []).append(box_from_row(row))
    for row in ref.genuine_val_boxes:
        val.fixed_boxes.setdefault(row[0], []).append(box_from_row(row))
    for mask in ref.genuine_masks:
        train.fixed_boxes.setdefault(mask[1], []).append(box_for_mask(rng, mask))
    # Genuine label rows: verified-absent classes get no box, a human eye gets one.
    for split, rows in ((train, ref.genuine_train_labels), (val, ref.genuine_val_labels)):
        for row in rows:
            if row[3] == "0":
                split.forbidden.setdefault(row[0], set()).add(row[2])
    train.required.setdefault(ref.genuine_train_labels[0][0], []).append(HUMAN_EYE)
    genuine = [r[0] for r in ref.genuine_images]
    train.required.setdefault(genuine[0], []).extend([CANDLE, CANDLE])  # "...die FNF-Kerze"
    train.required.setdefault(genuine[1], []).extend([BOY, BOY, BOY, PERSON])  # "Three boys on a hill"


def plan_relationships(rng: np.random.Generator, ref: Reference, splits: dict[str, Split]) -> str:
    """Choose relationship images and triplets; return the train guitar image."""
    is_triplets = [t for t in ref.triplets if t.relation == "is" and t.label2 in ref.attributes]
    people = {MAN, WOMAN, BOY, "/m/05r655"}
    other_triplets = [t for t in ref.triplets if t.relation != "is" and t.label1 in people]
    chopsticks = [t for t in is_triplets if t.label1 == CHOPSTICKS]
    guitar_is = [t for t in is_triplets if t.label1 == GUITAR]
    guitar_plays = Triplet(MAN, GUITAR, "plays")
    assert guitar_plays in ref.triplets and guitar_is and chopsticks
    guitar_image = ""
    for name in SPLITS:
        split = splits[name]
        n_images, n_is, n_other = VRD_PLAN[name]
        edges = EDGE_IDS[name]
        candidates = [
            i
            for i, im in split.images.items()
            if im.boxed and i not in split.fixed_boxes and i not in split.required and i not in edges
        ]
        chosen = sample(rng, candidates, n_images - len(edges))
        slots = [pick_triplet(rng, is_triplets) for _ in range(n_is)]
        slots += [pick_triplet(rng, other_triplets) for _ in range(n_other)]
        if name == "train":
            guitar_image = chosen[0]
            slots[0], slots[1], slots[-1] = chopsticks[0], guitar_is[0], guitar_plays
            split.plans[guitar_image] = [guitar_plays, guitar_is[0]]
            slots = slots[:1] + slots[2:-1]
            chosen = chosen[1:]
        chosen += edges
        order = rng.permutation(len(slots))
        for k, idx in enumerate(order):
            split.plans.setdefault(chosen[k % len(chosen)], []).append(slots[int(idx)])
        for image_id, plan in split.plans.items():
            need = split.required.setdefault(image_id, [])
            for t in plan:
                need.append(t.label1)
                if t.relation != "is":
                    need.append(t.label2)
    return guitar_image


def pick_triplet(rng: np.random.Generator, triplets: Sequence[Triplet]) -> Triplet:
    """One triplet chosen uniformly."""
    return triplets[int(rng.integers(len(triplets)))]


def build_boxes(rng: np.random.Generator, classes: Classes, splits: dict[str, Split]) -> None:
    """Generate the box rows of every boxed image (genuine rows first)."""
    for name in SPLITS:
        split = splits[name]
        for image_id in sorted(split.images):
            image = split.images[image_id]
            if not image.boxed:
                continue
            fixed = split.fixed_boxes.get(image_id, [])
            labels = list(split.required.get(image_id, []))
            n_total = max(len(fixed) + len(labels), 1 + int(rng.poisson(MEAN_EXTRA_BOXES[name])))
            forbidden = split.forbidden.get(image_id, set())
            while len(fixed) + len(labels) < n_total:
                label = pick_weighted(rng, classes.pool, classes.weights)
                if label not in forbidden:
                    labels.append(label)
            generated = [random_box(rng, name, image, label) for label in labels]
            generated = [generated[int(i)] for i in rng.permutation(len(generated))]
            split.boxes.extend(fixed + generated)


# --------------------------------------------------------------------------
# Masks and relationships
# --------------------------------------------------------------------------


def clicks_text(rng: np.random.Generator, box: Box) -> str:
    """8-12 clicks ``x y L`` inside (or just around) the box, 5 decimals."""
    x0, x1, y0, y1 = (float(v) for v in box.coords)
    out = []
    for _ in range(int(rng.integers(8, 13))):
        x = min(1.0, max(0.0, rng.uniform(x0, x1)))
        y = min(1.0, max(0.0, rng.uniform(y0, y1)))
        out.append(f"{x:.5f} {y:.5f} {int(rng.random() < 0.55)}")
    return ";".join(out)


def build_masks(rng: np.random.Generator, ref: Reference, classes: Classes, splits: dict[str, Split]) -> None:
    """Masks on boxes of segmentable classes (plus the genuine train rows)."""
    used_ids: set[str] = {m[3] for m in ref.genuine_masks}
    for name in SPLITS:
        split = splits[name]
        candidates = [
            b
            for b in split.boxes
            if b.label in classes.segmentable and b.source == "xclick" and b.image_id not in split.fixed_boxes
        ]
        # One mask on an edge-ID image of the split where possible, the rest at random.
        edge_idx = [
            next(k for k, b in enumerate(candidates) if b.image_id == e)
            for e in EDGE_IDS[name]
            if any(b.image_id == e for b in candidates)
        ]
        rest = [k for k in range(len(candidates)) if k not in edge_idx]
        picked = rng.choice(len(rest), N_MASKS[name] - len(edge_idx), replace=False)
        chosen = [candidates[k] for k in sorted(edge_idx + [rest[int(i)] for i in picked])]
        empty = {int(i) for i in rng.choice(len(chosen), EMPTY_CLICKS[name], replace=False)}
        rows = [list(m) for m in ref.genuine_masks] if name == "train" else []
        for k, box in enumerate(chosen):
            box_id = rng.bytes(4).hex()
            while box_id in used_ids:
                box_id = rng.bytes(4).hex()
            used_ids.add(box_id)
            coords = [trim(c) for c in box.coords] if name == "train" else list(box.coords)
            iou = trim(f"{rng.uniform(0.35, 0.97):.5f}")
            mid = box.label.replace("/m/", "m", 1).replace("/", "")
            clicks = "" if k in empty else clicks_text(rng, box)
            rows.append([f"{box.image_id}_{mid}_{box_id}.png", box.image_id, box.label, box_id, *coords, iou, clicks])
        split.masks = sorted(rows, key=lambda r: r[1])


def take_box(boxes: list[Box], uses: dict[str, int], label: str) -> Box:
    """The next box of ``label`` (cycling), so repeated triplets spread over boxes."""
    of_label = [b for b in boxes if b.label == label]
    k = uses.get(label, 0)
    uses[label] = k + 1
    return of_label[k % len(of_label)]


def build_relationships(splits: dict[str, Split]) -> None:
    """Relationship rows from the planned triplets and the image's boxes."""
    for name in SPLITS:
        split = splits[name]
        rows: list[list[str]] = []
        for image_id in sorted(split.plans):
            boxes = split.boxes_of(image_id)
            uses: dict[str, int] = {}
            for t in split.plans[image_id]:
                b1 = take_box(boxes, uses, t.label1)
                b2 = b1 if t.relation == "is" else take_box(boxes, uses, t.label2)
                rows.append([image_id, t.label1, t.label2, *b1.coords, *b2.coords, t.relation])
        split.vrd = rows


# --------------------------------------------------------------------------
# Image-level labels
# --------------------------------------------------------------------------


def human_source(rng: np.random.Generator) -> str:
    """``verification`` or, for about a quarter, ``crowdsource-verification``."""
    return "crowdsource-verification" if rng.random() < 0.25 else "verification"


def build_labels(rng: np.random.Generator, ref: Reference, classes: Classes, splits: dict[str, Split]) -> None:
    """Human-verified (boxable and full) and machine labels for every image."""
    genuine = {"train": ref.genuine_train_labels, "validation": ref.genuine_val_labels, "test": []}
    for name in SPLITS:
        split = splits[name]
        genuine_by_image: dict[str, list[list[str]]] = {}
        for row in genuine[name]:
            genuine_by_image.setdefault(row[0], []).append(list(row))
        box_labels: dict[str, list[str]] = {}
        for b in split.boxes:
            labels = box_labels.setdefault(b.image_id, [])
            if b.label not in labels:
                labels.append(b.label)
        for image_id in sorted(split.images):
            present = box_labels.get(image_id, [])
            boxable_rows: list[list[str]] = []
            if image_id in genuine_by_image and name == "train":
                boxable_rows = genuine_by_image[image_id]
            elif split.images[image_id].boxed:
                boxable_rows = list(genuine_by_image.get(image_id, []))
                seen = {r[2] for r in boxable_rows}
                for mid in sample(rng, present, 1 + int(rng.random() < 0.5)):
                    if mid not in seen:
                        boxable_rows.append([image_id, human_source(rng), mid, "1"])
                        seen.add(mid)
                absent = [m for m in classes.pool if m not in present and m not in seen]
                for mid in sample(rng, absent, int(rng.integers(2, 5))):
                    boxable_rows.append([image_id, human_source(rng), mid, "0"])
                boxable_rows.sort(key=lambda r: r[2])
            n_other = int(rng.integers(1, 4)) if split.images[image_id].boxed else int(rng.integers(3, 7))
            other_rows = [
                [image_id, human_source(rng), mid, "1" if rng.random() < 0.4 else "0"]
                for mid in sorted(sample(rng, classes.other, n_other))
            ]
            split.human_boxable.extend(boxable_rows)
            split.human_full.extend(boxable_rows + other_rows)
            split.machine.extend(machine_rows(rng, classes, image_id, present))


def machine_rows(rng: np.random.Generator, classes: Classes, image_id: str, present: list[str]) -> list[list[str]]:
    """About four machine labels: some boxed classes, some other trainable ones."""
    mids = sample(rng, present, int(rng.integers(0, 3)))
    others = [m for m in classes.trainable if m not in mids]
    mids += sample(rng, others, max(1, int(rng.integers(3, 6)) - len(mids)))
    rows = []
    for mid in sorted(mids):
        hundredths = int(rng.integers(50, 100))
        if rng.random() < 0.3:
            hundredths = hundredths // 10 * 10
        rows.append([image_id, "machine", mid, repr(hundredths / 100)])
    return rows


# --------------------------------------------------------------------------
# Localized narratives
# --------------------------------------------------------------------------


def noun_phrase(name: str, count: int) -> str:
    """``a car``, ``two men``, ``a group of people``."""
    if count == 1:
        return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
    plural = PLURALS.get(name) or (name + "es" if name.endswith(("s", "x", "ch", "sh")) else name + "s")
    if count in NUMBER_WORDS:
        return f"{NUMBER_WORDS[count]} {plural}"
    return f"a group of {plural}"


def caption_for(rng: np.random.Generator, names: list[str]) -> str:
    """A two- or three-sentence caption naming the image's boxed classes."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    if not ordered:
        return "This is a blurry picture. In this image we can see some objects. The background is dark."
    phrases = [noun_phrase(n, c) for n, c in ordered[:4]]
    first = pick(
        rng,
        [
            "In this image we can see {}.",
            "In this picture I can see {}.",
            "In the center of the image there is {}.",
            "Here we can see {}.",
        ],
    )
    main = phrases[0] if len(phrases) < 2 or rng.random() < 0.4 else f"{phrases[0]} and {phrases[1]}"
    sentences = [first.format(main)]
    rest = phrases[1:] if main == phrases[0] else phrases[2:]
    if rest:
        second = pick(
            rng,
            [
                "In the background there is {}.",
                "On the left side of the image we can see {}.",
                "Behind them there is {}.",
                "At the bottom of the image there is {}.",
            ],
        )
        sentences.append(second.format(" and ".join(rest[:2])))
    if rng.random() < 0.6 or len(sentences) < 2:
        sentences.append(
            pick(
                rng,
                [
                    "The background is blurry.",
                    "At the top of the image we can see the sky.",
                    "This image is taken in a room.",
                    "This picture is taken outside.",
                ],
            )
        )
    return " ".join(sentences)


def timed_caption(rng: np.random.Generator, caption: str, start_ms: int) -> list[dict[str, object]]:
    """Utterances of 1-3 words covering the caption, times with 1-3 decimals."""
    words = caption.split(" ")
    out: list[dict[str, object]] = []
    t = start_ms
    i = 0
    while i < len(words):
        n = int(rng.integers(1, 4))
        chunk = " ".join(words[i : i + n])
        i += n
        step = [1, 10, 100][int(rng.integers(3))]
        start = -(-t // step) * step
        end = start + max(step, (int(rng.integers(200, 1200)) // step) * step)
        out.append({"utterance": chunk, "start_time": start / 1000, "end_time": end / 1000})
        t = end + int(rng.integers(0, 300))
    return out


def reflect(v: float) -> float:
    """Keep a random-walk coordinate inside [0, 1] by reflecting at the edges."""
    v = float(v)
    return -v if v < 0 else (2 - v if v > 1 else v)


def traces(rng: np.random.Generator, start_ms: int, outside: bool) -> list[list[dict[str, float]]]:
    """1-3 mouse-trace segments of 5-30 points; x/y 4 decimals, t 3 decimals."""
    segments = []
    t = start_ms
    x, y = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)
    for _ in range(int(rng.integers(1, 4))):
        segment = []
        for _ in range(int(rng.integers(5, 31))):
            x = reflect(x + rng.normal(0, 0.03))
            y = reflect(y + rng.normal(0, 0.03))
            t += int(rng.integers(15, 120))
            segment.append({"x": round(x, 4) + 0.0, "y": round(y, 4) + 0.0, "t": t / 1000})
        segments.append(segment)
        t += int(rng.integers(200, 900))
        x, y = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)
    if outside:
        segments[0][0]["x"] = -round(float(rng.uniform(0.001, 0.02)), 4)
        segments[-1][-1]["y"] = 1 + round(float(rng.uniform(0.001, 0.01)), 4)
    return segments


def narrative(
    rng: np.random.Generator, split: str, image_id: str, annotator: int, caption: str, empty_traces: bool, outside: bool
) -> dict[str, object]:
    """One localized narrative, keys in the published order."""
    dataset = NARRATIVE_DATASET[split]
    start_ms = int(rng.integers(0, 1500))
    return {
        "dataset_id": dataset,
        "image_id": image_id,
        "annotator_id": annotator,
        "caption": caption,
        "timed_caption": timed_caption(rng, caption, start_ms),
        "traces": [] if empty_traces else traces(rng, start_ms, outside),
        "voice_recording": f"{dataset}/{dataset}_{annotator}_{image_id}.ogg",
    }


def display(ref: Reference, mid: str) -> str:
    """Lower-case spoken name of a boxable class (``Human face`` -> ``face``)."""
    name = ref.boxable[mid].lower()
    return name.removeprefix("human ")


def build_narratives(rng: np.random.Generator, ref: Reference, splits: dict[str, Split], guitar_image: str) -> None:
    """Narratives on some images of each split (some images narrated twice)."""
    first_genuine = ref.genuine_images[0][0]
    for name in SPLITS:
        split = splits[name]
        boxed = [i for i, im in split.images.items() if im.boxed]
        unboxed = [i for i, im in split.images.items() if not im.boxed]
        forced = ([first_genuine, guitar_image] if name == "train" else []) + EDGE_IDS[name]
        pool = [i for i in boxed if i not in forced]
        chosen = forced + sample(rng, pool, N_NARRATIVE_IMAGES[name] - len(forced) - (2 if unboxed else 0))
        if unboxed:
            chosen += sample(rng, unboxed, 2)
        doubles = set(sample(rng, chosen, N_DOUBLE_NARRATIVES[name]))
        entries: list[tuple[str, int]] = []
        for image_id in sorted(chosen):
            annotators = sample(rng, [str(a) for a in ANNOTATORS], 2 if image_id in doubles else 1)
            if image_id == first_genuine:
                annotators = ["93"]
            entries.extend((image_id, int(a)) for a in annotators)
        empty = {1} if name == "validation" else ({len(entries) - 2} if name == "train" else set())
        for k, (image_id, annotator) in enumerate(entries):
            names = [display(ref, b.label) for b in split.boxes_of(image_id)]
            if image_id == guitar_image:
                caption = (
                    "In this image we can see a man playing a guitar. Behind him there is a wall "
                    "with a window. At the top of the image there are lights."
                )
            elif image_id == first_genuine:
                caption = "In this picture we can see a candle with a flame. The background is dark."
            else:
                caption = caption_for(rng, names)
            split.narratives.append(
                narrative(rng, name, image_id, annotator, caption, k in empty, k == 0 or rng.random() < 0.3)
            )


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def by_image(rows: list[list[str]], column: int = 0) -> list[list[str]]:
    """Stable sort by ImageID (string order equals numeric order for 16 hex digits)."""
    return sorted(rows, key=lambda r: r[column])


def write_jsonl(path: Path, records: Sequence[dict[str, object]]) -> int:
    """One JSON object per line, separators as in the published files."""
    path.write_text("".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in records), encoding="utf-8")
    return len(records)


def write_all(dest: Path, source: Path, ref: Reference, classes: Classes, splits: dict[str, Split]) -> dict[str, int]:
    """Write every sample file; return the data-row count per file."""
    dest.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for official, original in COPIES.items():
        shutil.copyfile(source / "metadata" / original, dest / official)
        data = (dest / official).read_bytes()
        if official.endswith(".json"):  # count hierarchy nodes, not lines
            counts[official] = data.count(b'"LabelName"')
            continue
        has_header = official in {"oidv6-class-descriptions.csv", "oidv6-relationship-triplets.csv"}
        counts[official] = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - int(has_header)
    counts[TRAINABLE_FILE] = write_lines(dest / TRAINABLE_FILE, classes.trainable)
    counts[SEGMENTABLE_FILE] = write_lines(dest / SEGMENTABLE_FILE, ref.segmentable)
    counts[HUMAN_PARTS_CLASSES_FILE] = write_lines(dest / HUMAN_PARTS_CLASSES_FILE, classes.human_parts)

    for name in SPLITS:
        split = splits[name]
        rows = [split.images[i].row for i in sorted(split.images)]
        if name == "train":
            boxed_rows = [r for r in rows if split.images[r[0]].boxed]
            counts[TRAIN_BOXABLE_IMAGES_FILE] = write_csv(dest / TRAIN_BOXABLE_IMAGES_FILE, IMAGE_HEADER, boxed_rows)
            counts[TRAIN_ALL_IMAGES_FILE] = write_csv(dest / TRAIN_ALL_IMAGES_FILE, IMAGE_HEADER, rows)
        else:
            counts[IMAGES_FILE[name]] = write_csv(dest / IMAGES_FILE[name], IMAGE_HEADER, rows)
        header = BOX_HEADER + XCLICK_HEADER if name == "train" else BOX_HEADER
        counts[BOXES_FILE[name]] = write_csv(dest / BOXES_FILE[name], header, by_image([b.row() for b in split.boxes]))
        counts[MASKS_FILE[name]] = write_csv(dest / MASKS_FILE[name], MASK_HEADER, split.masks)
        counts[VRD_FILE[name]] = write_csv(dest / VRD_FILE[name], VRD_HEADER, by_image(split.vrd))
        counts[HUMAN_BOXABLE_FILE[name]] = write_csv(
            dest / HUMAN_BOXABLE_FILE[name], LABEL_HEADER, by_image(split.human_boxable)
        )
        counts[HUMAN_FULL_FILE[name]] = write_csv(
            dest / HUMAN_FULL_FILE[name], LABEL_HEADER, by_image(split.human_full)
        )
        counts[MACHINE_FILE[name]] = write_csv(dest / MACHINE_FILE[name], LABEL_HEADER, by_image(split.machine))
        files = NARRATIVE_FILES[name]
        records = sorted(split.narratives, key=lambda r: str(r["image_id"]))
        cut = len(records) // len(files)
        while 0 < cut < len(records) and records[cut - 1]["image_id"] == records[cut]["image_id"]:
            cut += 1
        parts = [records[:cut], records[cut:]] if len(files) == 2 else [records]
        for file_name, part in zip(files, parts, strict=True):
            counts[file_name] = write_jsonl(dest / file_name, part)

    train = splits["train"]
    parts = set(classes.human_parts)
    with_parts = sorted({b.image_id for b in train.boxes if b.label in parts})
    chosen = sorted(sample_ids(with_parts, N_HUMAN_PARTS_IMAGES))
    counts[HUMAN_PARTS_IMAGES_FILE] = write_lines(dest / HUMAN_PARTS_IMAGES_FILE, chosen)
    return counts


def sample_ids(ids: list[str], k: int) -> list[str]:
    """Every ``len/k``-th ID (deterministic, spread over the ID range)."""
    if len(ids) <= k:
        return ids
    step = len(ids) / k
    return [ids[int(i * step)] for i in range(k)]


OLDER = "genuine rows: copy of {} (older and smaller than the V6 file)"
ORIGIN_NOTES = {
    "class-descriptions-boxable.csv": "genuine, byte-exact copy (CRLF line ends, last line LF)",
    "oidv6-class-descriptions.csv": "genuine, byte-exact copy",
    "bbox_labels_600_hierarchy.json": "genuine, byte-exact copy",
    "oidv6-attributes-description.csv": OLDER.format("challenge-2018-attributes-description.csv"),
    "oidv6-relationships-description.csv": OLDER.format("challenge-2018-relationships-description.csv"),
    "oidv6-relationship-triplets.csv": OLDER.format("challenge-2018-relationship-triplets.csv"),
    SEGMENTABLE_FILE: "genuine MIDs: the 300 of challenge-2019-classes-description-segmentable.csv "
    "(the V6 file has 350)",
    TRAINABLE_FILE: "generated: a subset of genuine MIDs (boxable and other classes)",
    HUMAN_PARTS_CLASSES_FILE: "generated: genuine MIDs of human body parts and mammals, picked by name",
}
GENUINE_HEADS = {
    TRAIN_BOXABLE_IMAGES_FILE: "train-images-boxable-with-rotation.head.csv",
    TRAIN_ALL_IMAGES_FILE: "train-images-boxable-with-rotation.head.csv",
    BOXES_FILE["train"]: "oidv6-train-annotations-bbox.head.csv",
    BOXES_FILE["validation"]: "validation-annotations-bbox.head.csv",
    MASKS_FILE["train"]: "train-annotations-object-segmentation.head.csv",
    HUMAN_BOXABLE_FILE["train"]: "train-annotations-human-imagelabels-boxable.head.csv",
    HUMAN_FULL_FILE["train"]: "train-annotations-human-imagelabels-boxable.head.csv",
    HUMAN_BOXABLE_FILE["validation"]: "validation-annotations-human-imagelabels-boxable.head.csv",
    HUMAN_FULL_FILE["validation"]: "validation-annotations-human-imagelabels-boxable.head.csv",
}


def write_archives(dest: Path) -> dict[str, list[int]]:
    """Each split's 16 mask archives, matching its segmentation rows; members per archive, by split."""
    return {
        name: [a.members for a in write_split_archives(dest, name, dest / MASKS_FILE[name], SEED)] for name in SPLITS
    }


def write_readme(dest: Path, counts: dict[str, int], archives: dict[str, list[int]]) -> None:
    """``README.md`` of the sample: files, origins and the CC BY 4.0 attribution."""
    lines = [
        "# Bundled Open Images V6 sample",
        "",
        "One small file per official Open Images V6 file name, in the exact published",
        "formats (header, column order, quoting, number formats). Regenerate with",
        "`.venv/bin/python tests/tools/make_sample.py` (deterministic: same bytes every run).",
        "",
        "Open Images V6 annotations © Google LLC, CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); "
        "generated rows are synthetic, made by tests/tools/make_sample.py",
        "",
        "Edge ImageIDs: " + "; ".join(f"{s}: {', '.join(EDGE_IDS[s])}" for s in SPLITS) + ".",
        "Rows of different files are consistent: every ImageID of a split is in that split's",
        "images file(s); masks and relationships reuse boxes of the same split; the",
        "`-boxable` human-label files and `train-images-boxable-with-rotation.csv` are",
        "subsets of their full counterparts.",
        "",
        "| file | rows | origin |",
        "|---|---|---|",
    ]
    for file_name in sorted(counts):
        if file_name in ORIGIN_NOTES:
            origin = ORIGIN_NOTES[file_name]
        elif file_name in GENUINE_HEADS:
            origin = f"generated, includes the genuine rows of `{GENUINE_HEADS[file_name]}` verbatim"
        else:
            origin = "generated"
        unit = " nodes" if file_name.endswith(".json") else ""
        lines.append(f"| `{file_name}` | {counts[file_name]}{unit} | {origin} |")
    for name in SPLITS:
        members = ", ".join(f"{d}: {n}" for d, n in zip(DIGITS, archives[name], strict=True) if n)
        lines.append(
            f"| `{archive_name(name, '0')}` … `{archive_name(name, 'f')}` (16) | {sum(archives[name])} members | "
            f"generated: a 1-bit PNG a row of `{MASKS_FILE[name]}`, inside its box; by first ImageID digit "
            f"{members}, the other archives empty |"
        )
    lines += ["", "Row counts exclude header lines; an archive's rows are its members.", ""]
    (dest / "README.md").write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------


def check(dest: Path, source: Path, splits: dict[str, Split]) -> None:
    """Assert the cross-file promises of the sample."""
    for name in SPLITS:  # one mask member a segmentation row, in the archive of its ImageID's first digit
        for digit in DIGITS:
            with zipfile.ZipFile(dest / archive_name(name, digit)) as archive:
                members = archive.namelist()
            expected = sorted(m[0] for m in splits[name].masks if m[1][0] == digit)
            assert members == expected, (name, digit)

    def lines(name: str) -> list[str]:
        return (dest / name).read_text(encoding="utf-8").split("\n")[:-1]

    for official, head in GENUINE_HEADS.items():
        have = set(lines(official))
        for line in (source / "genuine-rows" / head).read_text(encoding="utf-8").split("\n")[1:-1]:
            assert line in have, f"{official}: genuine row missing: {line}"
    assert set(lines(TRAIN_BOXABLE_IMAGES_FILE)) <= set(lines(TRAIN_ALL_IMAGES_FILE))
    for name in SPLITS:
        assert set(lines(HUMAN_BOXABLE_FILE[name])) <= set(lines(HUMAN_FULL_FILE[name]))
        split = splits[name]
        ids = set(split.images)
        boxed = {i for i, im in split.images.items() if im.boxed}
        for b in split.boxes:
            assert b.image_id in boxed
            assert float(b.coords[0]) < float(b.coords[1]) and float(b.coords[2]) < float(b.coords[3])
        assert {b.image_id for b in split.boxes} == boxed
        box_keys = {(b.image_id, b.label, *(float(c) for c in b.coords)) for b in split.boxes}
        for m in split.masks:
            assert (m[1], m[2], *(float(c) for c in m[4:8])) in box_keys, m
        box_text = {(b.image_id, b.label, *b.coords) for b in split.boxes}
        for r in split.vrd:
            assert (r[0], r[1], *r[3:7]) in box_text, r
            if r[11] != "is":
                assert (r[0], r[2], *r[7:11]) in box_text, r
        for rows in (split.human_full, split.machine, split.vrd):
            assert {r[0] for r in rows} <= ids
        assert {str(n["image_id"]) for n in split.narratives} <= ids
        for edge in EDGE_IDS[name]:
            assert edge in boxed
    for file_name in [*BOXES_FILE.values(), *MASKS_FILE.values(), *VRD_FILE.values()]:
        col = 1 if file_name in MASKS_FILE.values() else 0
        keys = [line.split(",")[col] for line in lines(file_name)[1:]]
        assert keys == sorted(keys), file_name


def main(argv: Sequence[str] | None = None) -> int:
    """Build the sample into ``--dest``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="output folder")
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="reference folder with metadata/ and genuine-rows/"
    )
    args = parser.parse_args(argv)

    rng = np.random.default_rng(SEED)
    ref = load_reference(args.source)
    classes = build_classes(rng, ref)
    splits = build_images(rng, ref)
    plan_special_boxes(rng, ref, splits)
    guitar_image = plan_relationships(rng, ref, splits)
    build_boxes(rng, classes, splits)
    build_masks(rng, ref, classes, splits)
    build_relationships(splits)
    build_labels(rng, ref, classes, splits)
    build_narratives(rng, ref, splits, guitar_image)
    counts = write_all(args.dest, args.source, ref, classes, splits)
    archives = write_archives(args.dest)
    write_readme(args.dest, counts, archives)
    check(args.dest, args.source, splits)
    total = sum(p.stat().st_size for p in args.dest.iterdir())
    assert total <= 4 * 1024 * 1024, f"sample too large: {total} bytes"
    archive_bytes = sum(p.stat().st_size for p in args.dest.glob("*-masks-*.zip"))
    assert archive_bytes < 200 * 1024, f"mask archives too large: {archive_bytes} bytes"
    for file_name in sorted(counts):
        print(f"{counts[file_name]:>7}  {file_name}")
    for name in SPLITS:
        print(f"{sum(archives[name]):>7}  {archive_name(name, '*')} (16 archives)")
    print(f"{total:>7}  bytes in {args.dest} ({archive_bytes} in mask archives)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
