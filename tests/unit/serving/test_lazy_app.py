"""MLflow's app built on the first request that needs it, behind the serving layer (issue 34)."""

from __future__ import annotations

import threading

from iris_ml.serving.handoff import Limits
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.lazy_app import LazyMlflowApp
from iris_ml.serving.metrics import ServingMetrics
from tests.unit.serving.test_serving_layer import call, mlflow_like_app

CSV = {"Content-Type": "text/csv"}
ONE_ROW = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"


def lazy_layer(build, timeout=30):
    lazy = LazyMlflowApp(build)
    layer = ServingLayer(lazy, lambda: "1", ServingMetrics(), limits=Limits(timeout=timeout))
    return lazy, layer


def counted_build():
    builds = []
    app, _ = mlflow_like_app(200, b'{"predictions": []}')

    def build():
        builds.append(1)
        return app

    return builds, build


def test_ping_and_version_are_answered_without_building_mlflows_app():
    builds, build = counted_build()
    lazy, layer = lazy_layer(build)
    ping, version = (
        call(layer, path="/ping", method="GET"),
        call(layer, path="/version", method="GET"),
    )
    assert ping.status_code == 200 and ping.text == "\n"
    assert version.status_code == 200 and version.headers["content-type"] == "application/json"
    assert version.text.count(".") >= 1  # MLflow's version string, as MLflow answers it
    assert builds == [] and not lazy.built


def test_the_first_request_that_needs_mlflow_builds_it_once():
    builds, build = counted_build()
    lazy, layer = lazy_layer(build)
    answers = [call(layer, ONE_ROW, CSV) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert builds == [1] and lazy.built


def test_a_build_past_the_timeout_is_a_503_with_retry_after_then_it_answers():
    release = threading.Event()
    builds, build = counted_build()

    def slow_build():
        release.wait(30)
        return build()

    _, layer = lazy_layer(slow_build, timeout=1)
    cold = call(layer, ONE_ROW, CSV | {"X-Request-ID": "cold-1"})
    assert cold.status_code == 503 and cold.headers["retry-after"] == "5"
    assert cold.json()["request_id"] == "cold-1" and "loading" in cold.json()["message"]
    release.set()
    assert call(layer, ONE_ROW, CSV).status_code == 200
    assert builds == [1]


def test_a_failed_build_is_a_clean_500_and_the_next_request_builds_again():
    attempts = []
    _, good = counted_build()

    def flaky_build():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("/secret/path/model.pkl is unreadable")
        return good()

    _, layer = lazy_layer(flaky_build)
    failed = call(layer, ONE_ROW, CSV)
    assert failed.status_code == 500 and "/secret" not in failed.text
    assert call(layer, ONE_ROW, CSV).status_code == 200
    assert len(attempts) == 2
