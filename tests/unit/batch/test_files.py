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


HEAD = "sepal_length,sepal_width,petal_length,petal_width,id\r\n"


@pytest.mark.parametrize(
    ("body", "one_line"),
    [
        ("5.1,3.5,1.4,0.2,00123\r\n", True),
        ('"5.1","3.5","1.4","0.2","a, ""quoted"" id"\r\n', True),  # R's write.csv quotes all
        ('5.1,3.5,1.4,0.2,"two\nlines"\r\n', False),  # a cell over a line end: read whole
        ('5.1,3.5,1.4,0.2,"carriage\rreturn"\n', False),  # Spark's lines end at a lone CR too
        ('5.1,3.5,1.4,0.2,5"\n', False),  # a stray quote: not sure, so read whole
        ("5.1,3.5,1.4,0.2,x\r\n\r\n\n", True),  # empty lines: skipped by both readers
        ("5.1,3.5,1.4,0.2,x\r\n   \r\n", False),  # a record to csv, dropped by Spark's lines
        ("5.1,3.5,1.4,0.2,x\n\t\n", False),
    ],
)
def test_a_csv_is_splittable_only_when_every_record_is_one_line(tmp_path, body, one_line):
    (tmp_path / "in.csv").write_bytes((HEAD + body * 3).encode())
    assert find_input(str(tmp_path / "in.csv")).splittable is one_line


def test_a_cell_over_a_line_end_is_found_across_read_blocks(tmp_path):
    from iris_ml.batch import files

    # The last row opens its quote 3 bytes before the first block ends: its line end is in the next.
    pad = files._BLOCK - len(HEAD) - len('5.1,3.5,1.4,0.2,"') - 2
    filler = "5.1,3.5,1.4,0.2," + "x" * (pad - len("5.1,3.5,1.4,0.2,\n")) + "\n"
    for cell, one_line in (('"over\nthe end"', False), ('"on one line, past the end"', True)):
        (tmp_path / "in.csv").write_text(HEAD + filler + f"5.1,3.5,1.4,0.2,{cell}\n")
        assert (tmp_path / "in.csv").stat().st_size > files._BLOCK
        assert find_input(str(tmp_path / "in.csv")).splittable is one_line


def test_the_digest_covers_every_file_name_and_byte_in_order(tmp_path):
    import hashlib

    for name, body in (("a.csv", "5.1,3.5,1.4,0.2,x\n"), ("b.csv", "6.1,3.5,1.4,0.2,y\n")):
        (tmp_path / name).write_text(HEAD + body)
    expected = hashlib.sha256()
    for name in ("a.csv", "b.csv"):
        expected.update(name.encode() + b"\0" + (tmp_path / name).read_bytes())
    assert find_input(str(tmp_path)).digest == expected.hexdigest()
