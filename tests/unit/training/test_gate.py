import pytest

from iris_ml.training.gate import MetricThreshold, comparison, decide, default_thresholds

GOOD = {"accuracy": 0.95, "f1_macro": 0.95, "log_loss": 0.15}


def test_empty_registry_promotes_when_floors_are_met():
    decision = decide(default_thresholds(), GOOD, champion=None)
    assert decision.promote and decision.reasons == () and decision.summary == "passed"


def test_empty_registry_rejects_below_the_floor():
    decision = decide(default_thresholds(min_accuracy=0.96), GOOD, champion=None)
    assert not decision.promote
    assert decision.reasons == ("accuracy 0.9500 is below the floor 0.9600",)


def test_rejects_a_regression_beyond_the_tolerance():
    champion = {"accuracy": 0.99, "f1_macro": 0.95, "log_loss": 0.1}
    decision = decide(default_thresholds(tolerance=0.02), GOOD, champion)
    assert not decision.promote
    assert "worse than the champion's 0.9900 by more than the tolerance 0.0200" in decision.summary


def test_accepts_a_small_regression_within_the_tolerance():
    champion = {"accuracy": 0.96, "f1_macro": 0.96, "log_loss": 0.05}
    assert decide(default_thresholds(tolerance=0.02), GOOD, champion).promote


def test_equal_to_champion_promotes():
    assert decide(default_thresholds(tolerance=0.0), GOOD, dict(GOOD)).promote


def test_log_loss_has_a_ceiling_only():
    decision = decide(default_thresholds(max_log_loss=0.1), GOOD, champion=None)
    assert decision.reasons == ("log_loss 0.1500 is above the ceiling 0.1000",)
    champion = {**GOOD, "log_loss": 0.01}  # far better champion log loss alone does not block
    assert decide(default_thresholds(), GOOD, champion).promote


def test_a_missing_metric_fails_the_gate():
    decision = decide([MetricThreshold("roc_auc", floor=0.9)], GOOD, None)
    assert decision.reasons == ("candidate has no metric 'roc_auc'",)


@pytest.mark.parametrize("greater", [True, False])
def test_threshold_direction(greater):
    t = MetricThreshold("m", floor=0.5, tolerance=0.1, greater_is_better=greater)
    assert t.check(0.6 if greater else 0.4, None) is None
    assert t.check(0.4 if greater else 0.6, None) is not None


def test_the_comparison_shows_both_sides_on_the_same_rows():
    candidate = {"accuracy": 0.9111, "log_loss": 0.25}
    champion = {"accuracy": 0.8889, "log_loss": 0.3}
    assert comparison(candidate, champion, "5", 45) == (
        "candidate vs champion version 5 on the same 45 held-out rows: "
        "accuracy 0.9111 vs 0.8889, log_loss 0.2500 vs 0.3000"
    )
    assert comparison(candidate, None, None, 45) == (
        "on 45 held-out rows: accuracy 0.9111, log_loss 0.2500; no champion to compare with"
    )
