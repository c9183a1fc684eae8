"""The feature contract: one source of truth for every part of iris-ml.

Column names, units, valid ranges, species and the request/response shapes live
here. Training, the served model, the Azure scoring script, score_client and the
UI all import this module, so it must stay free of heavy dependencies: standard
library only (no numpy, pandas, mlflow, scikit-learn, gradio or azure).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

__all__ = [
    "EXPECTED_HEADER",
    "FEATURES",
    "FEATURE_NAMES",
    "JSON_ROW_KEYS",
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_ROWS_PER_REQUEST",
    "MISSING",
    "MODEL_VERSION_KEY",
    "PAYLOAD_COLUMNS",
    "PAYLOAD_FILE_PATTERN",
    "PAYLOAD_SOURCE_FILE",
    "PROBABILITIES_KEY",
    "PROBABILITY_COLUMNS",
    "PROBLEM_KINDS",
    "REQUEST_ID_HEADERS",
    "SPECIES",
    "SPECIES_KEY",
    "UNIT",
    "Feature",
    "HeaderError",
    "RowError",
    "are_valid_rows",
    "boolean_cells",
    "configured_version",
    "describe_value_problem",
    "encoding_problem",
    "feature_positions",
    "format_row_errors",
    "header_feature",
    "is_safe_request_id",
    "is_valid_row",
    "media_type",
    "parse_cell",
    "problems_text",
    "read_header",
    "row_problems",
    "split_columns_problem",
    "unclashed_names",
    "validate_records",
    "value_problem",
]

UNIT = "cm"


@dataclass(frozen=True)
class Feature:
    """One input column: its name, a label for people, and its valid range.

    A value is valid when it is a finite number with ``0 < value <= maximum``.
    ``typical`` is the range seen in Fisher's data set; the UI uses it for its
    sliders. ``maximum`` is well beyond any recorded iris (about 2.5x the
    largest in the data set): past it the value is a typo or a unit mistake
    (millimetres sent as centimetres), not a flower.
    """

    name: str
    label: str
    maximum: float
    typical: tuple[float, float]


FEATURES: tuple[Feature, ...] = (
    Feature("sepal_length", "Sepal length", maximum=20.0, typical=(4.3, 7.9)),
    Feature("sepal_width", "Sepal width", maximum=10.0, typical=(2.0, 4.4)),
    Feature("petal_length", "Petal length", maximum=20.0, typical=(1.0, 6.9)),
    Feature("petal_width", "Petal width", maximum=10.0, typical=(0.1, 2.5)),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
SPECIES: tuple[str, ...] = ("setosa", "versicolor", "virginica")
# The first flower of each species in Fisher's data (rows 1, 51, 101), in FEATURE_NAMES order:
# any model worth serving names them right.
TEXTBOOK_FLOWERS: tuple[tuple[tuple[float, float, float, float], str], ...] = (
    ((5.1, 3.5, 1.4, 0.2), "setosa"),
    ((7.0, 3.2, 4.7, 1.4), "versicolor"),
    ((6.3, 3.3, 6.0, 2.5), "virginica"),
)

# Keys of one prediction in a response: {"species": ..., "probabilities": {...}}
SPECIES_KEY = "species"
PROBABILITIES_KEY = "probabilities"
MODEL_VERSION_KEY = "model_version"


def configured_version(model_config: dict[str, Any] | None) -> str | None:
    """The version a model echoes: its ``model_config``'s ``model_version``, if not empty."""
    version = (model_config or {}).get(MODEL_VERSION_KEY)
    return str(version) if version not in (None, "") else None


