"""The values score_client takes and returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class IrisFeatures:
    """One flower, in centimetres."""

    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float

    def as_record(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one flower."""

    species: str
    probabilities: dict[str, float]
    model_version: str | None = None

    @property
    def confidence(self) -> float:
        return self.probabilities[self.species]


@dataclass(frozen=True)
class Health:
    """What ``ScoringClient.health()`` found."""

    ok: bool
    url: str
    backend: str
    model_version: str | None = None
    latency_ms: float | None = None
    error: str | None = None
