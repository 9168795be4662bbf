"""Which families and splits ``--only`` and ``--splits`` select (shared by build, fetch and synth)."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.core.errors import OilakeError
from pipeline.core.official import SPLITS, official_files
from pipeline.core.schema import all_schemas
from pipeline.families import family_specs

HIERARCHY = "hierarchy"  # the one family parsed whole, not row by row
WITH = {"masks": ("mask_pixels",)}  # ``--only masks``: the segmentation rows and their PNG archives


class SelectionError(OilakeError):
    """``--only`` or ``--splits`` names something that does not exist."""

    hint = "pass comma-separated names from the known ones, e.g. --only boxes,image_labels --splits validation"


def family_table(family: str) -> str:
    """The lake table a family feeds (a family read by no row reader, as the mask archives, by its schema)."""
    specs = family_specs()
    if family in specs:
        return specs[family].table
    if family == HIERARCHY:  # it feeds several tables (hierarchy, class_ancestors, ...): named after the first
        return HIERARCHY
    return next((s.table for s in all_schemas().values() if family in s.families), HIERARCHY)


def select_families(only: Sequence[str] | None) -> set[str]:
    """Family names selected by ``--only`` (family or table names); all when None.

    ``masks`` also selects ``mask_pixels`` (the PNG archives); ``mask_pixels`` alone selects only them.
    """
    every = {f.family for f in official_files()}
    if not only:
        return every
    chosen: set[str] = set()
    for name in only:
        by_table = {f for f in every if family_table(f) == name}
        if by_table:
            chosen |= by_table
        elif name in every:
            chosen.add(name)
        else:
            known = ", ".join(sorted(every | {family_table(f) for f in every}))
            raise SelectionError(f"--only: unknown family or table {name!r}; known: {known}")
        chosen.update(WITH.get(name, ()))
    return chosen


def select_splits(splits: Sequence[str] | None) -> set[str]:
    if not splits:
        return set(SPLITS)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise SelectionError(f"--splits: unknown split(s) {', '.join(unknown)}; known: {', '.join(SPLITS)}")
    return set(splits)
