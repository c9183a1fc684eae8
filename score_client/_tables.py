"""Tables of flowers: read a CSV or records, score the valid rows, write the result safely.

Shared by the CLI and the UI, so both treat bad rows and formula cells alike. A CSV
is scored as it is read: each block of valid rows goes to the endpoint as soon as
it is complete, while the next block is being read, so reading, network and
server overlap (``ScoringClient._score_blocks`` bounds what is in flight).
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, TextIO

from iris_ml.contract import (
    FEATURE_NAMES,
    MISSING,
    MODEL_VERSION_KEY,
    PROBABILITIES_KEY,
    SPECIES,
    SPECIES_KEY,
    RowError,
    are_valid_rows,
    is_valid_row,
    row_problems,
)
from score_client._exceptions import TableError

if TYPE_CHECKING:
    from score_client._client import Block, ScoringClient

RESULT_COLUMNS = ("species", *(f"proba_{s}" for s in SPECIES), "model_version", "error")
_EMPTY_RESULT = ("",) * len(RESULT_COLUMNS)
# Characters that make a spreadsheet treat a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# on_progress(rows scored so far, rows in the input or None while a CSV is still being read)
Progress = Callable[[int, "int | None"], None]
# on_rows(output columns, the next rows in input order that are final): lets a caller write
# results while later rows are still being scored.
RowSink = Callable[[list[str], list[list[object]]], None]


@dataclass
class ScoredTable:
    """The input columns plus RESULT_COLUMNS; one row of cells per input row, in input order.

    ``cells`` hold what a CSV of the table says: text cells neutralised (see
    ``neutralize``) as they come in, which is cheaper than checking every cell on
    the way out, and probabilities as the server wrote them. ``rows`` gives the
    rows as records, with probabilities as floats.
    """

    columns: list[str]
    cells: list[list[object]]
    errors: list[RowError]
    scored: int

    @property
    def rows(self) -> list[dict[str, object]]:
        start = len(self.columns) - len(RESULT_COLUMNS) + 1  # after "species"
        records = []
        for cells in self.cells:
            row = list(cells)
            if row[start] != "":  # scored
                row[start : start + len(SPECIES)] = map(float, row[start : start + len(SPECIES)])  # type: ignore[arg-type]
            records.append(dict(zip(self.columns, row, strict=True)))
        return records

    def value(self, row: int, column: str) -> object:
        return self.cells[row][self.columns.index(column)]


def parse_cell(text: str) -> object:
    """A CSV cell as a number when it is one; empty is missing; anything else stays text."""
    try:
        return float(text)  # float() ignores surrounding whitespace itself
    except ValueError:
        return None if text.strip() == "" else neutralize(text)


def parse_row(raw: list[str], width: int) -> list[object]:
    """A CSV record as ``width`` cells, cut or padded with missing cells."""
    if len(raw) == width:
        try:
            return list(map(float, raw))  # the common case, at C speed
        except ValueError:
            pass
    cells = [parse_cell(text) for text in raw[:width]]
    cells.extend([None] * (width - len(cells)))
    return cells


def score_csv(
    client: ScoringClient,
    stream: TextIO,
    *,
    max_rows: int | None = None,
    stop_at_first_error: bool = False,
    on_progress: Progress | None = None,
    on_rows: RowSink | None = None,
) -> ScoredTable:
    """Score a header + rows CSV (columns in any order; extra columns are carried through).

    Bad rows are reported in the ``error`` column and in ``errors``. With
    ``stop_at_first_error`` no block is sent after the first bad row (the rest is
    still read, to report every problem).
    """
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise TableError(f"not a readable CSV: {exc}") from None
    if not header or not any(name.strip() for name in header):
        raise TableError(
            "the CSV is empty: expected a header row naming " + ", ".join(FEATURE_NAMES)
        )
    missing = [name for name in FEATURE_NAMES if name not in header]
    if missing:
        raise TableError(f"the header lacks column(s) {missing}; it has {header}")
    # The last of duplicated names wins, as with csv.DictReader.
    positions = [len(header) - 1 - header[::-1].index(name) for name in FEATURE_NAMES]
    width = len(header)
    in_order = positions == list(range(width))

    def rows() -> Iterator[tuple[list[object], list[object]]]:
        count = 0
        try:
            for raw in reader:
                if not raw:
                    continue  # a blank line, as csv.DictReader skips it
                count += 1
                if max_rows is not None and count > max_rows:
                    raise TableError(f"more than {max_rows} rows; split the file")
                cells = parse_row(raw, width)
                yield cells, cells[:width] if in_order else [cells[i] for i in positions]
        except csv.Error as exc:
            raise TableError(f"CSV line {reader.line_num}: {exc}") from None

    return _score_rows(client, header, rows(), stop_at_first_error, on_progress, on_rows)


def score_records(
    client: ScoringClient,
    columns: Sequence[str],
    records: Sequence[object],
    *,
    stop_at_first_error: bool = False,
    on_progress: Progress | None = None,
    on_rows: RowSink | None = None,
) -> ScoredTable:
    """Score row objects (from JSON or flags); ``columns`` are the ones carried to the output."""

    def rows() -> Iterator[tuple[list[object], list[object] | str]]:
        for record in records:
            if not isinstance(record, Mapping):
                yield [None] * len(columns), f"expected an object, got {str(record)[:40]}"
                continue
            yield (
                [neutralize(record.get(c)) for c in columns],
                [record.get(name, MISSING) for name in FEATURE_NAMES],
            )

    return _score_rows(client, list(columns), rows(), stop_at_first_error, on_progress, on_rows)


def _score_rows(
    client: ScoringClient,
    columns: list[str],
    rows: Iterable[tuple[list[object], list[object] | str]],
    stop_at_first_error: bool,
    on_progress: Progress | None,
    on_rows: RowSink | None,
) -> ScoredTable:
    """Validate each row as it comes, send full blocks, fill in results as they return."""
    kept = [i for i, c in enumerate(columns) if c not in RESULT_COLUMNS]
    out_columns = [columns[i] for i in kept] + list(RESULT_COLUMNS)
    carry_all = len(kept) == len(columns)
    cells: list[list[object]] = []
    errors: list[RowError] = []
    in_flight: deque[list[int]] = deque()  # input row indices of each block sent, in order
    chunk_size = client.settings.chunk_size

    def blocks() -> Iterator[Block]:
        source = iter(rows)
        start = 0
        while batch := list(islice(source, chunk_size)):
            indices = range(start, start + len(batch))
            start += len(batch)
            cells.extend(row if carry_all else [row[i] for i in kept] for row, _ in batch)
            values = [v for _, v in batch]
            if are_valid_rows(values):  # the usual case, checked for the whole batch at once
                block, sent = values, list(indices)
            else:
                block, sent = [], []
                for index, row_values in zip(indices, values, strict=True):
                    problems = _problems(row_values)
                    if problems:
                        errors.extend(RowError(index, c, p) for c, p in problems)
                        text = "; ".join(f"{c}: {p}" if c else p for c, p in problems)
                        cells[index].extend([*_EMPTY_RESULT[:-1], neutralize(text)])
                    else:
                        block.append(list(map(float, row_values)))  # type: ignore[arg-type]
                        sent.append(index)
            if block and not (stop_at_first_error and errors):
                in_flight.append(sent)
                yield block, (sent[0], sent[-1] + 1)  # type: ignore[misc]

    final = 0  # rows before this index are complete (and were handed to on_rows)

    def hand_over(upto: int) -> None:  # upto only grows: blocks return in input order
        nonlocal final
        if on_rows and upto > final:
            on_rows(out_columns, cells[final:upto])
        final = upto

    scored = 0
    versions: dict[object, object] = {}  # the server's version value -> its safe cell text
    for predictions in client._score_blocks(blocks()):
        indices = in_flight.popleft()
        for index, prediction in zip(indices, predictions, strict=True):
            probabilities = prediction[PROBABILITIES_KEY]
            version = prediction.get(MODEL_VERSION_KEY)
            if version not in versions:
                versions[version] = neutralize(str(version or ""))
            cells[index].extend(
                [
                    prediction[SPECIES_KEY],  # one of SPECIES: decode_predictions checked
                    *[probabilities[s] for s in SPECIES],  # as the server wrote them
                    versions[version],
                    "",
                ]
            )
        scored += len(indices)
        hand_over(indices[-1] + 1)
        if on_progress:
            on_progress(scored, None)
    if stop_at_first_error and errors:  # valid rows after the first error were never sent
        for row in cells:
            if len(row) < len(out_columns):
                row.extend(_EMPTY_RESULT)
    hand_over(len(cells))
    if on_progress:
        on_progress(scored, len(cells))
    return ScoredTable(out_columns, cells, errors, scored)


def _problems(values: list[object] | str) -> list[tuple[str | None, str]]:
    """What is wrong with one row's values; a string is a problem with the whole row."""
    if isinstance(values, str):
        return [(None, values)]
    if is_valid_row(values):
        return []
    return row_problems(values)  # type: ignore[return-value]


def neutralize(value: object) -> object:
    """Make a text cell inert in spreadsheets; numbers pass unchanged."""
    if type(value) is str and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CsvWriter:
    """Writes a scored table's rows as CSV, in one go or as they become final (a RowSink).

    Cells were neutralised on the way in; ``with_errors=False`` leaves out the
    ``error`` column (the last one), for callers that refuse tables with errors.
    """

    def __init__(self, stream: TextIO, *, with_errors: bool = True) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._with_errors = with_errors
        self._started = False

    def __call__(self, columns: list[str], rows: list[list[object]]) -> None:
        if not self._with_errors:
            columns, rows = columns[:-1], [row[:-1] for row in rows]
        if not self._started:
            self._writer.writerow([neutralize(c) for c in columns])
            self._started = True
        self._writer.writerows(rows)


def write_csv(stream: TextIO, table: ScoredTable, *, with_errors: bool = True) -> None:
    CsvWriter(stream, with_errors=with_errors)(table.columns, table.cells)


def to_csv_text(table: ScoredTable) -> str:
    buffer = io.StringIO()
    write_csv(buffer, table)
    return buffer.getvalue()
