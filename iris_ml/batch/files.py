"""The files of a batch job's input, and the one header a CSV input shares (driver side).

An input is a file, a folder (its ``*.csv`` or ``*.parquet`` files) or a glob. CSV
headers are read here, with the rules score-client applies (``contract.read_header``
and ``feature_positions``), so a bad file is refused in one sentence before Spark starts.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from iris_ml.contract import HeaderError, encoding_problem, feature_positions, read_header

CSV, PARQUET = "csv", "parquet"
_FORMATS = {".csv": CSV, ".parquet": PARQUET, ".pq": PARQUET}
_BLOCK = 1 << 20
# A quoted field that stays on its line: what is left of a line without them holds no quote
# unless a field runs over a line end (or the quoting is broken).
_ONE_LINE_QUOTED = re.compile(rb'"[^"\r\n]*"')
# A line of spaces or control characters only: Python's csv reads it as a record, which
# Spark's line reader drops (it skips every line that Java's trim() empties).
_BLANK_BUT_NOT_EMPTY = re.compile(rb"(?m)^(?!\r?$)[\x00-\x09\x0b-\x20]+$")


class BatchError(Exception):
    """Why a batch job cannot run, in one sentence for its user (the root of this package's)."""


class InputError(BatchError, ValueError):
    """An input the job cannot read; the message names the file and says why."""


@dataclass(frozen=True)
class BatchInput:
    files: tuple[Path, ...]
    format: str  # CSV or PARQUET
    header: tuple[str, ...] = ()  # a CSV input's column names (every file has the same)
    positions: tuple[int, ...] = ()  # where each feature is in it
    digest: str = ""  # sha256 over every file's name and bytes, in order: which data was scored
    # Every record is one line (no quoted field runs over a line end), so a file can be
    # split anywhere at a line end; Parquet always can be, at its row groups.
    splittable: bool = True

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def find_input(spec: str) -> BatchInput:
    """The files ``spec`` names, of one format, with a CSV input's shared header checked."""
    files = _files(spec)
    formats = {_FORMATS.get(p.suffix.lower()) for p in files}
    if None in formats or len(formats) != 1:
        raise InputError(f"{spec}: give CSV (.csv) or Parquet (.parquet) files, one kind at a time")
    kind = formats.pop()
    digest, one_line = survey(files, kind == CSV)
    if kind == PARQUET:
        return BatchInput(files, PARQUET, digest=digest)
    headers = {path: csv_header(path) for path in files}
    first = files[0]
    for path, header in headers.items():
        if header != headers[first]:
            raise InputError(
                f"{path.name}: its header differs from {first.name}'s; score files with"
                " different columns in separate jobs"
            )
    header = headers[first]
    try:
        positions = feature_positions(list(header))
    except HeaderError as exc:
        raise InputError(f"{first.name}: {exc}") from None
    return BatchInput(files, CSV, header, tuple(positions), digest, one_line)


def survey(files: tuple[Path, ...], csv_lines: bool) -> tuple[str, bool]:
    """One read of every byte: the input's digest, and (CSV) whether Spark's line reader reads
    every record as Python's csv does (each record is one line; no line of blanks)."""
    total, one_line = hashlib.sha256(), True
    for path in files:
        total.update(path.name.encode() + b"\0")
        tail = b""  # the last block's unfinished line
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(_BLOCK), b""):
                total.update(block)
                if csv_lines and one_line:
                    whole, _, tail = (tail + block).rpartition(b"\n")
                    one_line = _lines_as_records(whole)
        one_line = one_line and _lines_as_records(tail)
    return total.hexdigest(), one_line


def _lines_as_records(lines: bytes) -> bool:
    return b'"' not in _ONE_LINE_QUOTED.sub(b"", lines) and not _BLANK_BUT_NOT_EMPTY.search(lines)


def _files(spec: str) -> tuple[Path, ...]:
    path = Path(spec)
    if path.is_dir():
        found = sorted(
            p
            for p in path.iterdir()
            if p.suffix.lower() in _FORMATS and not p.name.startswith((".", "_"))
        )
        if not found:
            raise InputError(f"{spec}: a folder with no .csv or .parquet files")
        return tuple(found)
    if path.is_file():
        return (path,)
    matched = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
    if not matched:
        raise InputError(f"{spec}: no such file, folder or glob match")
    return tuple(matched)


def csv_header(path: Path) -> tuple[str, ...]:
    """A CSV file's column names, read as score-client reads them; InputError if it cannot be."""
    with path.open("rb") as raw:
        head = raw.read(1 << 16)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a character cut at the block's end
            raise InputError(
                f"{path.name}: {encoding_problem(head[:2], head[exc.start])}"
            ) from None
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            record = next(csv.reader(stream), None)
        return tuple(read_header(record))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name}: the header cannot be read as CSV ({exc})") from None
    except HeaderError as exc:
        raise InputError(f"{path.name}: {exc}") from None


@dataclass(frozen=True)
class CsvCells:
    """A CSV file's cells as read (short rows padded with empty cells, as a spreadsheet drops
    trailing empties), and for each row why it cannot be taken whole (None: it can)."""

    header: tuple[str, ...]
    positions: tuple[int, ...]
    rows: list[list[str]]
    unreadable: list[str | None]


def read_cells(path: Path) -> CsvCells:
    """A whole CSV file read with score-client's rules; InputError if it cannot be read at all."""
    header = csv_header(path)
    try:
        positions = tuple(feature_positions(list(header)))
    except HeaderError as exc:
        raise InputError(f"{path.name}: {exc}") from None
    width, rows, unreadable = len(header), [], []
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            records = csv.reader(stream)
            next(records)
            for record in records:
                if not record:
                    continue  # a blank line, as csv.DictReader skips it
                unreadable.append(too_many_fields(width) if len(record) > width else None)
                rows.append((record + [""] * (width - len(record)))[:width])
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name}: cannot be read as UTF-8 CSV ({exc})") from None
    return CsvCells(header, positions, rows, unreadable)


def too_many_fields(width: int) -> str:
    """Why a row with more fields than the header is not scored (score-client says the same)."""
    return (
        f"more fields than the header's {width} (an unquoted comma?); "
        f"the fields after the {width}th are not in the output"
    )
