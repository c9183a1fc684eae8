"""A scored batch as arrays, and JSON text for many rows at C speed.

The answer of one 10,000-row request is 10,000 nested objects. Built as dicts and
written by ``json.dumps`` it takes ~80 ms on the bench machine; written by MLflow's
``json.dump`` (which streams, so CPython never takes its C encoder) ~250 ms. Here the
floats are formatted by orjson in one call over the array (shortest round-trip text,
the same values after parsing) and the rows by one ``bytes %`` over a repeated
template: ~12 ms. The payload log writes its lines the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iris_ml.contract import MODEL_VERSION_KEY, PROBABILITIES_KEY, SPECIES, SPECIES_KEY
from iris_ml.number_text import number_texts

_SPECIES = np.asarray(SPECIES, dtype=object)


@dataclass(frozen=True)
class Scored:
    """What the model answered for a batch: each row's species and probabilities (SPECIES order)."""

    species: Sequence[str]
    probabilities: np.ndarray

    @classmethod
    def of(cls, probabilities: np.ndarray) -> Scored:
        """The contract's answer to a probability matrix: the most probable species per row."""
        return cls(_SPECIES[probabilities.argmax(axis=1)].tolist(), probabilities)

    @classmethod
    def from_answers(cls, answers: Sequence[Mapping[str, Any]]) -> Scored:
        """The same, read back from the contract's answer rows (MLflow's route)."""
        species = [answer[SPECIES_KEY] for answer in answers]
        probabilities = np.array(
            [[answer[PROBABILITIES_KEY][s] for s in SPECIES] for answer in answers],
            dtype=np.float64,
        ).reshape(len(answers), len(SPECIES))
        return cls(species, probabilities)

    def __len__(self) -> int:
        return len(self.species)

    def predictions_json(self, model_version: str | None) -> bytes:
        """``{"predictions": [...]}`` as the model's ``predict`` answers it, through MLflow's app.

        Parsed, it equals MLflow's text of the same answer (test_fast_path.py checks it).
        """
        probability_fields = ", ".join(f"{json.dumps(s)}: %b" for s in SPECIES)
        row = f'{{"{SPECIES_KEY}": %b, "{PROBABILITIES_KEY}": {{{probability_fields}}}'
        template = row.encode()
        if model_version is not None:
            template += f', "{MODEL_VERSION_KEY}": '.encode() + literal(json_text(model_version))
        cells = np.column_stack([species_texts(self.species), number_texts(self.probabilities)])
        return b'{"predictions": [' + fill(template + b"}", cells, b", ") + b"]}"


def species_texts(species: Sequence[str]) -> np.ndarray:
    """Each row's species as JSON text (bytes), encoded once per distinct name."""
    encoded = {name: json_text(name) for name in set(species)}
    return np.array([encoded[name] for name in species], dtype=object)


def json_text(value: object) -> bytes:
    return json.dumps(value).encode()


def literal(text: bytes) -> bytes:
    """Text put into a ``%`` template as it is (a version string may hold a ``%``)."""
    return text.replace(b"%", b"%%")


def fill(template: bytes, cells: np.ndarray, separator: bytes) -> bytes:
    """The template once per row of ``cells`` (one ``%b`` per column), joined by ``separator``.

    One format call for the whole batch: the per-row work stays in C.
    """
    if not len(cells):
        return b""
    return separator.join([template] * len(cells)) % tuple(cells.ravel().tolist())
