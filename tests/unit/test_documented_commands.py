"""Every `make …`, `iris-ml …` and `score-client …` the README and docs show names a real
target, subcommand and flags, so a doc line cannot drift from the code unseen."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from iris_ml.cli.main import SUBCOMMANDS
from iris_ml.cli.main import main as iris_ml
from score_client.cli import main as score_client

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMANDS = ("make", "iris-ml", "score-client")
# Where a shell command ends inside a line of a doc.
END = re.compile(r"\s(?:\||&&|;|\d*>)|[`)]|$")
COMMENT = re.compile(r"(?:^|\s)#")
MAKE_TARGET = re.compile(r"^([a-z][a-z0-9-]*):", re.MULTILINE)
MAKE_VARIABLE = re.compile(r"^([A-Z][A-Z0-9_]*) *[?:]?=", re.MULTILINE)


def code_texts(page: Path) -> list[str]:
    """The lines of fenced blocks and every inline code span of one page."""
    texts, fenced = [], False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            texts.append(line)
        else:
            texts.extend(re.findall(r"`([^`]+)`", line))
    return texts


def documented(command: str) -> list[tuple[str, list[str]]]:
    """(page, argv after the command) for every use of ``command`` in the docs."""
    found = []
    pattern = re.compile(rf"(?:^|[\s(\"'=/])(?:\.venv/bin/)?{re.escape(command)}(?=\s|$)")
    for page in PAGES:
        for text in code_texts(page):
            text = COMMENT.split(text)[0]
            for match in pattern.finditer(text):
                rest = text[match.end() :]
                rest = rest[: END.search(rest).start()]  # type: ignore[union-attr]
                try:
                    argv = shlex.split(rest)
                except ValueError:
                    argv = rest.split()
                found.append((page.name, argv))
    return found


def flags(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("--") and len(a) > 2]


def help_text(run, argv: list[str], capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) if run is score_client else _nothing():
        run([*argv, "--help"])
    return capsys.readouterr().out


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_the_docs_show_each_command():
    for command in COMMANDS:
        assert documented(command), f"no `{command}` line found: the collector is blind"


def test_every_make_line_names_a_target_and_variables_the_makefile_has():
    makefile = (REPO / "Makefile").read_text()
    targets = set(MAKE_TARGET.findall(makefile))
    variables = set(MAKE_VARIABLE.findall(makefile)) | set(re.findall(r"\$\(([A-Z_]+)\)", makefile))
    wrong = []
    for page, argv in documented("make"):
        for word in argv:
            if "=" in word:
                name = word.split("=", 1)[0]
                if name not in variables:
                    wrong.append(f"{page}: make … {word} (no variable {name})")
            elif word.startswith("-"):
                continue
            elif word not in targets:
                wrong.append(f"{page}: make {word} (no such target)")
    assert not wrong, "\n".join(wrong)


def _iris_ml_help_argv(argv: list[str]) -> list[str]:
    """The subcommand (and champion's own subcommand) a documented line runs."""
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] == ["champion"] and len(words) > 1:
        return words[:2]
    return words[:1]


def test_every_iris_ml_line_names_a_subcommand_and_its_flags(capsys):
    wrong = []
    for page, argv in documented("iris-ml"):
        if not argv or argv[0].startswith("-") or argv[0].isupper():
            continue  # iris-ml --help, iris-ml COMMAND --help
        if argv[0] not in SUBCOMMANDS:
            wrong.append(f"{page}: iris-ml {argv[0]} (no such subcommand)")
            continue
        text = help_text(iris_ml, _iris_ml_help_argv(argv), capsys)
        wrong += [f"{page}: iris-ml {argv[0]} {f}" for f in flags(argv) if f not in text]
    assert not wrong, "\n".join(wrong)


def test_every_score_client_line_names_its_subcommand_and_flags(capsys):
    top = help_text(score_client, [], capsys)
    wrong = []
    for page, argv in documented("score-client"):
        words = [a for a in argv if not a.startswith("-") and "=" not in a]
        sub = next((w for w in words if re.search(rf"\b{re.escape(w)}\b", top)), None)
        text = top + (help_text(score_client, [sub], capsys) if sub else "")
        wrong += [f"{page}: score-client … {f}" for f in flags(argv) if f not in text]
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_a_wrong_line(capsys, tmp_path, monkeypatch):
    page = tmp_path / "bad.md"
    page.write_text(
        "`make serv PORT=1`, `make test NOSUCH=1`, `iris-ml serve --no-such-flag`, `iris-ml srve`\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PAGES", [page])
    with pytest.raises(AssertionError) as make_errors:
        test_every_make_line_names_a_target_and_variables_the_makefile_has()
    assert "make serv (no such target)" in str(make_errors.value)
    assert "no variable NOSUCH" in str(make_errors.value)
    with pytest.raises(AssertionError) as cli_errors:
        test_every_iris_ml_line_names_a_subcommand_and_its_flags(capsys)
    assert "iris-ml serve --no-such-flag" in str(cli_errors.value)
    assert "iris-ml srve (no such subcommand)" in str(cli_errors.value)