# One scored row as the payload log (iris_ml/serving/payload_log.py) and Azure ML's data collector
# (deploy/azureml/scoring/score.py) record it, for the drift monitor and Azure's monitoring.
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"probability_{s}" for s in SPECIES)
PAYLOAD_COLUMNS: tuple[str, ...] = (
    "time", "request_id", MODEL_VERSION_KEY, *FEATURE_NAMES, SPECIES_KEY, *PROBABILITY_COLUMNS,
)  # fmt: skip
# The payload log's files: each worker writes payloads-<pid>-<n>.jsonl; the monitor reads them all.
PAYLOAD_FILE_PATTERN = "payloads-*.jsonl"
# Beside them, which registry and model scored them ({"tracking_uri", "model_name"}; the URI
# without its password): one folder holds one source, and the monitor compares only that.
PAYLOAD_SOURCE_FILE = "source.json"

# A caller's request id: X-Request-ID, or Azure's x-ms-client-request-id. The project's server
# keeps it when it is a short token of safe characters, else makes one up; Azure's server
# (azmlinfsrv) keeps any up to 100 characters, and the scoring script uses what it keeps.
REQUEST_ID_HEADERS: tuple[str, ...] = ("x-request-id", "x-ms-client-request-id")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# Rows one request may carry; larger inputs are chunked by score_client.
MAX_ROWS_PER_REQUEST = 50_000
# Bytes one request body may carry: the client's biggest request (50,000 rows of 17-digit
# floats, ~5 MB as JSON) fits four times over; 60 MB of anything does not.
MAX_BODY_BYTES = 20 * 1024 * 1024
# JSON nesting a request may have: every format of the contract needs 4 levels at most.
# CPython's json module fails past ~1,000 with a RecursionError; long before, this refuses.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")

_BY_NAME = {f.name: f for f in FEATURES}
_MAXIMA = tuple((f.name, f.maximum) for f in FEATURES)
_MAXIMUM_VALUES = tuple(f.maximum for f in FEATURES)
MISSING: object = object()  # stands for an absent column in row_problems()


@dataclass(frozen=True)
class RowError:
    """Why one input row cannot be scored.

    ``row`` counts data rows from 0; ``line`` is where the row starts in a CSV file
    (the header is line 1), or None for input that has no lines (JSON, records).
    """

    row: int
    column: str | None
    problem: str
    line: int | None = None
    kind: str = "other"  # one of PROBLEM_KINDS

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"row {self.row}"
        where += f", column '{self.column}'" if self.column else ""
        return f"{where}: {self.problem}"


# Why a value breaks the contract, in words a metric label can carry (a fixed set: label
# values stay bounded whatever is sent). "missing_column", "no_rows" and "too_many_rows" are
# about the request's shape, the rest about one value.
PROBLEM_KINDS: tuple[str, ...] = (
    "missing_value", "not_a_number", "nan", "infinite", "not_positive", "too_large",
    "missing_column", "no_rows", "too_many_rows", "other",
)  # fmt: skip


def value_problem(column: str, value: object) -> tuple[str, str] | None:
    """``(kind, why)`` when ``value`` is not a valid measurement for ``column``, else None."""
    feature = _BY_NAME[column]
    if value is None:
        return "missing_value", "value is missing (null)"
    # bool is an int subclass; True is not a length.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not_a_number", f"expected a number in {UNIT}, got {_short_repr(value)}"
    number = float(value)
    if math.isnan(number):
        return "nan", "value is NaN"
    if math.isinf(number):
        return "infinite", f"value is {'+' if number > 0 else '-'}infinity"
    if number <= 0:
        return "not_positive", f"must be greater than 0 {UNIT}, got {number:g}"
    if number > feature.maximum:
        return "too_large", f"must be at most {feature.maximum:g} {UNIT}, got {number:g}"
    return None


def describe_value_problem(column: str, value: object) -> str | None:
    """Return why ``value`` is not a valid measurement for ``column``, or None if it is."""
    found = value_problem(column, value)
    return found[1] if found else None


def is_valid_row(values: Sequence[object]) -> bool:
    """The quick yes: all four values (``FEATURE_NAMES`` order) are floats within range.

    False does not mean invalid (an int is fine): ask ``row_problems`` then.
    NaN fails the comparison and infinity exceeds the maximum.
    """
    return all(
        type(value) is float and 0 < value <= maximum
        for value, maximum in zip(values, _MAXIMUM_VALUES, strict=True)
    )


