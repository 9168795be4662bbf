"""Evaluation over the lake: the official Open Images Challenge metrics (``oilake evaluate``).

``evaluate`` is imported on first use, so ``pipeline.evaluate.options`` (pure data, read by the CLI's
help) loads no engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.evaluate.options import EvalOptions, EvalSummary

if TYPE_CHECKING:
    from pipeline.evaluate.run import evaluate

__all__ = ["EvalOptions", "EvalSummary", "evaluate"]


def __getattr__(name: str) -> Any:
    if name != "evaluate":
        raise AttributeError(f"module 'pipeline.evaluate' has no attribute {name!r}")
    from pipeline.evaluate.run import evaluate

    return evaluate
