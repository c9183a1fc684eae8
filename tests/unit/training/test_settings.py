import pytest

from iris_ml.training.settings import TrainSettings


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"C": 0}, "C must be > 0"),
        ({"max_iter": 0}, "max_iter"),
        ({"test_size": 0.9}, "test_size"),
        ({"model_name": " "}, "model_name"),
        ({"alias": "latest"}, "reserved"),
        ({"alias": "v3"}, "reserved"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**kwargs)


def test_defaults_are_valid_and_frozen():
    s = TrainSettings()
    with pytest.raises(AttributeError):
        s.C = 2.0  # type: ignore[misc]