def are_valid_rows(rows: Sequence[Sequence[object]]) -> bool:
    """The quick yes for a batch: every row is four floats within range.

    The same rule as ``is_valid_row``, checked column by column with C-level
    ``map``/``min``/``max``: several times faster on thousands of rows. False means
    "look row by row".
    """
    if not rows:
        return True
    if set(map(len, rows)) != {len(FEATURES)}:
        return False
    flat = list(chain.from_iterable(rows))
    if set(map(type, flat)) != {float} or any(map(math.isnan, flat)):  # type: ignore[arg-type]
        return False
    return all(
        min(column) > 0 and max(column) <= maximum
        for column, maximum in zip(zip(*rows, strict=True), _MAXIMUM_VALUES, strict=True)
    )


def row_problems(values: Sequence[object]) -> list[tuple[str, str]]:
    """``(column, problem)`` for each value, in ``FEATURE_NAMES`` order, that breaks the contract.

    An empty list means the row is valid. A value may be ``MISSING`` (the column is absent).
    """
    problems = []
    for (name, maximum), value in zip(_MAXIMA, values, strict=True):
        # Fast path, same rule: NaN fails the comparison and infinity exceeds the maximum.
        if type(value) is float and 0 < value <= maximum:
            continue
        if value is MISSING:
            problems.append((name, "column is missing"))
            continue
        problem = describe_value_problem(name, value)
        if problem:
            problems.append((name, problem))
    return problems


def validate_records(
    records: Iterable[Mapping[str, object]],
) -> tuple[list[dict[str, float]], list[RowError]]:
    """Check rows against the contract.

    Returns the valid rows (in input order, reduced to the four features as
    floats) and one error per problem found. Extra keys are ignored; numeric
    strings are not accepted, so what is sent is what was meant.
    """
    valid: list[dict[str, float]] = []
    errors: list[RowError] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            errors.append(RowError(index, None, f"expected an object, got {_short_repr(record)}"))
            continue
        values = [record.get(name, MISSING) for name in FEATURE_NAMES]
        problems = row_problems(values)
        if problems:
            errors.extend(RowError(index, column, problem) for column, problem in problems)
        else:
            valid.append(dict(zip(FEATURE_NAMES, map(float, values), strict=True)))  # type: ignore[arg-type]
    return valid, errors


# MLflow's JSON request formats (the scoring server's /invocations): which key holds the rows.
JSON_ROW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def boolean_cells(payload: Mapping[str, Any]) -> list[RowError]:
    """The feature cells of a parsed MLflow JSON request that hold ``true`` or ``false``.

    MLflow's parser reads them as 1.0 and 0.0 before any model sees them, so a server
    must look at the request itself to refuse them.
    """
    errors = []
    for row, column, value in _feature_cells(payload):
        if isinstance(value, bool):
            kind, problem = value_problem(column, value) or ("not_a_number", "not a number")
            errors.append(RowError(row, column, problem, kind=kind))
    return errors


_JSON_KINDS = {list: "a list", dict: "an object", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}  # fmt: skip


def split_columns_problem(payload: Mapping[str, Any]) -> str | None:
    """What is wrong with a ``dataframe_split`` request's column names, or None.

    A name must be a string: MLflow's parser fails on a list or an object with a 500.
    """
    split = payload.get("dataframe_split")
    columns = split.get("columns") if isinstance(split, dict) else None
    if not isinstance(columns, list):
        return None  # absent, or not a list: MLflow's handler refuses it itself (400)
    for i, name in enumerate(columns):
        if not isinstance(name, str):
            kind = _JSON_KINDS.get(type(name), "not a string")
            return f"dataframe_split.columns[{i}] is {kind}, not a column name"
    return None


