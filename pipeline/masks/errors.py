"""Named errors of the mask stage: a damaged archive, a mask PNG that cannot be read, a bad name or RLE."""

from __future__ import annotations

from pipeline.core.errors import InputFormatError, OilakeError


class ZipArchiveError(InputFormatError):
    """A mask archive is truncated, corrupt or not a zip file; the message names the archive."""

    hint = "download the archive again (`oilake fetch` checks its size and md5), or remove it from the source"


class MaskPngError(InputFormatError):
    """A mask member is not a PNG this stage reads; ``kind`` is the reject reason, ``detail`` says why."""

    hint = "mask PNGs are 1-bit (or 8-bit) grayscale, not interlaced; this member is rejected, not converted"

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}")


class MaskPathError(InputFormatError):
    """A member name is not ``<ImageID>_<MID without slashes>_<BoxID>.png``."""

    hint = "mask members are named exactly their MaskPath, e.g. 677c122b0eaa5d16_m04yx4_9a041d52.png"


class RleError(OilakeError):
    """A COCO RLE (counts or its compressed string) does not describe a mask of the stated size."""

    hint = "COCO RLE counts alternate zeros and ones in column-major order and sum to height x width"
