"""Tables of flowers: read a CSV, score its valid rows, write the result safely.

Shared by the CLI and the UI, so both treat bad rows and formula cells alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from iris_ml.contract import FEATURE_NAMES, SPECIES, RowError
from score_client._types import Prediction

if TYPE_CHECKING:
    from score_client._client import ScoringClient

RESULT_COLUMNS = ("species", *(f"proba_{s}" for s in SPECIES), "model_version", "error")
# Characters that make a spreadsheet treat a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class TableError(ValueError):
    """The file is not a usable CSV table (no header, unreadable, too large)."""


@dataclass
class ScoredTable:
    """Input columns plus the result columns, one row per input row, in input order."""

    columns: list[str]
    rows: list[dict[str, object]]
    errors: list[RowError] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return len(self.rows) - len({e.row for e in self.errors})


def parse_cell(text: str | None) -> object:
    """A CSV cell as a number when it is one; empty is missing; anything else stays text."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped == "":
        return None
    try:
        return float(stripped)
    except ValueError:
        return text


def read_csv(
    stream: TextIO, max_rows: int | None = None
) -> tuple[list[str], list[dict[str, object]]]:
    """Read a header + rows CSV (columns in any order); numbers are parsed, the rest kept."""
    reader = csv.DictReader(stream)
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise TableError(f"not a readable CSV: {exc}") from None
    if not columns:
        raise TableError(
            "the CSV is empty: expected a header row naming " + ", ".join(FEATURE_NAMES)
        )
    missing = [name for name in FEATURE_NAMES if name not in columns]
    if missing:
        raise TableError(f"the header lacks column(s) {missing}; it has {columns}")
    records: list[dict[str, object]] = []
    try:
        for record in reader:
            if max_rows is not None and len(records) >= max_rows:
                raise TableError(f"more than {max_rows} rows; split the file")
            records.append({k: parse_cell(v) for k, v in record.items() if k is not None})
    except csv.Error as exc:
        raise TableError(f"CSV line {reader.line_num}: {exc}") from None
    return columns, records


def merge_results(
    columns: Sequence[str],
    records: Sequence[dict[str, object]],
    predictions: dict[int, Prediction],
    errors: Sequence[RowError],
) -> ScoredTable:
    """Input rows with their prediction or their error, in input order."""
    messages: dict[int, list[str]] = {}
    for error in errors:
        text = f"{error.column}: {error.problem}" if error.column else error.problem
        messages.setdefault(error.row, []).append(text)
    rows = []
    for index, record in enumerate(records):
        row: dict[str, object] = {c: record.get(c) for c in columns}
        if index in predictions:
            row.update(predictions[index].flat())
            row["error"] = ""
        else:
            row.update(dict.fromkeys(RESULT_COLUMNS, ""))
            row["error"] = "; ".join(messages.get(index, ["not scored"]))
        rows.append(row)
    out_columns = [c for c in columns if c not in RESULT_COLUMNS] + list(RESULT_COLUMNS)
    return ScoredTable(out_columns, rows, list(errors))


def score_table(
    client: ScoringClient,
    columns: Sequence[str],
    records: Sequence[dict[str, object]],
    on_progress: Callable[[int, int], None] | None = None,
) -> ScoredTable:
    """Validate every row once, score the valid ones, report the rest by row."""
    from score_client._client import validate_rows

    predictions: dict[int, Prediction] = {}
    valid_rows, errors = validate_rows(records)
    bad = {e.row for e in errors}
    good_indices = [i for i in range(len(records)) if i not in bad]
    if valid_rows:
        scored = client._predict_valid(valid_rows, on_progress)  # validated just above
        predictions = dict(zip(good_indices, scored, strict=True))
    return merge_results(columns, records, predictions, errors)


def neutralize(value: object) -> object:
    """Make a text cell inert in spreadsheets; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(stream: TextIO, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    writer = csv.DictWriter(
        stream, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else neutralize(v) for k, v in row.items()})


def to_csv_text(table: ScoredTable) -> str:
    buffer = io.StringIO()
    write_csv(buffer, table.columns, table.rows)
    return buffer.getvalue()
