"""The Iris data set as a contract-shaped DataFrame, and its held-out split."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from iris_ml.contract import FEATURE_NAMES

TARGET = "species"


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


def load_dataset() -> pd.DataFrame:
    """Fisher's 150 flowers (bundled with scikit-learn): the four features in cm and the species."""
    bunch = load_iris(as_frame=True)
    frame = bunch.data.copy()
    frame.columns = list(FEATURE_NAMES)  # sklearn's order matches the contract's
    frame[TARGET] = bunch.target.map(dict(enumerate(bunch.target_names))).astype(str)
    return frame


def split_dataset(frame: pd.DataFrame, test_size: float, seed: int) -> Split:
    """Stratified held-out split, reproducible from the seed."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[TARGET]
    )
    return Split(train.reset_index(drop=True), test.reset_index(drop=True))
