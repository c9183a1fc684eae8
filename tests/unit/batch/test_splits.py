"""How big a file's splits are: a task per two cores, never a split under MIN_SPLIT."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from iris_ml.batch.files import CSV, BatchInput
from iris_ml.batch.spark import _HUGE, MAX_SPLIT, MIN_SPLIT, split_size


def cores(n: int) -> SimpleNamespace:
    return SimpleNamespace(sparkContext=SimpleNamespace(defaultParallelism=n))


@pytest.fixture
def files(tmp_path):
    def make(*megabytes: float) -> BatchInput:
        paths = []
        for i, size in enumerate(megabytes):
            path = tmp_path / f"{i}.csv"
            with path.open("wb") as stream:
                stream.truncate(int(size * (1 << 20)))  # sparse: the size is what counts
            paths.append(path)
        return BatchInput(tuple(paths), CSV)

    return make


def test_on_two_cores_a_file_is_read_whole(files):
    assert split_size(cores(2), files(300), None) == int(_HUGE)


def test_more_cores_than_files_split_them_for_a_task_per_two_cores(files):
    assert split_size(cores(16), files(400), None) == 50 << 20
    assert split_size(cores(16), files(40), None) == MIN_SPLIT  # 5 MB pieces would not pay
    assert split_size(cores(64), files(40_000), None) == MAX_SPLIT  # Spark's own default
    assert split_size(cores(16), files(*[10] * 8), None) == int(_HUGE)  # a file a task already


def test_the_size_asked_for_is_the_size(files):
    assert split_size(cores(2), files(300), 1 << 20) == 1 << 20
