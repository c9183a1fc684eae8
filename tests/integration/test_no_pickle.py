"""Loading and using the served model unpickles nothing."""

import subprocess
import sys

import pytest

from tests import procs

pytestmark = pytest.mark.integration

# Every unpickling entry point raises; the model must still load and predict.
GUARDED_LOAD = r"""
import pickle, sys
def refuse(*a, **k):
    raise AssertionError("unpickling attempted")
pickle.load = pickle.loads = refuse
class RefusingUnpickler(pickle.Unpickler):  # a class: libraries subclass it at import (pyspark)
    def __init__(self, *a, **k):
        refuse()
pickle.Unpickler = RefusingUnpickler
import cloudpickle, joblib
cloudpickle.load = cloudpickle.loads = refuse
joblib.load = refuse
import numpy
_np_load = numpy.load
def np_load(*a, allow_pickle=False, **k):
    if allow_pickle:
        raise AssertionError("numpy.load with allow_pickle")
    return _np_load(*a, allow_pickle=False, **k)
numpy.load = np_load

import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model("models:/iris-classifier@champion")
out = model.predict(pd.DataFrame([[5.1, 3.5, 1.4, 0.2]],
    columns=["sepal_length", "sepal_width", "petal_length", "petal_width"]))
print(out[0]["species"])
"""


def test_the_champion_loads_and_predicts_with_unpickling_disabled(trained_store):
    env = procs.base_env(trained_store.tracking_uri)
    result = subprocess.run(
        [sys.executable, "-c", GUARDED_LOAD], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("setosa")


def test_the_guard_does_catch_unpickling(tmp_path):
    """The guard is not vacuous: a pickled object fails under it."""
    import pickle

    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    code = (
        GUARDED_LOAD.split("import mlflow.pyfunc")[0]
        + f"\npickle.loads(open({str(path)!r}, 'rb').read())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "unpickling attempted" in result.stderr
