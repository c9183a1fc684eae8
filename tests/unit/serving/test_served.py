"""A model folder as a worker serves it: with numpy alone when it has a linear scorer (issue 34)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iris_ml.contract import FEATURES
from iris_ml.linear_scorer import LinearScorer, scorer_file
from iris_ml.serving.follow.loading import CheckFailed, load_version, textbook_matrix
from iris_ml.serving.lazy_app import LazyMlflowApp
from iris_ml.serving.served import serving

MAXIMA = tuple(f.maximum for f in FEATURES)
# Petal length against petal width: enough to tell the three textbook flowers apart.
WEIGHTS = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-4.0, 0.0, 4.0], [-4.0, 0.0, 4.0]])
BIAS = np.array([12.0, 0.0, -28.0])


def model_folder(tmp_path, weights=WEIGHTS):
    scorer = scorer_file(tmp_path)
    scorer.parent.mkdir(parents=True)
    LinearScorer(weights, BIAS, MAXIMA).write(scorer)
    return str(tmp_path)


def test_a_folder_with_a_scorer_is_served_and_checked_without_building_mlflows_app(tmp_path):
    loaded = load_version("7", model_folder(tmp_path), serving(None, None, eager_mlflow=False))
    assert isinstance(loaded.app, LazyMlflowApp) and not loaded.app.built
    answer = json.loads(loaded.model.score_plain(textbook_matrix()))["predictions"]
    assert [a["species"] for a in answer] == ["setosa", "versicolor", "virginica"]
    assert {a["model_version"] for a in answer} == {"7"}


def test_a_scorer_that_misnames_a_textbook_flower_fails_the_check(tmp_path):
    swapped = WEIGHTS[:, [2, 1, 0]]  # calls setosa virginica and virginica setosa
    folder = model_folder(tmp_path, swapped)
    with pytest.raises(CheckFailed, match="were named"):
        load_version("7", folder, serving(None, None, eager_mlflow=False))
