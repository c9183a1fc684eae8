"""A user's training CSV: read as typed, refused by line when a value is not a flower."""

from __future__ import annotations

import pytest

from iris_ml.contract import FEATURE_NAMES
from iris_ml.training.data import (
    TARGET,
    TrainingDataError,
    data_digest,
    load_dataset,
    read_training_csv,
)


def write_csv(path, frame, header=None):
    frame.to_csv(path, index=False, header=header or list(frame.columns))
    return path


def test_the_bundled_flowers_written_as_csv_are_the_same_data(tmp_path):
    bundled = load_dataset()
    header = [*(f"{n.replace('_', ' ').title()} (cm)" for n in FEATURE_NAMES), "Species"]
    read = read_training_csv(write_csv(tmp_path / "iris.csv", bundled, header))
    assert read.equals(bundled)
    assert data_digest(read) == data_digest(bundled)


def test_changed_rows_are_other_data(tmp_path):
    bundled = load_dataset()
    changed = bundled.copy()
    changed.loc[0, "petal_length"] = 1.5
    read = read_training_csv(write_csv(tmp_path / "new.csv", changed))
    assert read.loc[0, "petal_length"] == 1.5
    assert data_digest(read) != data_digest(bundled)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"petal_length": "-1.0"}, "line 2: petal_length: must be greater than 0 cm, got -1"),
        ({"sepal_width": "3,5"}, "line 2: sepal_width: expected a number in cm, got '3,5'"),
        ({"sepal_length": ""}, "line 2: sepal_length: value is missing (null)"),
        ({"petal_width": "25"}, "line 2: petal_width: must be at most 10 cm, got 25"),
        (
            {TARGET: "Setosa"},
            "line 2: species 'Setosa' is not one of setosa, versicolor, virginica",
        ),
    ],
)
def test_a_value_that_is_not_a_flower_is_refused_by_line(tmp_path, row, problem):
    frame = load_dataset().astype(str)
    for column, value in row.items():
        frame.loc[0, column] = value
    with pytest.raises(TrainingDataError) as refused:
        read_training_csv(write_csv(tmp_path / "bad.csv", frame))
    assert str(refused.value) == f"bad.csv: {problem}; nothing was trained"


def test_files_that_cannot_be_learned_from_say_why(tmp_path):
    frame = load_dataset()
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(frame.to_csv(index=False), encoding="utf-16")
    with pytest.raises(
        TrainingDataError,
        match=r"utf16.csv: the file is UTF-16 text .*; save it as CSV UTF-8; nothing was trained",
    ):
        read_training_csv(utf16)
    no_species = write_csv(tmp_path / "x.csv", frame.drop(columns=[TARGET]))
    with pytest.raises(TrainingDataError, match="no column for species"):
        read_training_csv(no_species)
    few = write_csv(tmp_path / "few.csv", frame[frame[TARGET] != "virginica"].head(60))
    with pytest.raises(TrainingDataError, match=r"too few rows of .*virginica 0"):
        read_training_csv(few)
    with pytest.raises(TrainingDataError, match="cannot read the training data"):
        read_training_csv(tmp_path / "absent.csv")
