"""Metrics the gate compares, computed the same way for candidate and champion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss

from iris_ml.contract import PROBABILITIES_KEY, SPECIES


def gate_metrics(y_true: Sequence[str], probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, macro F1 and log loss from a (rows x species) matrix in contract order."""
    predicted = np.asarray(SPECIES)[probabilities.argmax(axis=1)]
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1_macro": float(f1_score(y_true, predicted, average="macro")),
        "log_loss": float(log_loss(y_true, probabilities, labels=list(SPECIES))),
    }


def probabilities_from_predictions(predictions: Sequence[dict]) -> np.ndarray:
    """The served model's response rows back into a matrix in contract order."""
    return np.array([[row[PROBABILITIES_KEY][s] for s in SPECIES] for row in predictions])
