"""Typed training settings: every knob of a training run, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass

from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME, RESERVED_ALIASES

BUNDLED = "bundled"  # the data parameter's default: Fisher's flowers, as scikit-learn ships them


@dataclass(frozen=True)
class TrainSettings:
    """What ``train()`` needs. Built by the CLI from flags; defaults match the MLproject."""

    C: float = 1.0
    max_iter: int = 200
    test_size: float = 0.3
    seed: int = 42
    model_name: str = DEFAULT_MODEL_NAME
    alias: str = DEFAULT_ALIAS
    min_accuracy: float = 0.9
    min_f1: float = 0.9
    max_log_loss: float = 0.5
    tolerance: float = 0.02
    data: str = BUNDLED  # or a CSV file's path (training/data.py reads it)

    def __post_init__(self) -> None:
        problems = []
        if not self.C > 0:
            problems.append(f"C must be > 0, got {self.C}")
        if self.max_iter < 1:
            problems.append(f"max_iter must be >= 1, got {self.max_iter}")
        if not 0.1 <= self.test_size <= 0.5:
            problems.append(f"test_size must be within [0.1, 0.5], got {self.test_size}")
        if not self.model_name.strip():
            problems.append("model_name must not be empty")
        alias = self.alias.lower()
        if alias in RESERVED_ALIASES or (alias.startswith("v") and alias[1:].isdigit()):
            problems.append(f"alias '{self.alias}' is reserved by MLflow")
        if problems:
            raise ValueError("; ".join(problems))
