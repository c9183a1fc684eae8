"""Model behaviour of the registered champion, loaded as the scoring server loads it."""

import numpy as np
import pandas as pd
import pytest

from iris_ml.contract import FEATURE_NAMES, SPECIES

pytestmark = pytest.mark.integration

# Textbook flowers: Fisher's data set rows 1, 51 and 101.
TEXTBOOK = {
    "setosa": [5.1, 3.5, 1.4, 0.2],
    "versicolor": [7.0, 3.2, 4.7, 1.4],
    "virginica": [6.3, 3.3, 6.0, 2.5],
}


def predict(model, rows):
    return model.predict(pd.DataFrame(rows, columns=list(FEATURE_NAMES)))


@pytest.mark.parametrize("species", SPECIES)
def test_minimum_functionality_textbook_flowers(champion_model, species):
    [prediction] = predict(champion_model, [TEXTBOOK[species]])
    assert prediction["species"] == species
    assert prediction["probabilities"][species] > 0.5


def test_probabilities_are_a_distribution_over_the_three_species(champion_model):
    rng = np.random.default_rng(0)
    rows = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(200, 4))
    for p in predict(champion_model, rows):
        assert list(p["probabilities"]) == list(SPECIES)
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= v <= 1.0 for v in p["probabilities"].values())
        assert p["species"] == max(p["probabilities"], key=p["probabilities"].get)


@pytest.mark.parametrize("species", ["setosa", "virginica"])
def test_invariance_small_perturbations_do_not_flip_a_clear_cut_flower(champion_model, species):
    rng = np.random.default_rng(1)
    base = np.array(TEXTBOOK[species])
    rows = base + rng.uniform(-0.1, 0.1, size=(50, 4))  # +-1 mm, a measuring error
    assert {p["species"] for p in predict(champion_model, rows)} == {species}


def test_direction_longer_wider_petals_move_towards_virginica(champion_model):
    steps = [
        [6.0, 3.0, length, width]
        for length, width in zip(np.linspace(1.2, 6.5, 8), np.linspace(0.2, 2.4, 8), strict=True)
    ]
    virginica = [p["probabilities"]["virginica"] for p in predict(champion_model, steps)]
    assert virginica == sorted(virginica)
    assert predict(champion_model, [steps[0]])[0]["species"] == "setosa"
    assert predict(champion_model, [steps[-1]])[0]["species"] == "virginica"
