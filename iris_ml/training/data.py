"""The training data as a contract-shaped DataFrame (Fisher's, or a user's CSV), and its split."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from iris_ml.contract import (
    FEATURE_NAMES,
    SPECIES,
    SPECIES_KEY,
    encoding_problem,
    header_feature,
    value_problem,
)
from iris_ml.training.settings import BUNDLED

TARGET = SPECIES_KEY  # the column training learns is the one the server answers
# Each species at least this often, so even a 10% held-out split holds every species.
MIN_ROWS_PER_SPECIES = 10
_SHOWN_PROBLEMS = 5


class TrainingDataError(ValueError):
    """A training file the pipeline will not learn from; the message says why, by line."""


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


def load_dataset(source: str = BUNDLED) -> pd.DataFrame:
    """The four features in cm and the species: Fisher's 150 flowers, or a CSV file's rows."""
    return _bundled() if source == BUNDLED else read_training_csv(Path(source))


def _bundled() -> pd.DataFrame:
    bunch = load_iris(as_frame=True)
    frame = bunch.data.copy()
    frame.columns = list(FEATURE_NAMES)  # sklearn's order matches the contract's
    # Python str, not numpy's: MLflow's dataset digest covers only columns of str.
    names = {i: str(name) for i, name in enumerate(bunch.target_names)}
    frame[TARGET] = bunch.target.map(names).astype(object)
    return frame


def split_dataset(frame: pd.DataFrame, test_size: float, seed: int) -> Split:
    """Stratified held-out split, reproducible from the seed."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[TARGET]
    )
    return Split(train.reset_index(drop=True), test.reset_index(drop=True))


def read_training_csv(path: Path) -> pd.DataFrame:
    """A user's CSV (a header naming the four features and ``species``), every value as typed.

    A value is learned from as written or the file is refused: a cell that is not a valid
    measurement (the serving contract's rule) or not one of the three species names the
    line and column, and nothing is trained.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TrainingDataError(f"cannot read the training data {path}: {exc.strerror}") from None
    reader = csv.reader(io.StringIO(_text(raw, path)))
    header = [header_feature(cell) for cell in next(reader, [])]
    wanted = (*FEATURE_NAMES, TARGET)
    if missing := [name for name in wanted if name not in header]:
        raise TrainingDataError(
            f"{path.name}: the header has no column for {', '.join(missing)} "
            f"(it needs {', '.join(wanted)})"
        )
    where = {name: header.index(name) for name in wanted}
    columns: dict[str, list[object]] = {name: [] for name in wanted}
    problems: list[str] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line holds no flower
        row = {name: cells[i].strip() if i < len(cells) else "" for name, i in where.items()}
        problems += [f"line {reader.line_num}: {p}" for p in _row_problems(row)]
        for name in wanted:
            columns[name].append(row[name])
    _refuse_problems(path, problems, columns[TARGET])
    frame = pd.DataFrame({name: [float(str(v)) for v in columns[name]] for name in FEATURE_NAMES})
    frame[TARGET] = pd.Series(columns[TARGET], dtype=str)
    return frame


def _text(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = encoding_problem(raw[:2], raw[exc.start])
        raise TrainingDataError(f"{path.name}: {problem}; nothing was trained") from None


def _row_problems(row: dict[str, str]) -> list[str]:
    problems = []
    for name in FEATURE_NAMES:
        try:
            value: object = float(row[name]) if row[name] else None
        except ValueError:
            value = row[name]
        if found := value_problem(name, value):
            problems.append(f"{name}: {found[1]}")
    if row[TARGET] not in SPECIES:
        problems.append(f"species {row[TARGET]!r} is not one of {', '.join(SPECIES)}")
    return problems


def _refuse_problems(path: Path, problems: list[str], species: list[object]) -> None:
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = (
            f" (and {len(problems) - _SHOWN_PROBLEMS} more)"
            if len(problems) > _SHOWN_PROBLEMS
            else ""
        )
        raise TrainingDataError(f"{path.name}: {shown}{more}; nothing was trained")
    counts = {name: species.count(name) for name in SPECIES}
    if few := [f"{name} {n}" for name, n in counts.items() if n < MIN_ROWS_PER_SPECIES]:
        raise TrainingDataError(
            f"{path.name}: too few rows of {', '.join(few)}: each species needs at least "
            f"{MIN_ROWS_PER_SPECIES} to be learned and held out"
        )


def data_digest(frame: pd.DataFrame) -> str:
    """The digest MLflow records for the dataset (its ``from_pandas``): equal rows, equal digest."""
    from mlflow.data.pandas_dataset import from_pandas

    return from_pandas(frame, targets=TARGET).digest
