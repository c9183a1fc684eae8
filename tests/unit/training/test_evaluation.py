"""iris_ml/training/evaluation.py: the gate's metrics and MLflow's classifier metrics, on known answers."""

import math

import numpy as np
import pytest

from iris_ml.contract import PROBABILITIES_KEY, SPECIES
from iris_ml.training.evaluation import (
    classifier_metrics,
    gate_metrics,
    probabilities_from_predictions,
)

TRUTH = ["setosa", "versicolor", "virginica", "virginica"]


def one_hot(labels, confidence=1.0):
    rest = (1 - confidence) / (len(SPECIES) - 1)
    return np.array([[confidence if s == label else rest for s in SPECIES] for label in labels])


def test_a_perfect_and_sure_classifier_scores_one_and_a_near_zero_log_loss():
    metrics = gate_metrics(TRUTH, one_hot(TRUTH, confidence=0.999))
    assert metrics["accuracy"] == 1.0 and metrics["f1_macro"] == 1.0
    assert metrics["log_loss"] == pytest.approx(-math.log(0.999))


def test_one_wrong_row_in_four_costs_a_quarter_of_the_accuracy_and_its_log_loss():
    predicted = ["setosa", "versicolor", "virginica", "versicolor"]  # the last is wrong
    metrics = gate_metrics(TRUTH, one_hot(predicted, confidence=0.8))
    assert metrics["accuracy"] == 0.75
    # three rows give the truth 0.8, the wrong one gives it 0.1
    assert metrics["log_loss"] == pytest.approx(-(3 * math.log(0.8) + math.log(0.1)) / 4)
    # per species F1: setosa 1, versicolor 2/3 (1 right of 2 predicted), virginica 2/3
    assert metrics["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_the_columns_are_read_in_the_contracts_species_order():
    """A species missing from the truth still has its column: log loss needs all three labels."""
    only_setosa = ["setosa", "setosa"]
    metrics = gate_metrics(only_setosa, one_hot(only_setosa, confidence=0.9))
    assert metrics["accuracy"] == 1.0
    assert metrics["log_loss"] == pytest.approx(-math.log(0.9))


def test_served_answers_become_the_matrix_in_contract_order_whatever_their_key_order():
    answers = [
        {PROBABILITIES_KEY: {"virginica": 0.7, "setosa": 0.1, "versicolor": 0.2}},
        {PROBABILITIES_KEY: {"setosa": 1.0, "versicolor": 0.0, "virginica": 0.0}},
    ]
    matrix = probabilities_from_predictions(answers)
    assert SPECIES == ("setosa", "versicolor", "virginica")
    assert matrix.tolist() == [[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]]


def test_classifier_metrics_use_mlflows_names_and_agree_with_the_gate():
    probabilities = one_hot(["setosa", "versicolor", "virginica", "versicolor"], 0.8)
    metrics = classifier_metrics(TRUTH, probabilities)
    assert set(metrics) == {
        "accuracy_score", "f1_score", "precision_score", "recall_score", "log_loss", "roc_auc",
    }  # fmt: skip
    gate = gate_metrics(TRUTH, probabilities)
    assert metrics["accuracy_score"] == gate["accuracy"]
    assert metrics["log_loss"] == gate["log_loss"]
    assert 0 < metrics["roc_auc"] <= 1
