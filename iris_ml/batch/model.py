"""The version a batch job scores with, as ``scoring.BatchModel``, from its downloaded folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from iris_ml.batch.scoring import BatchModel
from iris_ml.contract import FEATURE_NAMES, FEATURES, PROBABILITIES_KEY, SPECIES
from iris_ml.linear_scorer import LinearScorer, scorer_file


def batch_model(model_dir: Path, version: str, pyfunc: Any = None) -> BatchModel:
    """The version's linear scorer when it has one (numpy alone), else its MLflow pyfunc
    (``pyfunc``, or loaded from the folder)."""
    if scorer_file(model_dir).is_file():
        scorer = LinearScorer.read(scorer_file(model_dir), version)
        return BatchModel(scorer.probabilities, scorer.maxima, version)
    import pandas as pd

    if pyfunc is None:
        import mlflow.pyfunc

        pyfunc = mlflow.pyfunc.load_model(str(model_dir))

    def probabilities(matrix: np.ndarray) -> np.ndarray:
        answers = pyfunc.predict(pd.DataFrame(matrix, columns=list(FEATURE_NAMES)))
        return np.array([[a[PROBABILITIES_KEY][s] for s in SPECIES] for a in answers])

    return BatchModel(probabilities, tuple(f.maximum for f in FEATURES), version)