def _feature_cells(payload: Mapping[str, Any]) -> Iterator[tuple[int, str, object]]:
    """(row, column, value) of every feature cell, in each of MLflow's JSON formats."""
    split = payload.get("dataframe_split")
    if isinstance(split, dict) and isinstance(split.get("columns"), list):
        yield from _split_cells(split["columns"], split.get("data") or [])
    for key in JSON_ROW_KEYS[1:]:
        found = payload.get(key)
        if isinstance(found, list):
            for row, record in enumerate(found):
                if isinstance(record, dict):
                    yield from _named(row, record)
        elif isinstance(found, dict):  # columnar: {"sepal_length": [5.1, ...], ...} or scalars
            yield from _columnar_cells(found)


def _split_cells(columns: list[Any], data: Any) -> Iterator[tuple[int, str, object]]:
    for row, values in enumerate(data):
        if isinstance(values, list):
            yield from _named(row, dict(zip(columns, values, strict=False)))


def _columnar_cells(found: Mapping[str, Any]) -> Iterator[tuple[int, str, object]]:
    for column in FEATURE_NAMES:
        values = found.get(column)
        for row, value in enumerate(values if isinstance(values, list) else [values]):
            yield row, column, value


def _named(row: int, record: Mapping[Any, Any]) -> Iterator[tuple[int, str, object]]:
    for column in FEATURE_NAMES:
        if column in record:
            yield row, column, record[column]


def nested_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects deeper than ``limit`` (C-speed passes only).

    Strings are dropped first (a bracket in a string is text), then every other byte but
    brackets; each round removes the innermost matched pairs. Whatever is left unmatched
    (a truncated text) counts as open: its parser says what else is wrong with it.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_A_BRACKET)
    for _ in range(limit):
        inner = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if inner == brackets:
            break
        brackets = inner
    else:
        if b"[]" in brackets or b"{}" in brackets:
            return True  # pairs still nested after `limit` rounds
    return brackets.count(b"[") + brackets.count(b"{") > limit


def is_safe_request_id(text: str) -> bool:
    """Up to 128 letters, digits and ``._:-``: safe in a header, a log line and a file."""
    return _SAFE_REQUEST_ID.fullmatch(text) is not None


def format_row_errors(errors: Sequence[RowError], limit: int = 5) -> str:
    """One readable line for a list of row errors, naming the first few."""
    shown = "; ".join(str(e) for e in errors[:limit])
    more = len(errors) - limit
    return shown + (f"; and {more} more problem(s)" if more > 0 else "")


def _short_repr(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # little- and big-endian


def encoding_problem(head: bytes, bad_byte: int) -> str:
    """Why a file is not the UTF-8 text a CSV must be: UTF-16 by its first bytes, or 8-bit.

    ``head`` is the file's first two bytes, ``bad_byte`` the first that is not UTF-8.
    """
    if head[:2] in UTF16_BOMS:
        return (
            "the file is UTF-16 text (it starts with a UTF-16 byte-order mark, as Excel's "
            "'Unicode Text' saves it); save it as CSV UTF-8"
        )
    return (
        f"the file is not UTF-8 text (it has the byte 0x{bad_byte:02x}, as Latin-1 or "
        "Windows-1252 files do); save it as CSV UTF-8"
    )


def media_type(header: str) -> tuple[str, dict[str, str]]:
    """A Content-Type's type and parameters, read as MLflow's scoring server reads them.

    Parts split on ``;`` and stripped, each parameter split at its first ``=``, names and
    values as sent, the last of a repeated name winning (``scoring_server.invocations``).
    """
    mime, *pairs = (part.strip() for part in header.split(";"))
    return mime, {name: value for pair in pairs for name, _, value in [pair.partition("=")]}


_HEADER_UNIT = re.compile(rf"\s*\(\s*{re.escape(UNIT)}\s*\)$")
_HEADER_SEPARATORS = re.compile(r"[\s._-]+")


def header_feature(name: str) -> str:
    """The feature name a CSV header cell stands for, as clients match it.

    Case, surrounding spaces and separators are ignored (``Sepal Length``, R's
    ``Sepal.Length``, ``sepal-length``), and so is this contract's unit written after it
    (scikit-learn's ``sepal length (cm)``). Any other unit is kept, so ``sepal length (mm)``
    names no feature: a value is never converted behind the user's back.
    """
    key = _HEADER_UNIT.sub("", name.strip().casefold())
    return _HEADER_SEPARATORS.sub("_", key.strip())


EXPECTED_HEADER = "a comma-separated header naming " + ", ".join(FEATURE_NAMES)
# Separators people's CSVs use instead of commas, named in the error for a one-column header.
_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "pipes"}


