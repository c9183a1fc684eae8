import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iris_ml.contract import (
    FEATURE_NAMES,
    FEATURES,
    SPECIES,
    RowError,
    are_valid_rows,
    boolean_cells,
    describe_value_problem,
    format_row_errors,
    is_valid_row,
    row_problems,
    validate_records,
)

GOOD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_contract_names_and_order():
    assert FEATURE_NAMES == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert SPECIES == ("setosa", "versicolor", "virginica")


def test_typical_ranges_lie_inside_the_valid_range():
    for f in FEATURES:
        low, high = f.typical
        assert 0 < low < high <= f.maximum


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "missing"),
        (float("nan"), "NaN"),
        (float("inf"), "+infinity"),
        (float("-inf"), "-infinity"),
        (0, "greater than 0"),
        (-1.5, "greater than 0"),
        (21.0, "at most 20"),
        (1e308, "at most 20"),
        ("5.1", "expected a number"),
        (True, "expected a number"),
        ([5.1], "expected a number"),
        ({"v": 1}, "expected a number"),
    ],
)
def test_bad_values_are_described(value, expected):
    problem = describe_value_problem("sepal_length", value)
    assert problem is not None and expected in problem


@pytest.mark.parametrize("value", [0.1, 5, 5.1, 20.0])
def test_good_values_pass(value):
    assert describe_value_problem("sepal_length", value) is None


def test_validate_records_keeps_order_and_reports_each_problem():
    rows = [GOOD, {**GOOD, "petal_width": -1}, {"sepal_length": 5.0}, "not a row", {**GOOD, "x": 1}]
    valid, errors = validate_records(rows)
    assert valid == [GOOD, GOOD]
    assert [(e.row, e.column) for e in errors] == [
        (1, "petal_width"),
        (2, "sepal_width"),
        (2, "petal_length"),
        (2, "petal_width"),
        (3, None),
    ]
    assert "column is missing" in errors[1].problem


def test_format_row_errors_names_the_first_few_and_counts_the_rest():
    errors = [RowError(i, "sepal_length", "bad") for i in range(8)]
    text = format_row_errors(errors, limit=3)
    assert text.startswith("row 0, column 'sepal_length': bad; row 1")
    assert text.endswith("and 5 more problem(s)")


values = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=5),
    st.lists(st.floats(), max_size=2),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from([*FEATURE_NAMES, "other"]), values, max_size=5), max_size=6
    )
)
def test_validation_never_crashes_and_never_passes_an_invalid_value(rows):
    valid, errors = validate_records(rows)
    bad_rows = {e.row for e in errors}
    assert len(valid) + len(bad_rows) == len(rows)
    for row in valid:
        assert set(row) == set(FEATURE_NAMES)
        for name, value in row.items():
            maximum = next(f.maximum for f in FEATURES if f.name == name)
            assert math.isfinite(value) and 0 < value <= maximum


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, min_value=None, max_value=None),
    st.floats(0.01, 25.0),
    st.integers(-5, 30),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(VALUES, min_size=3, max_size=5), max_size=8))
def test_the_batch_check_agrees_with_the_row_checks(rows):
    """are_valid_rows is only a faster yes: it never passes a batch with a bad row."""
    by_row = all(len(r) == len(FEATURES) and is_valid_row(r) for r in rows)
    assert are_valid_rows(rows) == by_row
    for r in rows:
        if len(r) == len(FEATURES) and is_valid_row(r):
            assert row_problems(r) == []


def test_the_batch_check_refuses_each_kind_of_bad_value():
    good = [5.1, 3.5, 1.4, 0.2]
    assert are_valid_rows([good] * 3)
    for bad in (math.nan, math.inf, -1.0, 0.0, 20.5, 5, None, True, "5.1"):
        rows = [good, [good[0], good[1], good[2], bad], good]
        assert not are_valid_rows(rows), bad


@pytest.mark.parametrize(
    ("payload", "cells"),
    [
        ({"dataframe_records": [GOOD, {**GOOD, "petal_width": True}]}, [(1, "petal_width")]),
        (
            {
                "dataframe_split": {
                    "columns": list(FEATURE_NAMES),
                    "data": [[False, 3.5, 1.4, True]],
                }
            },
            [(0, "sepal_length"), (0, "petal_width")],
        ),
        ({"instances": [{**GOOD, "sepal_width": True}]}, [(0, "sepal_width")]),
        (
            {"inputs": {**{k: [v, v] for k, v in GOOD.items()}, "petal_length": [1.4, True]}},
            [(1, "petal_length")],
        ),
        ({"inputs": {**GOOD, "sepal_length": False}}, [(0, "sepal_length")]),
        ({"dataframe_records": [{**GOOD, "colour": True}]}, []),  # not a feature: MLflow drops it
        ({"dataframe_records": [{**GOOD, "sepal_length": 1}]}, []),  # 1 is a number, not a boolean
        (
            {"dataframe_split": {"columns": "oops", "data": [[True]]}},
            [],
        ),  # MLflow refuses the shape
        ({"rows": [{**GOOD, "sepal_length": True}]}, []),  # not a format: MLflow refuses it
    ],
)
def test_boolean_cells_are_found_in_every_mlflow_json_format(payload, cells):
    found = boolean_cells(payload)
    assert [(e.row, e.column) for e in found] == cells
    assert all(e.kind == "not_a_number" and "expected a number" in e.problem for e in found)
