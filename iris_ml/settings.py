"""The names every stage agrees on: the registered model and the alias that serves."""

from __future__ import annotations

DEFAULT_MODEL_NAME = "iris-classifier"
DEFAULT_ALIAS = "champion"
# Aliases MLflow reserves for itself; promoting to them would fail late.
RESERVED_ALIASES = frozenset({"latest"})
