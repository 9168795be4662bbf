"""Options shared by several commands, each declared once so it means the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

KEEP_DEFAULT = 2  # pipeline.lake.store.DEFAULT_KEEP, literal so `oilake -h` loads no engine (a test checks)


def examples(*lines: str) -> str:
    """The ``Examples:`` block that ends a command's help (``\\b`` keeps click from rewrapping it)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def split_list(value: str | None) -> list[str] | None:
    """``a,b`` as ``["a", "b"]``; None for an empty value."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _key_values(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> dict[str, str] | None:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx=ctx, param=param)
        options[key] = value
    return options or None


def lake_option(f: F) -> F:
    """``--lake``: the lake, a local folder or an object-store URL."""
    return click.option(
        "--lake",
        default="lake",
        show_default=True,
        help="Lake folder, or an object-store URL (s3://bucket/prefix).",
    )(f)


def lake_storage_option(f: F) -> F:
    """``--lake-storage-option``: fsspec options for a lake on object storage, as a dict (or None)."""
    return click.option(
        "--lake-storage-option",
        "lake_storage_options",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_key_values,
        help="fsspec option for a lake on object storage (repeatable).",
    )(f)


def storage_option(f: F) -> F:
    """``--storage-option``: fsspec options for the Open Images files at a remote URL, as a dict (or None)."""
    return click.option(
        "--storage-option",
        "storage_options",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_key_values,
        help="fsspec option for the Open Images files at a remote --source or --dest (repeatable).",
    )(f)


def output_option(what: str = "the result", default: Path | None = None) -> Callable[[F], F]:
    """``--output``: the file the command writes ``what`` to (stdout when there is no default)."""
    where = f"Default: {default}." if default is not None else "Default: stdout."
    return click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        help=f"File to write {what} to. {where}",
    )


def output_dir_option(what: str) -> Callable[[F], F]:
    """``--output`` for a command that writes several files: the folder they go into (made if missing)."""
    return click.option(
        "--output",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Folder to write {what} into (made if missing; earlier outputs there are replaced).",
    )


def _list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return split_list(value)


def only_option(f: F) -> F:
    """``--only``: families or table names, as a list (or None for all)."""
    return click.option(
        "--only",
        default=None,
        callback=_list,
        help="Comma-separated families or tables (e.g. boxes,image_labels). Default: all.",
    )(f)


def splits_option(f: F) -> F:
    """``--splits``: splits, as a list (or None for all)."""
    return click.option(
        "--splits",
        default=None,
        callback=_list,
        help="Comma-separated splits (train,validation,test). Default: all.",
    )(f)
