"""Metrics the gate compares, computed the same way for candidate and champion, and the
classifier evaluation for tracking servers where ``mlflow.models.evaluate`` cannot run."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

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


def classifier_metrics(y_true: Sequence[str], probabilities: np.ndarray) -> dict[str, float]:
    """The metrics ``mlflow.models.evaluate`` logs for a classifier, under its names."""
    predicted = np.asarray(SPECIES)[probabilities.argmax(axis=1)]
    weighted = {"average": "weighted", "zero_division": 0}
    return {
        "accuracy_score": float(accuracy_score(y_true, predicted)),
        "f1_score": float(f1_score(y_true, predicted, **weighted)),
        "precision_score": float(precision_score(y_true, predicted, **weighted)),
        "recall_score": float(recall_score(y_true, predicted, **weighted)),
        "log_loss": float(log_loss(y_true, probabilities, labels=list(SPECIES))),
        "roc_auc": float(
            roc_auc_score(
                y_true, probabilities, multi_class="ovr", average="weighted", labels=list(SPECIES)
            )
        ),
    }


def log_classifier_evaluation(y_true: Sequence[str], probabilities: np.ndarray) -> None:
    """Log ``classifier_metrics`` and the confusion-matrix and ROC plots into the active run.

    What ``mlflow.models.evaluate`` records, for servers that refuse the dataset input it
    logs first (Azure ML's MLflow endpoint has no log-inputs route).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import mlflow

    mlflow.log_metrics(classifier_metrics(y_true, probabilities))
    predicted = np.asarray(SPECIES)[probabilities.argmax(axis=1)]
    matrix = ConfusionMatrixDisplay.from_predictions(y_true, predicted, labels=list(SPECIES))
    mlflow.log_figure(matrix.figure_, "confusion_matrix.png")
    figure, axes = plt.subplots()
    truth = np.asarray(y_true)
    for column, species in enumerate(SPECIES):
        RocCurveDisplay.from_predictions(
            truth == species, probabilities[:, column], name=species, ax=axes
        )
    mlflow.log_figure(figure, "roc_curve_plot.png")
    plt.close("all")
