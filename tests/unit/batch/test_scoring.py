"""The batch core: cells in, answers out, every refusal named as the server names it."""

from __future__ import annotations

import numpy as np
import pytest

from iris_ml.batch.scoring import ANSWER_COLUMNS, BatchModel, score_cells
from iris_ml.contract import FEATURES, SPECIES

MAXIMA = tuple(f.maximum for f in FEATURES)


def by_petals(matrix: np.ndarray) -> np.ndarray:
    """A stand-in model: the species whose textbook petal length is nearest, as probabilities."""
    centres = np.array([1.4, 4.7, 6.0])
    nearest = np.abs(matrix[:, [2]] - centres).argmin(axis=1)
    return np.eye(len(SPECIES))[nearest]


MODEL = BatchModel(by_petals, MAXIMA, "7")


def columns(*rows):
    return [list(column) for column in zip(*rows, strict=True)]


def test_valid_rows_are_scored_and_report_the_version():
    answers = score_cells(
        columns(("5.1", "3.5", "1.4", "0.2"), (" 6.3", "3.3 ", "6.0", "2.5")), MODEL
    )
    assert list(answers.columns) == list(ANSWER_COLUMNS)
    assert answers["species"].tolist() == ["setosa", "virginica"]
    assert answers["model_version"].tolist() == ["7", "7"]
    assert answers["problem"].tolist() == [None, None]
    assert answers["proba_setosa"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        (None, "sepal_length: value is missing (null)"),
        ("", "sepal_length: value is missing (null)"),
        ("abc", "sepal_length: expected a number in cm, got 'abc'"),
        ("1_0", "sepal_length: expected a number in cm, got '1_0'"),
        ("1e3", "sepal_length: must be at most 20 cm, got 1000"),
        ("-0", "sepal_length: must be greater than 0 cm, got -0"),
        ("nan", "sepal_length: value is NaN"),
        ("inf", "sepal_length: value is +infinity"),
    ],
)  # fmt: skip
def test_a_refused_cell_is_named_in_the_contracts_words_and_gets_no_answer(cell, problem):
    answers = score_cells(columns((cell, "3.5", "1.4", "0.2"), ("5.1", "3.5", "1.4", "0.2")), MODEL)
    assert answers["problem"].tolist() == [problem, None]
    assert answers["species"].tolist() == [None, "setosa"]
    assert answers["model_version"].tolist() == [None, "7"]
    assert np.isnan(answers["proba_setosa"][0])


def test_every_problem_of_a_row_is_named():
    answers = score_cells(columns(("0", "x", "1.4", "")), MODEL)
    assert answers["problem"][0] == (
        "sepal_length: must be greater than 0 cm, got 0; "
        "sepal_width: expected a number in cm, got 'x'; petal_width: value is missing (null)"
    )


def test_a_value_beyond_the_bounds_the_version_was_trained_for_is_refused_not_clamped():
    narrow = BatchModel(by_petals, (20.0, 10.0, 7.0, 10.0), "7")
    answers = score_cells(columns(("5.1", "3.5", "8", "0.2")), narrow)
    assert answers["species"][0] is None
    assert answers["problem"][0].startswith("outside the range version 7 was trained for")


def test_no_rows_give_no_answers():
    answers = score_cells([[], [], [], []], MODEL)
    assert len(answers) == 0 and list(answers.columns) == list(ANSWER_COLUMNS)


def test_a_row_the_reader_could_not_take_whole_gets_the_readers_reason_only():
    why = "more fields than the header's 5 (an unquoted comma?)"
    answers = score_cells(
        columns(("5.1", "3.5", "1.4", "0.2"), ("x", "3.5", "1.4", "0.2")), MODEL, [why, None]
    )
    assert answers["problem"].tolist() == [why, "sepal_length: expected a number in cm, got 'x'"]
    assert answers["species"].tolist() == [None, None]