class HeaderError(ValueError):
    """A CSV header no feature can be read from; the message says why, in one sentence."""


def read_header(record: list[str] | None) -> list[str]:
    """A CSV's first record as its column names: a UTF-8 byte-order mark before the first
    (Excel's "CSV UTF-8") dropped; HeaderError when the file is empty or binary."""
    header = [record[0].removeprefix("\ufeff"), *record[1:]] if record else []
    if not header or not any(name.strip() for name in header):
        raise HeaderError(f"the file is empty: expected {EXPECTED_HEADER}")
    if any("\x00" in name for name in header):
        raise HeaderError(
            "the header holds NUL bytes: the file looks binary or UTF-16, not UTF-8 CSV text"
        )
    return header


def feature_positions(header: list[str]) -> list[int]:
    """Where each feature is in a CSV header (``FEATURE_NAMES`` order), as every reader finds it.

    Names match as ``header_feature`` reads them; extra columns are allowed. Raises
    HeaderError for a feature named twice or one missing.
    """
    found: dict[str, list[int]] = {}
    for position, name in enumerate(header):
        found.setdefault(header_feature(name), []).append(position)
    twice = [
        f"{n} (columns {', '.join(str(p + 1) for p in found[n])})"
        for n in FEATURE_NAMES
        if len(found.get(n, ())) > 1
    ]
    if twice:
        raise HeaderError(f"the header names {'; '.join(twice)} more than once: keep one of each")
    missing = [name for name in FEATURE_NAMES if name not in found]
    if missing:
        raise HeaderError(_missing_columns_message(header, missing))
    return [found[name][0] for name in FEATURE_NAMES]


def _missing_columns_message(header: list[str], missing: list[str]) -> str:
    has = ", ".join(f'"{name}"' for name in header)
    if len(header) == 1:
        for separator, plural in _OTHER_SEPARATORS.items():
            if separator in header[0]:
                return (
                    f"the header is one column, {has}: the file looks separated by {plural}; "
                    f"expected {EXPECTED_HEADER}"
                )
    return f"the header lacks {', '.join(missing)}; it has {has}. Expected {EXPECTED_HEADER}"


def parse_cell(text: str | None) -> object:
    """A CSV feature cell: a float when the text is a plain number, None when empty, else the text.

    ``float()`` also reads ``1_000`` as 1000; a person who typed that did not write a
    measurement, so underscores keep the cell as text (and the contract refuses it).
    """
    if text is None:
        return None
    if "_" not in text:
        try:
            return float(text)  # float() ignores surrounding whitespace itself
        except ValueError:
            pass
    return None if text.strip() == "" else text


def unclashed_names(taken: Iterable[str], names: Sequence[str]) -> list[str]:
    """``names`` for answer columns, each given ``_scored`` while an input column has it."""
    used = set(taken)
    unclashed = []
    for name in names:
        while name in used:
            name += "_scored"
        used.add(name)
        unclashed.append(name)
    return unclashed


def problems_text(problems: Sequence[tuple[str | None, str]]) -> str:
    """One row's problems as its ``error``/``problem`` cell says them: ``column: why; ...``."""
    return "; ".join(f"{column}: {why}" if column else why for column, why in problems)
