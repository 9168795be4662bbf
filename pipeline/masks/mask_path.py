"""Parse a mask member name ``<ImageID>_<MID without slashes>_<BoxID>.png`` by fixed offsets.

The ImageID is the first 16 characters and the BoxID the 8 before ``.png``; the MID is everything in
between (it may hold ``_``: ``/m/0_cp5`` is written ``m0_cp5``), its namespace letter first: ``m04yx4`` is
``/m/04yx4``. Splitting on ``_`` would cut 31 of the 300 segmentable MIDs.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pipeline.masks.errors import MaskPathError

_IMAGE_ID = re.compile(r"[0-9a-f]{16}")
_BOX_ID = re.compile(r"[0-9a-f]{8}")
_MID = re.compile(r"[a-z][0-9a-z_]+")
SUFFIX = ".png"
_TAIL = 1 + 8 + len(SUFFIX)  # "_<BoxID>.png"


class MaskName(NamedTuple):
    """The parts of a mask name; ``label_mid`` with its slashes restored (``/m/04yx4``)."""

    image_id: str
    label_mid: str
    box_id: str


def parse_mask_path(name: str) -> MaskName:
    """``MaskName`` of ``name``; ``MaskPathError`` says which part does not match."""
    if not name.endswith(SUFFIX):
        raise MaskPathError(f"{name!r}: does not end in {SUFFIX}")
    if len(name) < 16 + 1 + 2 + _TAIL:
        raise MaskPathError(f"{name!r}: too short for <ImageID>_<MID>_<BoxID>.png")
    image_id, mid, box_id = name[:16], name[17 : len(name) - _TAIL], name[len(name) - _TAIL + 1 : -len(SUFFIX)]
    if not _IMAGE_ID.fullmatch(image_id):
        raise MaskPathError(f"{name!r}: {image_id!r} is not an ImageID (16 lowercase hex digits)")
    if name[16] != "_" or name[len(name) - _TAIL] != "_":
        raise MaskPathError(f"{name!r}: expected '_' after the 16-digit ImageID and before the 8-digit BoxID")
    if not _BOX_ID.fullmatch(box_id):
        raise MaskPathError(f"{name!r}: {box_id!r} is not a BoxID (8 lowercase hex digits)")
    if not _MID.fullmatch(mid):
        raise MaskPathError(f"{name!r}: {mid!r} is not a MID without slashes (like m04yx4 for /m/04yx4)")
    return MaskName(image_id, f"/{mid[0]}/{mid[1:]}", box_id)


def mask_path(image_id: str, label_mid: str, box_id: str) -> str:
    """The member name of a mask: the inverse of ``parse_mask_path``."""
    return f"{image_id}_{label_mid.replace('/', '')}_{box_id}{SUFFIX}"
