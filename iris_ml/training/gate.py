"""The promotion gate as data: which metrics a candidate must reach to become champion.

Pure functions of metric dictionaries; no MLflow. The champion's metrics are
computed by the caller on the candidate's own held-out data, so the comparison
is like for like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["NOT_PROMOTED", "GateDecision", "MetricThreshold", "decide", "default_thresholds"]

# What train.py prints when the gate keeps the champion; `make demo` reads it to go on
# serving the current champion (any other failed run stops the demo).
NOT_PROMOTED = "NOT PROMOTED:"


@dataclass(frozen=True)
class MetricThreshold:
    """A bound the candidate must reach and how much worse than the champion it may be.

    ``floor`` is a minimum when ``greater_is_better``, otherwise a maximum (a ceiling).
    """

    metric: str
    floor: float
    tolerance: float = 0.0
    greater_is_better: bool = True

    def check(self, candidate: float, champion: float | None) -> str | None:
        """Return why ``candidate`` fails this threshold, or None when it passes."""
        sign = 1.0 if self.greater_is_better else -1.0
        if sign * (candidate - self.floor) < 0:
            if self.greater_is_better:
                return f"{self.metric} {candidate:.4f} is below the floor {self.floor:.4f}"
            return f"{self.metric} {candidate:.4f} is above the ceiling {self.floor:.4f}"
        if champion is not None and sign * (candidate - champion) < -self.tolerance:
            return (
                f"{self.metric} {candidate:.4f} is worse than the champion's {champion:.4f} "
                f"by more than the tolerance {self.tolerance:.4f}"
            )
        return None


@dataclass(frozen=True)
class GateDecision:
    """The outcome: promote or not, and every reason a threshold failed."""

    promote: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        return "passed" if self.promote else "; ".join(self.reasons)


def default_thresholds(
    min_accuracy: float = 0.9,
    min_f1: float = 0.9,
    max_log_loss: float = 0.5,
    tolerance: float = 0.02,
) -> tuple[MetricThreshold, ...]:
    """The project's gate; every number is a parameter of the MLproject ``main`` entry point."""
    return (
        MetricThreshold("accuracy", floor=min_accuracy, tolerance=tolerance),
        MetricThreshold("f1_macro", floor=min_f1, tolerance=tolerance),
        # Log loss is unbounded and noisier on 45 rows: it only has a ceiling.
        MetricThreshold(
            "log_loss", floor=max_log_loss, tolerance=float("inf"), greater_is_better=False
        ),
    )


def decide(
    thresholds: Sequence[MetricThreshold],
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
) -> GateDecision:
    """Check every threshold. With no champion (empty registry) only the floors apply."""
    reasons = []
    for threshold in thresholds:
        if threshold.metric not in candidate:
            reasons.append(f"candidate has no metric '{threshold.metric}'")
            continue
        baseline = champion.get(threshold.metric) if champion else None
        reason = threshold.check(candidate[threshold.metric], baseline)
        if reason:
            reasons.append(reason)
    return GateDecision(promote=not reasons, reasons=tuple(reasons))


def comparison(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    champion_version: str | None,
    rows: int,
) -> str:
    """The candidate beside the champion, both scored on the same held-out rows: one phrase.

    The champion's own logged metrics came from other rows; these are the numbers the
    gate compared.
    """
    if not champion:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in candidate.items())
        return f"on {rows} held-out rows: {scores}; no champion to compare with"
    scores = ", ".join(
        f"{k} {v:.4f} vs {champion[k]:.4f}" for k, v in candidate.items() if k in champion
    )
    return (
        f"candidate vs champion version {champion_version} on the same {rows} held-out rows: "
        f"{scores}"
    )
