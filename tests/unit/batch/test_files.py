"""A batch input's files and its CSV header, refused in one sentence before Spark starts."""

from __future__ import annotations

import re

import pytest

from iris_ml.batch.files import CSV, PARQUET, InputError, find_input

HEADER = "id,Petal Width,sepal_length,SEPAL WIDTH,petal length (cm)\n"


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_a_folder_gives_its_csv_files_in_order_and_their_shared_header(tmp_path):
    for name in ("b.csv", "a.csv"):
        write(tmp_path / name, "\ufeff" + HEADER + "00123,0.2,5.1,3.5,1.4\n")
    write(tmp_path / ".hidden.csv", "x\n")
    found = find_input(str(tmp_path))
    assert [p.name for p in found.files] == ["a.csv", "b.csv"] and found.format == CSV
    assert found.header == ("id", "Petal Width", "sepal_length", "SEPAL WIDTH", "petal length (cm)")
    assert found.positions == (2, 3, 4, 1)


def test_a_glob_and_parquet(tmp_path):
    write(tmp_path / "p1.parquet", "")
    assert find_input(str(tmp_path / "p*.parquet")).format == PARQUET


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.csv": HEADER, "b.parquet": ""}, "one kind at a time"),
        ({"a.csv": HEADER, "b.csv": "id,sepal_length,sepal_width,petal_length,petal_width\n"},
         "b.csv: its header differs from a.csv's"),
        ({"a.csv": "id,sepal_length\n"}, "a.csv: the header lacks sepal_width, petal_length, petal_width"),
        ({"a.csv": "sepal_length;sepal_width;petal_length;petal_width\n"}, "separated by semicolons"),
        ({"a.csv": ""}, "a.csv: the file is empty"),
        ({"a.txt": HEADER}, "give CSV (.csv) or Parquet (.parquet) files"),
    ],
)  # fmt: skip
def test_an_input_that_cannot_be_scored_is_refused_by_name(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(InputError, match=re.escape(message)):
        find_input(str(tmp_path if len(files) > 1 else tmp_path / next(iter(files))))


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = write(tmp_path / "excel.csv", "\ufeff" + HEADER, encoding="utf-16")
    with pytest.raises(InputError, match=r"excel\.csv: the file is UTF-16 text"):
        find_input(str(path))


def test_nothing_there(tmp_path):
    with pytest.raises(InputError, match="no such file, folder or glob match"):
        find_input(str(tmp_path / "missing-*.csv"))
