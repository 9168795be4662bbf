"""HTML building blocks of the report: escaped tables, figure slots, the page shell with its inline assets.

Everything the page needs is inside it: the styles, the page script, Plotly's JavaScript (once) and
the data, the last two gzip-compressed and base64-encoded (the browser inflates them with
``DecompressionStream``), so that the file opens without a network and stays a few MB at full scale.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Sequence
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

ASSETS = files("pipeline.report")


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def number(value: object, digits: int = 3) -> str:
    """``1,234`` for an int, ``0.123`` for a float, ``n/a`` for None."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return esc(value)


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict[str, Any]],
    table_id: str | None = None,
    cells: dict[str, str] | None = None,
) -> str:
    """A table of ``rows``: ``columns`` are (key, heading); each cell has ``data-key``, numbers right-aligned.

    ``cells`` maps a key to a format: ``share`` (a percentage), ``raw`` (HTML already escaped), ``text``.
    """
    formats = cells or {}
    rows = list(rows)
    numeric = {k for k, _ in columns if _is_number(rows[0].get(k) if rows else None) or formats.get(k) == "share"}
    head = "".join(f'<th data-key="{esc(k)}"{" class=num" if k in numeric else ""}>{esc(h)}</th>' for k, h in columns)
    body = []
    for row in rows:
        tds = []
        for key, _ in columns:
            value, kind = row.get(key), formats.get(key)
            if kind == "share":
                text, cls = share(value), "num"
            elif kind == "raw":
                text, cls = str(value), ""
            elif kind == "text" or not _is_number(value):
                text, cls = (number(value) if isinstance(value, bool) or value is None else esc(value)), ""
            else:
                text, cls = number(value), "num"
            tds.append(f'<td data-key="{esc(key)}"{f" class={cls!r}" if cls else ""}>{text}</td>')
        body.append(f"<tr>{''.join(tds)}</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return (
        f"<div class='scroll'><table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def facts(items: Sequence[tuple[str, str]], list_id: str | None = None) -> str:
    """A definition list of (label, HTML value) pairs."""
    ident = f' id="{esc(list_id)}"' if list_id else ""
    return f"<dl class='facts'{ident}>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def figure(name: str) -> str:
    """The slot the page script draws figure ``name`` into."""
    return f'<div class="figure" data-figure="{esc(name)}"></div>'


def empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'


def packed(data: bytes) -> str:
    """``data`` gzip-compressed (no timestamp, so the same input gives the same page) and base64-encoded."""
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


@cache
def plotly_js() -> tuple[str, str]:
    """Plotly's JavaScript, packed, and its version."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]
    from plotly.offline.offline import get_plotlyjs_version  # type: ignore[import-untyped]

    return packed(get_plotlyjs().encode("utf-8")), get_plotlyjs_version()


def asset(name: str) -> str:
    return ASSETS.joinpath(name).read_text(encoding="utf-8")


def document(title: str, header: str, nav: Sequence[tuple[str, str]], body: str, payload: dict[str, Any]) -> str:
    """The whole page: ``body`` (the sections), the data and Plotly packed inline, styles and script inline."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    code, version = plotly_js()
    links = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in nav)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="oilake report">
<title>{esc(title)}</title>
<style>{asset("report.css")}</style>
</head>
<body data-ready="false">
<header><h1>{esc(title)}</h1>{header}<nav>{links}</nav>
<p id="loading" class="note">Drawing the charts…</p>
<noscript><p class="note">The tables below read without JavaScript; the charts, the class explorer and the
hierarchy need it.</p></noscript></header>
<main>
{body}
</main>
<script type="application/octet-stream" id="oilake-data" data-encoding="gzip+base64">{packed(data)}</script>
<script type="application/octet-stream" id="plotly-js" data-encoding="gzip+base64"
 data-version="{esc(version)}">{code}</script>
<script>{asset("report.js")}</script>
</body>
</html>
"""
