"""One batch of a file's rows scored as the contract says (the pure core of ``iris-ml batch``).

The cells arrive as the file's text (or None for an empty cell) and are never changed:
this module only adds the answer columns. A feature cell is read as score-client reads
it (``contract.parse_cell``); a row breaking the contract, or the bounds the version was
trained with, gets no species and a ``problem`` naming each column and why, in the
contract's words. Valid rows are scored by the version's own probabilities (its linear
scorer, or its pyfunc), so a row gets the answer the server would give it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iris_ml.contract import (
    FEATURE_NAMES,
    FEATURES,
    MODEL_VERSION_KEY,
    SPECIES,
    parse_cell,
    problems_text,
    row_problems,
    unclashed_names,
)
from iris_ml.linear_scorer import out_of_bounds

FILE_COLUMN, ROW_COLUMN = "input_file", "input_row"  # where each row came from (row from 1)
SPECIES_COLUMN = "species"
PROBLEM_COLUMN = "problem"
PROBABILITY_COLUMNS = tuple(f"proba_{s}" for s in SPECIES)  # as score-client names them
# The answer columns, after the input's own: which species, how sure, by which version, or why not.
ANSWER_COLUMNS = (SPECIES_COLUMN, *PROBABILITY_COLUMNS, MODEL_VERSION_KEY, PROBLEM_COLUMN)
_CONTRACT_MAXIMA = tuple(f.maximum for f in FEATURES)


@dataclass(frozen=True)
class BatchModel:
    """What scores the valid rows: probabilities (SPECIES order) for a float matrix in
    FEATURE_NAMES order, the bounds the version was trained with, and its version."""

    probabilities: Callable[[np.ndarray], np.ndarray]
    maxima: tuple[float, ...]
    version: str


def output_names(names: Sequence[str]) -> list[str]:
    """The input's names, then file, row and the answers, each renamed if the input has it."""
    return [*names, *unclashed_names(names, [FILE_COLUMN, ROW_COLUMN, *ANSWER_COLUMNS])]


def score_cells(
    features: Sequence[Sequence[str | None]],
    model: BatchModel,
    unreadable: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """The answer columns (ANSWER_COLUMNS) for rows whose four feature cells are given.

    ``features`` holds one sequence of cells per feature, in FEATURE_NAMES order;
    ``unreadable`` says, for rows the reader could not take as they are, why.
    """
    matrix, parsed = _matrix(features)
    refused = out_of_bounds(matrix, _CONTRACT_MAXIMA).any(axis=1)
    beyond_model = ~refused & out_of_bounds(matrix, model.maxima).any(axis=1)
    rows = len(matrix)
    reasons = list(unreadable) if unreadable is not None else [None] * rows
    whole_row = np.array([why is not None for why in reasons], dtype=bool).reshape(rows)
    refused &= ~whole_row  # the reader's reason is the row's: its cells may be shifted
    beyond_model &= ~whole_row
    valid = ~(refused | beyond_model | whole_row)
    probabilities = np.full((rows, len(SPECIES)), np.nan)
    if valid.any():
        probabilities[valid] = model.probabilities(np.ascontiguousarray(matrix[valid]))
    species = np.full(rows, None, dtype=object)
    species[valid] = np.asarray(SPECIES, dtype=object)[probabilities[valid].argmax(axis=1)]
    problems = np.full(rows, None, dtype=object)
    for index in np.flatnonzero(refused):
        values = [column[index] for column in parsed]
        problems[index] = problems_text(row_problems(values))
    for index in np.flatnonzero(whole_row):
        problems[index] = reasons[int(index)]
    for index in np.flatnonzero(beyond_model):
        problems[index] = (
            f"outside the range version {model.version} was trained for"
            f" (at most {', '.join(f'{m:g}' for m in model.maxima)} cm)"
        )
    answers = {SPECIES_COLUMN: species}
    answers |= {name: probabilities[:, i] for i, name in enumerate(PROBABILITY_COLUMNS)}
    versions = np.full(rows, None, dtype=object)
    versions[valid] = model.version
    answers[MODEL_VERSION_KEY] = versions
    answers[PROBLEM_COLUMN] = problems
    return pd.DataFrame(answers)


def _matrix(features: Sequence[Sequence[str | None]]) -> tuple[np.ndarray, list[list[object]]]:
    """The features as floats (NaN where a cell is no number), and each column's parsed cells."""
    if len(features) != len(FEATURE_NAMES):
        raise ValueError(f"expected {len(FEATURE_NAMES)} feature columns, got {len(features)}")
    columns, parsed = [], []
    for cells in features:
        values, cells_parsed = _parse_column(list(cells))
        columns.append(values)
        parsed.append(cells_parsed)
    return np.column_stack(columns) if columns[0].size else np.empty((0, 4)), parsed


def _parse_column(cells: list[str | None]) -> tuple[np.ndarray, list[object]]:
    # The common column, all plain numbers: float() over it at C speed.
    if None not in cells and "_" not in "".join(cells):  # type: ignore[arg-type]
        try:
            values = np.fromiter(map(float, cells), np.float64, len(cells))  # type: ignore[arg-type]
            return values, values.tolist()
        except ValueError:
            pass
    found = [parse_cell(cell) for cell in cells]
    values = np.array([v if type(v) is float else np.nan for v in found], dtype=np.float64)
    return values, found
