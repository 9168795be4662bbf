"""What an evaluation run is asked to compute, and what it found: pure data, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Task = Literal["detection", "relationships", "segmentation"]
Metric = Literal["challenge", "v2"]
TASKS: tuple[Task, ...] = ("detection", "relationships", "segmentation")
METRICS: tuple[Metric, ...] = ("challenge", "v2")
TIE_RULE = (
    "entries of equal score enter the precision/recall curve together (one threshold); within an image and "
    "class, predictions of equal score are matched in (x_min, y_min, x_max, y_max, line) order and boxes of "
    "equal overlap in (x_min, y_min, x_max, y_max) order: the result never depends on the input's order"
)


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate: the task, the metric, the split and the matching threshold."""

    task: Task = "detection"
    metric: Metric = "challenge"
    split: str = "validation"
    iou_threshold: float = 0.5
    expand_predictions: bool = False  # also count each prediction for its ancestors: not the official metric
    group_of_weight: float | None = None  # None: the metric's own (1 Challenge, 0 V2); reference tests use 0.5

    @property
    def group_weight(self) -> float:
        if self.group_of_weight is not None:
            return self.group_of_weight
        return 1.0 if self.metric == "challenge" else 0.0

    @property
    def official(self) -> bool:
        return not self.expand_predictions and self.iou_threshold == 0.5 and self.group_of_weight is None

    @property
    def metric_name(self) -> str:
        if self.task == "relationships":
            return "Open Images Challenge visual relationships (relationship and phrase detection)"
        if self.task == "segmentation":
            return "Open Images Challenge instance segmentation mAP (mask IoU)"
        if self.metric == "v2":
            return "Open Images V2 detection mAP (no image-label filter, group-of boxes ignored)"
        return "Open Images Challenge detection mAP"


@dataclass
class EvalSummary:
    """What ``summary.json`` holds."""

    task: str
    metric: str
    metric_name: str
    official: bool
    split: str
    release: str
    lake: str
    predictions: str
    predictions_form: str
    iou_threshold: float
    expand_predictions: bool
    map: float | None
    classes_evaluated: int
    classes_with_ground_truth: int
    images_with_ground_truth: int
    counts: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    tie_rule: str = TIE_RULE
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)
