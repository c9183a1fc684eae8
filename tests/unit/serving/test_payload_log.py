"""The payload log: rows as scored, off the request path, bounded, and never a failed request."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from iris_ml.contract import FEATURE_NAMES, SPECIES
from iris_ml.serving.encoding import Scored
from iris_ml.serving.handoff import PayloadLogSettings
from iris_ml.serving.payload_log import COLUMNS, Batch, PayloadLog, lines


def payload_settings(folder: str, **given) -> PayloadLogSettings:
    return PayloadLogSettings(folder, **{"max_total_bytes": 1 << 30, **given})


def batch(rows: int, rid: str = "r1") -> Batch:
    matrix = np.tile([5.1, 3.5, 1.4, 0.2], (rows, 1))
    scored = Scored(["setosa"] * rows, np.tile([0.9, 0.08, 0.02], (rows, 1)))
    return Batch(1_700_000_000.0, rid, "7", matrix, scored)


def read_rows(folder) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted(folder.glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def test_rows_are_written_as_scored_in_the_documented_columns(tmp_path):
    log = PayloadLog(payload_settings(str(tmp_path))).start()
    log.submit(batch(3, "order-00123"))
    log.close()
    rows = read_rows(tmp_path)
    assert len(rows) == 3 and tuple(rows[0]) == COLUMNS
    assert rows[0]["request_id"] == "order-00123" and rows[0]["model_version"] == "7"
    assert [rows[0][n] for n in FEATURE_NAMES] == [5.1, 3.5, 1.4, 0.2]
    assert rows[0]["species"] == "setosa" and rows[0]["time"] == "2023-11-14T22:13:20.000+00:00"
    assert [rows[0][f"probability_{s}"] for s in SPECIES] == [0.9, 0.08, 0.02]


def test_files_rotate_and_the_oldest_go_past_the_cap(tmp_path):
    settings = payload_settings(
        str(tmp_path), max_file_bytes=4_000, max_total_bytes=12_000, flush_interval=0.001
    )
    log = PayloadLog(settings).start()
    for i in range(40):
        log.submit(batch(5, f"r{i}"))
        time.sleep(0.01)  # a write each: distinct mtimes, so the oldest file is known
    log.close()
    files = list(tmp_path.glob("payloads-*.jsonl"))
    assert len(files) > 1
    assert sum(f.stat().st_size for f in files) <= 12_000 + 4_000
    kept = {r["request_id"] for r in read_rows(tmp_path)}
    assert "r39" in kept and "r0" not in kept


def test_an_unwritable_folder_drops_rows_counted_and_logged_once(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    dropped = []
    log = PayloadLog(
        payload_settings(str(blocker / "payloads")), on_drop=lambda r, n: dropped.append((r, n))
    ).start()
    for _ in range(3):
        log.submit(batch(2))  # returns at once: the request is never the one to fail
    log.close()
    assert {reason for reason, _ in dropped} == {"write_error"}
    assert sum(rows for _, rows in dropped) == 6  # every row counted, whatever the grouping
    assert sum("payload log not written" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("how", ["removed", "moved"])
def test_a_file_taken_away_while_open_is_replaced_and_no_row_goes_into_it(tmp_path, how):
    folder, elsewhere = tmp_path / "payloads", tmp_path / "shipped"
    elsewhere.mkdir()
    log = PayloadLog(payload_settings(str(folder), flush_interval=0.01)).start()
    log.submit(batch(2, "before"))
    deadline = time.monotonic() + 10
    while not list(folder.glob("*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.01)
    for f in folder.glob("*.jsonl"):  # by hand, by a cleanup job or a log shipper
        f.unlink() if how == "removed" else f.rename(elsewhere / f.name)
    log.submit(batch(2, "after"))
    log.close()
    assert [r["request_id"] for r in read_rows(folder)] == ["after", "after"]
    if how == "moved":
        assert [r["request_id"] for r in read_rows(elsewhere)] == ["before", "before"]


def test_a_full_queue_drops_instead_of_growing(tmp_path):
    dropped = []
    log = PayloadLog(  # not started: nothing drains the queue
        payload_settings(str(tmp_path), max_queued_rows=10),
        on_drop=lambda r, n: dropped.append((r, n)),
    )
    log.submit(batch(6))
    log.submit(batch(6))
    assert dropped == [("queue_full", 6)]


def test_sampling_keeps_about_the_asked_share():
    log = PayloadLog(payload_settings("/unused", sample_rate=0.25))
    share = sum(log.sampled() for _ in range(4000)) / 4000
    assert 0.2 < share < 0.3
    assert not any(
        PayloadLog(payload_settings("/unused", sample_rate=0)).sampled() for _ in range(100)
    )


def test_batches_formatted_together_keep_each_rows_own_request_and_values():
    first = Batch(1_700_000_000.0, "a%s", "7", np.array([[5.1, 3.5, 1.4, 0.2]]),
                  Scored(["setosa"], np.array([[0.9, 0.08, 0.02]])))  # fmt: skip
    second = Batch(1_700_000_001.5, "b", None, np.array([[6.3, 3.3, 6.0, 2.5], [1e-05, 3, 4, 5]]),
                   Scored(["virginica", "versicolor"], np.array([[0.0, 0.1, 0.9], [0.2, 0.7, 0.1]])))  # fmt: skip
    rows = [json.loads(line) for line in lines([first, second]).decode().splitlines()]
    assert [(r["request_id"], r["model_version"], r["species"]) for r in rows] == [
        ("a%s", "7", "setosa"), ("b", None, "virginica"), ("b", None, "versicolor"),
    ]  # fmt: skip
    assert [r["sepal_length"] for r in rows] == [5.1, 6.3, 1e-05]
    assert [r["probability_virginica"] for r in rows] == [0.02, 0.9, 0.1]
    assert rows[1]["time"] == "2023-11-14T22:13:21.500+00:00"
