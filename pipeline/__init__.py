"""oilake: Open Images V6 annotations as a typed, partitioned Parquet lake with a DuckDB catalog.

The subpackages follow the data path: ``read`` (sources, readers) → ``families`` (values, checks, classes)
→ ``write`` (ingest, Parquet, rejects) → ``build`` (plan, steps, marts, checks) → ``lake`` (releases,
manifest, stores) → ``query`` (the Python API); ``core`` holds what every stage shares and ``catalog`` the
SQL layer. Names re-exported here load on first use, so ``import pipeline`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BuildOptions": "pipeline.build.run",
    "build_lake": "pipeline.build.run",
    "Lake": "pipeline.query.api",
    "open_lake": "pipeline.query.api",
    "HeaderError": "pipeline.core.errors",
    "InputFormatError": "pipeline.core.errors",
    "LakeError": "pipeline.core.errors",
    "OilakeError": "pipeline.core.errors",
    "RejectLimitError": "pipeline.core.errors",
    "SchemaError": "pipeline.core.errors",
    "SourceError": "pipeline.core.errors",
}

__all__ = [
    "BuildOptions",
    "HeaderError",
    "InputFormatError",
    "Lake",
    "LakeError",
    "OilakeError",
    "RejectLimitError",
    "SchemaError",
    "SourceError",
    "build_lake",
    "open_lake",
]

if TYPE_CHECKING:
    from pipeline.build.run import BuildOptions, build_lake
    from pipeline.core.errors import (
        HeaderError,
        InputFormatError,
        LakeError,
        OilakeError,
        RejectLimitError,
        SchemaError,
        SourceError,
    )
    from pipeline.query.api import Lake, open_lake


def __getattr__(name: str) -> Any:
    """Import a re-exported name from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
