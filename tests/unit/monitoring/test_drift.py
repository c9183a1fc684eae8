"""Drift as data: the reference profile and the comparison, on Fisher's data (no MLflow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.traffic import make_rows
from iris_ml.contract import FEATURE_NAMES, SPECIES
from iris_ml.monitoring.drift import DriftThresholds, bin_shares, compare, psi, reference_profile
from iris_ml.training.data import TARGET, load_dataset, split_dataset
from iris_ml.training.settings import TrainSettings


@pytest.fixture(scope="module")
def profile():
    settings = TrainSettings()  # the split training uses by default
    train = split_dataset(load_dataset(), settings.test_size, settings.seed).train
    features = train[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    labels = list(train[TARGET])
    return reference_profile(features, labels, labels)  # a perfect model, for the mix


def answered(rows: np.ndarray) -> list[str]:
    """Species by petal length, as a stand-in for the model (Fisher's own split)."""
    petal = rows[:, FEATURE_NAMES.index("petal_length")]
    return [SPECIES[0] if p < 2.5 else SPECIES[1] if p < 4.9 else SPECIES[2] for p in petal]


def test_the_profile_is_json_and_holds_what_monitoring_needs(profile):
    again = json.loads(json.dumps(profile))
    rows = again["rows"]
    assert rows == 105 and set(again["features"]) == set(FEATURE_NAMES)
    for feature in again["features"].values():
        assert abs(sum(feature["shares"]) - 1) < 1e-9 and len(feature["sample"]) == rows
    assert again["class_mix"] == pytest.approx({s: 1 / 3 for s in SPECIES})


def test_traffic_like_the_training_data_raises_no_drift(profile):
    rows = make_rows(2000, "normal", seed=1)
    report = compare(profile, rows, answered(rows), DriftThresholds())
    assert report.status(DriftThresholds()) == "no_drift", report
    assert all(f.psi < 0.1 for f in report.features)


def test_shifted_petals_drift_on_the_petal_features_only(profile):
    rows = make_rows(2000, "petal", seed=1)
    report = compare(profile, rows, answered(rows), DriftThresholds())
    assert report.status(DriftThresholds()) == "drift"
    assert report.drifted_features == ["petal_length", "petal_width"]
    assert report.prediction_drifted(DriftThresholds())  # fewer setosa, more virginica


def test_a_small_window_is_too_small_to_judge(profile):
    rows = make_rows(50, "petal")
    report = compare(profile, rows, answered(rows), DriftThresholds(min_rows=200))
    assert report.too_small and report.status(DriftThresholds()) == "too_small"


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])
    assert np.isfinite(psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))  # empty bins do not divide by 0


def test_bins_put_a_value_on_an_edge_in_the_lower_bin():
    assert bin_shares(np.array([1.0, 1.5, 2.0, 3.0]), [1.0, 2.0]).tolist() == [0.25, 0.5, 0.25]
