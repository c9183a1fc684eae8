"""Drift as data: the training data's reference profile and the comparison of a window of
served rows with it. Pure functions of arrays and dicts; no MLflow, no files.

Two measures per feature, both standard in model monitoring:

* PSI (population stability index) over the reference's decile bins:
  ``sum((served - reference) * ln(served / reference))`` over the bins' shares. Read as
  < 0.1 stable, 0.1-0.2 moderate, > 0.2 a significant shift (the usual reading, also
  Azure ML model monitoring's default for numerical features).
* the two-sample Kolmogorov-Smirnov test (scipy): how likely both samples come from one
  distribution. With thousands of rows it flags tiny shifts, so a feature drifts only when
  both say so: PSI over its threshold and the test's p-value under alpha.

The prediction mix (the share of each species answered) is compared by PSI with the mix
the model gives on its own training data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from iris_ml.contract import FEATURE_NAMES, SPECIES

PROFILE_VERSION = 1
# The profile travels in the model as a pyfunc artifact: <model>/artifacts/reference_profile.json
REFERENCE_PROFILE_ARTIFACT = "reference_profile"
REFERENCE_PROFILE_FILE = "reference_profile.json"
_EPSILON = 1e-4  # a share of 0 would make PSI infinite; this is the usual floor
_MAX_SAMPLE = 5_000  # reference values kept per feature for the two-sample test


@dataclass(frozen=True)
class DriftThresholds:
    """When a window counts as drifted (the gate's counterpart for monitoring)."""

    max_feature_psi: float = 0.2
    ks_alpha: float = 0.01
    max_prediction_psi: float = 0.2
    min_rows: int = 200  # a smaller window is too small to judge

    def as_params(self) -> dict[str, Any]:
        return {f"threshold_{k}": v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    rows: int
    features: tuple[FeatureDrift, ...] = ()
    prediction_psi: float | None = None
    prediction_mix: dict[str, float] = field(default_factory=dict)
    too_small: bool = False

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def prediction_drifted(self, thresholds: DriftThresholds) -> bool:
        return (
            self.prediction_psi is not None and self.prediction_psi > thresholds.max_prediction_psi
        )

    def status(self, thresholds: DriftThresholds) -> str:
        if self.too_small:
            return "too_small"
        drifted = self.drifted_features or self.prediction_drifted(thresholds)
        return "drift" if drifted else "no_drift"

    def metrics(self) -> dict[str, float]:
        values: dict[str, float] = {"rows": float(self.rows)}
        for f in self.features:
            values[f"psi_{f.feature}"] = f.psi
            values[f"ks_pvalue_{f.feature}"] = f.ks_pvalue
            values[f"ks_statistic_{f.feature}"] = f.ks_statistic
            values[f"drift_{f.feature}"] = float(f.drifted)
        if self.prediction_psi is not None:
            values["psi_prediction"] = self.prediction_psi
        for species, share in self.prediction_mix.items():
            values[f"share_{species}"] = share
        return values


def reference_profile(
    features: np.ndarray, labels: Sequence[str], predicted: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """What monitoring needs of the training data, as JSON-ready data.

    Per feature: decile bin edges and the training shares in them, quantiles, and a sample
    of the values (all of them below 5,000) for the two-sample test. The class mix of the
    labels and the mix of the model's own answers on that data.
    """
    rng = np.random.default_rng(seed)
    profile: dict[str, Any] = {"version": PROFILE_VERSION, "rows": len(features)}
    per_feature = {}
    for column, name in enumerate(FEATURE_NAMES):
        values = features[:, column].astype(np.float64)
        edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        sample = values if len(values) <= _MAX_SAMPLE else rng.choice(values, _MAX_SAMPLE, False)
        per_feature[name] = {
            "edges": edges.tolist(),
            "shares": bin_shares(values, edges).tolist(),
            "quantiles": {f"{q:.2f}": float(np.quantile(values, q)) for q in np.linspace(0, 1, 11)},
            "mean": float(values.mean()),
            "sample": np.sort(sample).tolist(),
        }
    profile["features"] = per_feature
    profile["class_mix"] = mix(labels)
    profile["prediction_mix"] = mix(predicted)
    return profile


def bin_shares(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    index = np.searchsorted(np.asarray(edges), values, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def mix(names: Sequence[str]) -> dict[str, float]:
    total = max(len(names), 1)
    return {s: sum(1 for n in names if n == s) / total for s in SPECIES}


def psi(reference: Sequence[float], served: Sequence[float] | np.ndarray) -> float:
    expected = np.clip(np.asarray(reference, dtype=np.float64), _EPSILON, None)
    actual = np.clip(np.asarray(served, dtype=np.float64), _EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare(
    profile: Mapping[str, Any],
    served: np.ndarray,
    answered: Sequence[str],
    thresholds: DriftThresholds,
) -> DriftReport:
    """The drift of a window of served rows (``FEATURE_NAMES`` columns) from the profile."""
    from scipy.stats import ks_2samp

    if len(served) < thresholds.min_rows:
        return DriftReport(rows=len(served), too_small=True)
    features = []
    for column, name in enumerate(FEATURE_NAMES):
        reference = profile["features"][name]
        values = served[:, column]
        score = psi(reference["shares"], bin_shares(values, reference["edges"]))
        test = ks_2samp(np.asarray(reference["sample"]), values)
        drifted = score > thresholds.max_feature_psi and test.pvalue < thresholds.ks_alpha
        features.append(
            FeatureDrift(name, score, float(test.statistic), float(test.pvalue), bool(drifted))
        )
    answered_mix = mix(answered)
    prediction = psi(
        [profile["prediction_mix"][s] for s in SPECIES], [answered_mix[s] for s in SPECIES]
    )
    return DriftReport(
        rows=len(served),
        features=tuple(features),
        prediction_psi=prediction,
        prediction_mix=answered_mix,
    )
