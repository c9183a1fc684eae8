import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iris_ml.contract import FEATURE_NAMES, MAX_ROWS_PER_REQUEST, SPECIES, validate_records
from iris_ml.model import InvalidInputError, feature_matrix, predictions_from_probabilities

GOOD = [5.1, 3.5, 1.4, 0.2]


def frame(*rows):
    return pd.DataFrame(list(rows), columns=list(FEATURE_NAMES))


def test_valid_frame_becomes_a_matrix_in_contract_order():
    shuffled = frame(GOOD)[list(reversed(FEATURE_NAMES))]
    assert feature_matrix(shuffled).tolist() == [GOOD]


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ([np.nan, 3.5, 1.4, 0.2], "row 1, column 'sepal_length': value is NaN"),
        ([5.1, np.inf, 1.4, 0.2], "row 1, column 'sepal_width': value is +infinity"),
        ([5.1, 3.5, -1.0, 0.2], "row 1, column 'petal_length': must be greater than 0"),
        ([5.1, 3.5, 1.4, 0.0], "row 1, column 'petal_width': must be greater than 0"),
        ([5.1, 3.5, 1.4, 1e308], "row 1, column 'petal_width': must be at most 10"),
    ],
)
def test_bad_cells_name_row_and_column(row, fragment):
    with pytest.raises(InvalidInputError) as info:
        feature_matrix(frame(GOOD, row))
    assert info.value.message == f"Invalid input: {fragment}" or fragment in info.value.message
    assert info.value.get_http_status_code() == 400


def test_missing_column_empty_and_oversized_inputs():
    with pytest.raises(InvalidInputError, match="missing column"):
        feature_matrix(frame(GOOD).drop(columns=["petal_width"]))
    with pytest.raises(InvalidInputError, match="no rows"):
        feature_matrix(frame(GOOD).iloc[:0])
    big = pd.DataFrame(np.tile(GOOD, (MAX_ROWS_PER_REQUEST + 1, 1)), columns=list(FEATURE_NAMES))
    with pytest.raises(InvalidInputError, match="limit is"):
        feature_matrix(big)


def test_text_cells_are_reported_not_crashed_on():
    df = frame(GOOD).astype(object)
    df.iat[0, 2] = "long"
    with pytest.raises(InvalidInputError, match="row 0, column 'petal_length': expected a number"):
        feature_matrix(df)


def test_the_message_survives_mlflows_rewrite():
    exc = InvalidInputError("row 0: bad")
    exc.message = "Failed to predict data '<huge dump>'. Error: " + exc.message
    assert exc.message == "Invalid input: row 0: bad"
    assert "huge dump" not in exc.serialize_as_json()


def test_predictions_follow_contract_species_order_whatever_the_class_order():
    probabilities = np.array([[0.1, 0.7, 0.2]])
    rows = predictions_from_probabilities(probabilities, ["virginica", "setosa", "versicolor"], "7")
    assert rows == [
        {
            "species": "setosa",
            "probabilities": {"setosa": 0.7, "versicolor": 0.2, "virginica": 0.1},
            "model_version": "7",
        }
    ]
    assert list(rows[0]["probabilities"]) == list(SPECIES)


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 50))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(cells, min_size=4, max_size=4), min_size=1, max_size=8))
def test_numpy_validation_agrees_with_the_contract(rows):
    """The model's vectorised check and the contract's per-value check never disagree."""
    records = [dict(zip(FEATURE_NAMES, (float(v) for v in r), strict=True)) for r in rows]
    _, errors = validate_records(records)
    if errors:
        with pytest.raises(InvalidInputError):
            feature_matrix(frame(*rows))
    else:
        assert feature_matrix(frame(*rows)).shape == (len(rows), 4)


def _fitted(pipeline_steps):
    from sklearn.pipeline import Pipeline

    from iris_ml.training.data import load_dataset

    frame = load_dataset()
    x = frame[list(FEATURE_NAMES)].to_numpy()
    return Pipeline(pipeline_steps).fit(x, frame["species"]), x


def test_the_linear_scorer_reproduces_predict_proba_and_survives_its_file(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from iris_ml.linear_scorer import LinearScorer

    estimator, x = _fitted(
        [("scale", StandardScaler()), ("clf", LogisticRegression(C=0.7, max_iter=300))]
    )
    scorer = LinearScorer.from_estimator(estimator)
    assert scorer is not None and scorer.agrees_with(estimator)
    np.testing.assert_allclose(
        scorer.probabilities(x), estimator.predict_proba(x), rtol=0, atol=1e-12
    )
    scorer.write(tmp_path / "linear_scorer.json")
    read = LinearScorer.read(tmp_path / "linear_scorer.json", "7")
    # The file's floats read back as the same doubles: the same answer to the last bit.
    assert np.array_equal(read.probabilities(x.copy()), scorer.probabilities(x.copy()))
    assert read.model_version == "7" and read.maxima == scorer.maxima
    assert read.accepts(x) and not read.accepts(np.array([[5.1, 3.5, -1.4, 0.2]]))


def test_a_scorer_file_of_another_shape_or_format_is_refused(tmp_path):
    import json

    from iris_ml.linear_scorer import LinearScorer, ScorerFileError

    path = tmp_path / "linear_scorer.json"
    for document in (
        {"format": "other"},
        {"format": "iris-ml/linear-softmax/1", "features": ["x"]},
    ):
        path.write_text(json.dumps(document))
        with pytest.raises(ScorerFileError):
            LinearScorer.read(path)


def test_other_estimators_keep_sklearns_own_path():
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from iris_ml.linear_scorer import LinearScorer

    tree, _ = _fitted(
        [("scale", StandardScaler()), ("tree", DecisionTreeClassifier(random_state=0))]
    )
    assert LinearScorer.from_estimator(tree) is None
    from sklearn.linear_model import LogisticRegression

    minmax, _ = _fitted([("scale", MinMaxScaler()), ("clf", LogisticRegression())])
    assert LinearScorer.from_estimator(minmax) is None
