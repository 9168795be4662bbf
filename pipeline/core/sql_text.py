"""SQL text: a Python value as a SQL literal (strings quoted with doubled single quotes)."""

from __future__ import annotations


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal: ``it's`` → ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"


def sql_literal(value: object) -> str:
    """``value`` (None, bool, int, float or anything as text) as a SQL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return sql_string(str(value))
