"""Tables of flowers: read a CSV or records, score the valid rows, write the result safely.

Shared by the CLI and the UI, so both treat bad rows and formula cells alike. A CSV
is scored as it is read: each block of valid rows goes to the endpoint as soon as
it is complete, while the next block is being read, so reading, network and
server overlap (``ScoringClient.score_blocks`` bounds what is in flight).
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, TextIO

from iris_ml.contract import (
    EXPECTED_HEADER,
    FEATURE_NAMES,
    MISSING,
    MODEL_VERSION_KEY,
    PROBABILITIES_KEY,
    SPECIES,
    SPECIES_KEY,
    HeaderError,
    RowError,
    are_valid_rows,
    encoding_problem,
    feature_positions,
    is_valid_row,
    parse_cell,
    problems_text,
    read_header,
    row_problems,
    unclashed_names,
)
from score_client._exceptions import TableError

if TYPE_CHECKING:
    from score_client._client import Block, ScoringClient

RESULT_COLUMNS = ("species", *(f"proba_{s}" for s in SPECIES), "model_version", "error")
_EMPTY_RESULT = ("",) * len(RESULT_COLUMNS)
_PROBABILITY_COLUMNS = slice(1, 1 + len(SPECIES))  # within RESULT_COLUMNS
# Characters that make a spreadsheet treat a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# on_progress(rows scored so far, rows in the input or None while a CSV is still being read)
Progress = Callable[[int, "int | None"], None]
# on_rows(output columns, the next rows in input order that are final): lets a caller write
# results while later rows are still being scored.
RowSink = Callable[[list[str], list[list[object]]], None]
# One input row on its way to scoring: its cells as read (carried to the output), the four
# feature values (or why the row cannot be scored at all), and its first line in the file.
_Row = tuple[list[Any], "list[object] | str", "int | None"]


@dataclass
class ScoredTable:
    """The input columns as read, then the answer columns; one row per input row, in order.

    ``cells`` hold each input row exactly as read (CSV text, or the JSON values of
    records), then the answers: species, the probabilities as the server wrote
    them, the model version and the error. ``rows`` gives records in which the
    scored rows' features and probabilities are numbers; a row not scored keeps its
    text as read. ``columns[-len(RESULT_COLUMNS):]`` are the
    answer columns; an answer column whose name the input already uses is renamed
    (``species_scored``), so no input column is lost.
    """

    columns: list[str]
    cells: list[list[object]]
    errors: list[RowError]
    scored: int
    # Where the four features are among the input columns, in FEATURE_NAMES order
    # (empty when the input does not have all four as columns).
    feature_columns: tuple[int, ...] = ()

    @property
    def input_columns(self) -> list[str]:
        return self.columns[: -len(RESULT_COLUMNS)]

    @property
    def probability_columns(self) -> slice:
        """Where ``proba_<species>`` are in each row of ``cells`` (SPECIES order)."""
        start = len(self.columns) - len(RESULT_COLUMNS)
        return slice(start + _PROBABILITY_COLUMNS.start, start + _PROBABILITY_COLUMNS.stop)

    @property
    def rows(self) -> list[dict[str, object]]:
        probabilities = self.probability_columns
        records = []
        for cells in self.cells:
            row = list(cells)
            if row[probabilities.start] != "":  # scored: its features are the numbers sent
                row[probabilities] = map(float, row[probabilities])  # type: ignore[arg-type]
                for i in self.feature_columns:
                    if type(row[i]) is str:
                        row[i] = float(row[i])  # type: ignore[arg-type]
            records.append(dict(zip(self.columns, row, strict=True)))
        return records

    def value(self, row: int, column: str) -> object:
        """A cell by answer name (``species``, ``error``, ...) or by input column name."""
        if column in RESULT_COLUMNS:
            return self.cells[row][
                len(self.columns) - len(RESULT_COLUMNS) + RESULT_COLUMNS.index(column)
            ]
        return self.cells[row][self.columns.index(column)]


parse_number = parse_cell  # the contract's rule, under the name this module has used


def _feature_values(cells: list[str], positions: Sequence[int]) -> list[object]:
    texts = [cells[i] for i in positions]
    if "_" not in "".join(texts):
        try:
            return list(map(float, texts))  # the common case, at C speed
        except ValueError:
            pass
    return [parse_number(t) for t in texts]


def score_csv(
    client: ScoringClient,
    stream: TextIO,
    *,
    max_rows: int | None = None,
    stop_at_first_error: bool = False,
    on_progress: Progress | None = None,
    on_rows: RowSink | None = None,
) -> ScoredTable:
    """Score a header + rows CSV; every cell comes back exactly as read.

    Open the file with ``newline=""`` (as the csv module asks) so quoted line breaks
    stay as written. A UTF-8 byte-order mark is dropped; header names match the
    features ignoring case and surrounding spaces; columns may come in any order and
    extra columns are carried through. Bad rows are reported, by their line in the
    file, in the ``error`` column and in ``errors``. With ``stop_at_first_error`` no
    block is sent after the first bad row (the rest is still read, to report every
    problem). An unusable file raises ``TableError`` with one sentence saying why.
    """
    reader = csv.reader(stream)
    header = _read_header(reader)
    positions = _feature_positions(header)
    width = len(header)

    def rows() -> Iterator[_Row]:
        count = 0
        line = reader.line_num
        for raw in _records(reader):
            first_line, line = line + 1, reader.line_num
            if not raw:
                continue  # a blank line, as csv.DictReader skips it
            count += 1
            if max_rows is not None and count > max_rows:
                raise TableError(f"more than {max_rows} rows; split the file")
            if len(raw) > width:
                problem = (
                    f"{len(raw)} fields where the header has {width} (an unquoted comma?); "
                    f"the fields after the {width}th are not in the output"
                )
                yield raw[:width], problem, first_line
                continue
            if len(raw) < width:
                raw.extend([""] * (width - len(raw)))  # a spreadsheet drops trailing empties
            yield raw, _feature_values(raw, positions), first_line

    table = _score_rows(
        client, header, rows(), stop_at_first_error, on_progress, on_rows, tuple(positions)
    )
    if not table.cells:
        raise TableError(f"the CSV has a header but no rows: expected rows under {EXPECTED_HEADER}")
    return table


def _records(reader: Any) -> Iterator[list[str]]:
    """A csv.reader's records, its failures turned into one sentence each."""
    try:
        yield from reader
    except csv.Error as exc:  # line_num already counts the line it failed on
        raise TableError(f"CSV line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        # Text is decoded a block at a time: the line is not known, the byte is. A UTF-16
        # byte-order mark fails on byte 0, so the block holds the file's first bytes.
        raise TableError(encoding_problem(exc.object[:2], exc.object[exc.start])) from None


def _read_header(reader: Any) -> list[str]:
    try:
        return read_header(next(_records(reader), None))
    except HeaderError as exc:
        raise TableError(str(exc)) from None


def _feature_positions(header: list[str]) -> list[int]:
    """Where each feature is in the header (``contract.feature_positions``), or TableError."""
    try:
        return feature_positions(header)
    except HeaderError as exc:
        raise TableError(str(exc)) from None


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

    def rows() -> Iterator[_Row]:
        for record in records:
            if not isinstance(record, Mapping):
                yield [None] * len(columns), f"expected an object, got {str(record)[:40]}", None
                continue
            yield (
                [record.get(c) for c in columns],
                [record.get(name, MISSING) for name in FEATURE_NAMES],
                None,
            )

    named = list(columns)
    positions = tuple(map(named.index, FEATURE_NAMES)) if set(FEATURE_NAMES) <= set(named) else ()
    return _score_rows(
        client, list(columns), rows(), stop_at_first_error, on_progress, on_rows, positions
    )


def answer_names(input_columns: Sequence[str]) -> list[str]:
    """RESULT_COLUMNS, each renamed with ``_scored`` while the input already uses its name."""
    return unclashed_names(input_columns, RESULT_COLUMNS)


def _score_rows(
    client: ScoringClient,
    columns: list[str],
    rows: Iterable[_Row],
    stop_at_first_error: bool,
    on_progress: Progress | None,
    on_rows: RowSink | None,
    feature_columns: tuple[int, ...],
) -> ScoredTable:
    """Validate each row as it comes, send full blocks, fill in results as they return."""
    table = TableScoring(columns, feature_columns, stop_at_first_error, on_rows)
    blocks = table.blocks(rows, client.settings.chunk_size)
    for predictions in client.score_blocks(blocks):
        table.answer(predictions)
        if on_progress:
            on_progress(table.scored, None)
    result = table.finish()
    if on_progress:
        on_progress(result.scored, len(result.cells))
    return result


class TableScoring:
    """One table on its way through the endpoint, in input order.

    ``blocks(rows, size)`` validates the rows as they are read and yields the blocks
    to send; ``answer(predictions)`` fills in the next block's answers as it comes
    back (blocks return in the order they were sent); ``finish()`` completes the
    rows never sent and returns the table. Rows whose answers are all in are handed
    to ``on_rows`` as soon as every row before them is complete too.
    """

    def __init__(
        self,
        columns: list[str],
        feature_columns: tuple[int, ...] = (),
        stop_at_first_error: bool = False,
        on_rows: RowSink | None = None,
    ) -> None:
        self.columns = [*columns, *answer_names(columns)]
        self.cells: list[list[object]] = []
        self.errors: list[RowError] = []
        self.scored = 0
        self._feature_columns = feature_columns
        self._stop_at_first_error = stop_at_first_error
        self._on_rows = on_rows
        self._in_flight: deque[list[int]] = deque()  # input row indices of each block sent
        self._final = 0  # rows before this index are complete (and were handed to on_rows)
        self._versions: dict[object, str] = {}  # the server's version value -> its cell text

    def blocks(self, rows: Iterable[_Row], size: int) -> Iterator[Block]:
        source = iter(rows)
        while batch := list(islice(source, size)):
            start = len(self.cells)
            self.cells.extend(row for row, _, _ in batch)
            values = [v for _, v, _ in batch]
            if are_valid_rows(values):  # the usual case, checked for the whole batch at once
                block, sent = values, list(range(start, start + len(batch)))
            else:
                block, sent = self._valid_rows_of(batch, start)
            if block and not (self._stop_at_first_error and self.errors):
                self._in_flight.append(sent)
                yield block, (sent[0], sent[-1] + 1)  # type: ignore[misc]

    def _valid_rows_of(self, batch: list[_Row], start: int) -> tuple[list[Any], list[int]]:
        """The batch's valid rows and their indices; each bad row gets its error cells now."""
        block: list[Any] = []
        sent: list[int] = []
        for index, (_, row_values, line) in enumerate(batch, start):
            problems = _problems(row_values)
            if problems:
                self.errors.extend(RowError(index, c, p, line) for c, p in problems)
                self.cells[index].extend([*_EMPTY_RESULT[:-1], problems_text(problems)])
            else:
                block.append(list(map(float, row_values)))  # type: ignore[arg-type]
                sent.append(index)
        return block, sent

    def answer(self, predictions: Sequence[Mapping[str, Any]]) -> None:
        """The answers of the oldest block in flight, as decode_predictions checked them."""
        indices = self._in_flight.popleft()
        for index, prediction in zip(indices, predictions, strict=True):
            probabilities = prediction[PROBABILITIES_KEY]
            version = prediction.get(MODEL_VERSION_KEY)
            if version not in self._versions:
                self._versions[version] = str(version or "")
            self.cells[index].extend(
                [
                    prediction[SPECIES_KEY],  # one of SPECIES: decode_predictions checked
                    *[probabilities[s] for s in SPECIES],  # as the server wrote them
                    self._versions[version],
                    "",
                ]
            )
        self.scored += len(indices)
        self._hand_over(indices[-1] + 1)

    def finish(self) -> ScoredTable:
        if self._stop_at_first_error and self.errors:  # later valid rows were never sent
            for row in self.cells:
                if len(row) < len(self.columns):
                    row.extend(_EMPTY_RESULT)
        self._hand_over(len(self.cells))
        return ScoredTable(
            self.columns, self.cells, self.errors, self.scored, self._feature_columns
        )

    def _hand_over(self, upto: int) -> None:  # upto only grows: blocks return in input order
        if self._on_rows and upto > self._final:
            self._on_rows(self.columns, self.cells[self._final : upto])
        self._final = upto


def _problems(values: list[object] | str) -> list[tuple[str | None, str]]:
    """What is wrong with one row's values; a string is a problem with the whole row."""
    if isinstance(values, str):
        return [(None, values)]
    if is_valid_row(values):
        return []
    return row_problems(values)  # type: ignore[return-value]


def neutralize(value: object) -> object:
    """Make a text cell inert in spreadsheets; numbers pass unchanged. For the UI's download."""
    if type(value) is str and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CsvWriter:
    """Writes a scored table's rows as CSV, in one go or as they become final (a RowSink).

    Cells are written exactly as they are. ``with_errors=False`` leaves out the
    ``error`` column (the last one), for callers that refuse tables with errors;
    ``spreadsheet_safe=True`` neutralises formula cells (``neutralize``), for files
    meant to be opened in a spreadsheet.
    """

    def __init__(
        self, stream: TextIO, *, with_errors: bool = True, spreadsheet_safe: bool = False
    ) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\n")
        self._with_errors = with_errors
        self._safe = spreadsheet_safe
        self._started = False

    def __call__(self, columns: Sequence[object], rows: Iterable[Sequence[object]]) -> None:
        if not self._with_errors:
            columns, rows = columns[:-1], [row[:-1] for row in rows]
        if self._safe:
            columns = [neutralize(c) for c in columns]
            rows = [[neutralize(c) for c in row] for row in rows]
        if not self._started:
            self._writer.writerow(columns)
            self._started = True
        rows = list(rows)
        text = unquoted_csv(rows)
        if text is None:
            self._writer.writerows(rows)
        else:
            self._stream.write(text)


def unquoted_csv(rows: Sequence[Sequence[object]]) -> str | None:
    """The rows as ``csv.writer`` writes them when no cell needs quoting, else None.

    Joining text in C is ~8x faster than the writer's per-cell checks on 100,000 rows. The
    writer quotes a cell holding a comma, a quote or a line break (QUOTE_MINIMAL), or a
    row of one empty cell: when the joined text has exactly one comma per cell boundary,
    one line break per row and no quote or carriage return, no cell needed it.
    """
    if not rows:
        return ""
    try:
        lines = list(map(",".join, rows))  # type: ignore[arg-type]
    except TypeError:  # a cell that is not text (a number of JSON records): the writer's job
        return None
    text = "\n".join(lines) + "\n"
    boundaries = sum(map(len, rows)) - len(rows)
    if '"' in text or "\r" in text or text.count(",") != boundaries:
        return None
    if text.count("\n") != len(lines) or min(map(len, rows)) < 2:
        return None
    return text


def write_csv(
    stream: TextIO,
    table: ScoredTable,
    *,
    with_errors: bool = True,
    spreadsheet_safe: bool = False,
) -> None:
    CsvWriter(stream, with_errors=with_errors, spreadsheet_safe=spreadsheet_safe)(
        table.columns, table.cells
    )


def to_csv_text(table: ScoredTable, *, spreadsheet_safe: bool = False) -> str:
    buffer = io.StringIO()
    write_csv(buffer, table, spreadsheet_safe=spreadsheet_safe)
    return buffer.getvalue()
