"""Evaluation over the lake: the official Open Images Challenge metrics (``oilake evaluate``)."""

from pipeline.evaluate.options import EvalOptions, EvalSummary
from pipeline.evaluate.run import evaluate

__all__ = ["EvalOptions", "EvalSummary", "evaluate"]
