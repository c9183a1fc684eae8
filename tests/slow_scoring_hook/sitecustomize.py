"""Makes a server's scoring slow on purpose, for the timeout and full-queue tests.

On PYTHONPATH, Python imports this module at start in every process. Only in the
server's processes (the launcher hands them IRIS_SERVING), and only when IRIS_TEST_SLOW_SCORING names a number of seconds, it wraps the
served model's two scoring paths (MLflow's handler's ``predict`` and the layer's
``score_plain``) so that a request of 1,000 rows or more first writes the marker file
IRIS_TEST_SLOW_MARKER (the test knows the request is in) and then sleeps. Smaller
requests are scored at full speed: the server is shown to keep serving. With
IRIS_TEST_SLOW_LOAD, building MLflow's app on its first request takes that many seconds
longer, so a cold load outlasts the server's timeout on any machine.
"""

import os
import time

_SECONDS = os.environ.get("IRIS_TEST_SLOW_SCORING")
_LOAD_SECONDS = os.environ.get("IRIS_TEST_SLOW_LOAD")

if _SECONDS and "IRIS_SERVING" in os.environ:
    from iris_ml.serving import observed_model

    def _slowed(score):
        def slow(self, data, *args, **kwargs):
            if len(data) >= 1000:
                with open(os.environ["IRIS_TEST_SLOW_MARKER"], "a") as marker:
                    marker.write(f"{os.getpid()}\n")
                time.sleep(float(_SECONDS))
            return score(self, data, *args, **kwargs)

        return slow

    cls = observed_model.ObservedModel
    cls.predict = _slowed(cls.predict)
    cls.score_plain = _slowed(cls.score_plain)

if _LOAD_SECONDS and "IRIS_SERVING" in os.environ:
    from iris_ml.serving import lazy_app

    def _slow_build(build):
        def slow():
            time.sleep(float(_LOAD_SECONDS))
            return build()

        return slow

    _init = lazy_app.LazyMlflowApp.__init__
    lazy_app.LazyMlflowApp.__init__ = lambda self, build: _init(self, _slow_build(build))
