"""oilake: Open Images V6 annotations as a typed, partitioned Parquet lake with a DuckDB catalog."""

from pipeline.build import BuildOptions, build_lake
from pipeline.errors import (
    HeaderError,
    InputFormatError,
    LakeError,
    OilakeError,
    RejectLimitError,
    SchemaError,
    SourceError,
)
from pipeline.lake import Lake, open_lake

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
