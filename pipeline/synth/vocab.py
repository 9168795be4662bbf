"""The values synthetic rows draw from: the genuine class lists of the bundled sample, Flickr-style
authors and titles, and caption words. Read once per process; no per-row work here."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

PERSON, MAN, WOMAN, CLOTHING = "/m/01g317", "/m/04yx4", "/m/03bt1vf", "/m/09j2d"
# The most frequent box classes of Open Images, most frequent first; the other boxable classes follow
# in a fixed random order.
TOP_CLASSES = (
    MAN, CLOTHING, PERSON, WOMAN, "/m/07j7r", "/m/0dzct", "/m/09j5n", "/m/0k4j", "/m/0cgh4", "/m/083wq",
    "/m/03q69", "/m/0d4v4", "/m/05r655", "/m/01bl7v", "/m/0dzf4", "/m/05s2s", "/m/0c9ph5", "/m/0k65p",
    "/m/04bcr3", "/m/01mzpv", "/m/03jm5", "/m/0h9mv", "/m/0jyfg", "/m/02dl1y", "/m/0fly7", "/m/01d40f",
)  # fmt: skip
CLASS_ORDER_SEED = 20200226  # the class ranking does not depend on the user's seed


def sample_dir() -> Path:
    from pipeline.resources import sample_dir as bundled

    return bundled()


@dataclass(frozen=True)
class Classes:
    """Class MIDs. ``mids`` is sorted (so sorting codes sorts MIDs); the rankings list codes by frequency."""

    mids: tuple[str, ...]  # every described class, sorted
    boxable_by_rank: np.ndarray  # codes of the boxable classes, most frequent first
    other_by_rank: np.ndarray  # codes of the non-boxable classes, in a fixed random order
    segmentable: np.ndarray  # bool per code
    attributes: tuple[str, ...]  # attribute MIDs (right-hand side of `is` relationships)
    relationships: tuple[str, ...]  # relationship labels other than `is`

    @property
    def is_boxable(self) -> np.ndarray:
        out = np.zeros(len(self.mids), bool)
        out[self.boxable_by_rank] = True
        return out


def _first_column(path: Path, header: bool) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row[0] for row in csv.reader(handle) if row]
    return rows[1:] if header else rows


@cache
def classes() -> Classes:
    """The genuine class lists of the bundled sample, ranked."""
    folder = sample_dir()
    described = _first_column(folder / "oidv6-class-descriptions.csv", header=True)
    boxable = _first_column(folder / "class-descriptions-boxable.csv", header=False)
    mids = tuple(sorted(set(described) | set(boxable)))
    code = {m: i for i, m in enumerate(mids)}
    rng = np.random.default_rng(CLASS_ORDER_SEED)
    rest = [m for m in sorted(boxable) if m not in TOP_CLASSES]
    ranked = [*TOP_CLASSES, *(rest[i] for i in rng.permutation(len(rest)))]
    boxable_set = set(boxable)
    others = [m for m in mids if m not in boxable_set]
    segmentable = np.zeros(len(mids), bool)
    segmentable[[code[m] for m in _first_column(folder / "classes-segmentation.txt", header=False)]] = True
    names = _first_column(folder / "oidv6-relationships-description.csv", header=False)
    return Classes(
        mids=mids,
        boxable_by_rank=np.array([code[m] for m in ranked]),
        other_by_rank=np.array([code[others[i]] for i in rng.permutation(len(others))]),
        segmentable=segmentable,
        attributes=tuple(_first_column(folder / "oidv6-attributes-description.csv", header=False)),
        relationships=tuple(n for n in names if n != "is"),
    )


# Flickr-style authors: (Author, profile alias). Names with commas, quotes and non-ASCII are on purpose.
AUTHORS = (
    ("Anna Schmidt", "anna-schmidt"), ("José Ramírez", "jramirez"), ("Zoë Taylor", "zoetaylor"),
    ("Jürgen Müller", "jmueller"), ("田中 太郎", "taro_tanaka"), ("Smith, John", "johnsmith"),
    ('Dave "Tiny" Jones', "tinyjones"), ("Studio Nord, Ltd.", "studionord"), ("bob & alice", "bobandalice"),
    ("Łukasz Kowalski", "lkowalski"), ("Sébastien Côté", "scote"), ("photo_nerd_82", "photo_nerd_82"),
    ("Nguyễn Văn An", "nguyenvanan"), ("Émilie 🌻", "emilie"), ("Marco Rossi", "marcorossi"),
    ("Karen", "drkaren"), ("Peter O'Brien", "pobrien"), ("Ingrid Ødegård", "ingrido"),
    ('The "Weekend" Photographers, Inc.', "weekendphotographers"), ("Tomás", "tomas_photo"),
    ("mike t", "miket"), ("Ахмед Иванов", "aivanov"), ("Michael Beat", "michael-beat"),
    ("U.S. Army Corps of Engineers, Europe District", "europedistrict"), ("Chris", "chris_c"),
)  # fmt: skip
FIRST_NAMES = ("James", "Maria", "Wei", "Olga", "Ahmed", "Sofia", "Kenji", "Lucas", "Emma", "Ravi", "Chloé",
               "Mateus", "Aylin", "Noah", "Fatima", "Liam", "Yuki", "Elena", "Omar", "Ines")  # fmt: skip
LAST_NAMES = ("Smith", "García", "Chen", "Ivanova", "Hassan", "Rossi", "Tanaka", "Silva", "Müller", "Patel",
              "Dubois", "Santos", "Yılmaz", "Brown", "Khan", "Walsh", "Sato", "Popescu", "Nasser", "Lopez")  # fmt: skip
TITLES = (
    "Summer holiday, day 3", 'The "old" bridge', "Café au lait", "Über den Wolken", "日本の夏祭り",
    "🎸 jam session 🎸", "", "Three dogs, one ball", 'Marché, Paris, "rue Cler"', "Birthday party",
    "Sunset at the beach", "Frühling in München", "Straße, Köln", "Grandma's kitchen", "東京タワー",
    "Happy 🎉 New Year!", "Rock concert", "street", "My new bike, finally!", "Ça va?", '"Untitled"',
    "Hiking trip - day 2", "Zürich", "...die FNF-Kerze", "Three boys on a hill", "Wedding", "",
)  # fmt: skip
LICENSES = (
    "https://creativecommons.org/licenses/by/2.0/",
    "https://creativecommons.org/licenses/by/2.0/",
    "https://creativecommons.org/licenses/by/2.0/",
    "https://creativecommons.org/licenses/by-sa/2.0/",
)


@cache
def author_table() -> tuple[tuple[str, str], ...]:
    """The special authors plus generated ``First Last`` ones, with profile aliases."""
    generated = [
        (f"{first} {last}", f"{first.lower()}_{last.lower()}".encode("ascii", "ignore").decode())
        for first in FIRST_NAMES
        for last in LAST_NAMES
    ]
    return (*AUTHORS, *generated)


# Caption phrases in the Localized Narratives style: (openers, objects, connectors).
CAPTION_PHRASES: tuple[tuple[str, ...], ...] = (
    ("In this image we can see", "In this picture I can see", "Here we can see", "In the center of the image there is",
     "This is an image of", "In the front we can see", "I can see", "We can see", "In this image I can see"),
    ("a man", "a woman", "people", "a person", "a group of people", "a car", "a building", "some trees", "the sky",
     "a table", "a chair", "a dog", "a cat", "a plant", "flowers", "a road", "a wall", "a window", "some objects",
     "a guitar", "a bottle", "a glass", "a board", "poles", "lights", "grass", "clouds", "a boy", "a girl",
     "a vehicle", "a few bags", "a bicycle", "food on a plate", "a toy", "the water", "a house", "a bench"),
    ("and", "on the left side", "on the right side", "in the background", "at the top of the image there is",
     "at the bottom we can see", "behind him there is", "beside her there is", "holding", "wearing", "and also",
     "near to", "in front of", "on the floor there is", "we can also see"),
)  # fmt: skip
