"""The build section's data: what the manifest records (release, sources, rows, skipped files, unknown MIDs,
time per family) and the rejects table grouped by reason, with examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.core.contract import Manifest
from pipeline.query.api import Lake
from pipeline.report.rows import Record, records, tidy

REJECT_KINDS = 50  # reasons shown, most frequent first
REJECT_EXAMPLES = 3  # example rows per reason
RAW_CHARS = 240  # an example row's text is cut there


def build_section(lake: Lake, manifest: Manifest) -> dict[str, Any]:
    """The manifest's facts and the rejects, JSON-ready."""
    sources = [
        {
            "family": s.family,
            "split": s.split,
            "file": s.file,
            "table": s.table,
            "bytes": s.bytes,
            "rows_read": s.rows_read,
            "rows_written": s.rows_written,
            "rows_rejected": s.rows_rejected,
            "rows_duplicate": s.rows_duplicate,
            "blank_lines": s.blank_lines,
            "seconds": tidy(s.seconds),
            "reused": s.reused_from is not None,
        }
        for s in manifest.sources
    ]
    return {
        "release": manifest.release,
        "tool": f"{manifest.tool.name} {manifest.tool.version or ''}".strip(),
        "python": manifest.python,
        "host": manifest.host,
        "started": manifest.started,
        "finished": manifest.finished,
        "seconds": _seconds(manifest.started, manifest.finished),
        "source": manifest.source,
        "options": {k: v for k, v in manifest.options.items() if v not in (None, [], False)},
        "libraries": {k: v for k, v in manifest.libraries.items() if v},
        "tables": [
            {"table": name, "rows": entry.rows, "files": [{"path": f.path, "rows": f.rows} for f in entry.files]}
            for name, entry in sorted(manifest.tables.items())
        ],
        "sources": sources,
        "families": family_times(sources),
        "skipped": [s.to_json() for s in manifest.skipped],
        "unknown_mids": {kind: found.to_json() for kind, found in sorted(manifest.unknown_mids.items())},
        "rejects": reject_reasons(lake),
    }


def _seconds(started: str, finished: str) -> float | None:
    try:
        return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return None


def family_times(sources: list[Record]) -> list[Record]:
    """Per family: files, bytes, rows read and the seconds its files took to ingest, slowest first."""
    families: dict[str, Record] = {}
    for s in sources:
        entry = families.setdefault(
            s["family"], {"family": s["family"], "files": 0, "bytes": 0, "rows_read": 0, "seconds": 0.0, "reused": 0}
        )
        entry["files"] += 1
        entry["bytes"] += s["bytes"]
        entry["rows_read"] += s["rows_read"]
        entry["seconds"] += s["seconds"] or 0.0
        entry["reused"] += int(s["reused"])
    return sorted(({**f, "seconds": tidy(f["seconds"])} for f in families.values()), key=lambda f: -f["seconds"])


def reject_reasons(lake: Lake) -> list[Record]:
    """Rejected rows grouped by table and kind of reason (the reason without the value found), with examples."""
    return records(
        lake,
        f"""
        with kinds as (
            select *, regexp_replace(regexp_replace(reason, ', found .*$', ''), '\\[\\d+\\]', '[]', 'g') as kind
            from rejects
        ),
        counted as (select "table", kind, count(*) as rows from kinds group by all),
        examples as (
            select "table", kind, source_file, line, reason, left(raw, {RAW_CHARS}) as raw
            from kinds
            qualify row_number() over (partition by "table", kind order by source_file, line) <= {REJECT_EXAMPLES}
        )
        select "table", kind, any_value(rows) as rows,
            list({{'file': source_file, 'line': line, 'reason': reason, 'raw': raw}} order by source_file, line)
                as examples
        from counted join examples using ("table", kind)
        group by all
        order by rows desc, "table", kind
        limit {REJECT_KINDS}
        """,
    )
