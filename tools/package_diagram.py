"""The package diagram of docs/architecture.md, drawn from the code's imports (``make diagram``).

Each stage package of ``iris_ml`` is one box, each root module one box, and score_client,
the UI and deploy one box each; an arrow is "imports". ``--check`` exits 1 when the page's
diagram is not the one the code draws (the tests run it, so the page cannot drift).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grimp

PACKAGES = ("iris_ml", "score_client", "iris_ml_ui", "iris_ml_deploy")
PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
START, END = "<!-- diagram: made by make diagram -->", "<!-- diagram end -->"
LABELS = {"iris_ml_ui": "ui", "iris_ml_deploy": "deploy"}


def box(module: str) -> str:
    """The box a module belongs to: iris_ml.<stage or root module>, or its top package."""
    parts = module.split(".")
    if parts[0] != "iris_ml":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else "iris_ml"


def edges() -> set[tuple[str, str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    found = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = box(module), box(imported)
            if a != b and "iris_ml" not in (a, b):
                found.add((a, b))
    return found


def mermaid() -> str:
    def name(node: str) -> str:
        return LABELS.get(node, node.removeprefix("iris_ml."))

    lines = ["```mermaid", "graph TD"]
    lines += [f"  {name(a)} --> {name(b)}" for a, b in sorted(edges())]
    lines.append("```")
    return "\n".join(lines)


def with_diagram(page: str) -> str:
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{mermaid()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package_diagram", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    page = PAGE.read_text()
    drawn = with_diagram(page)
    if args.check:
        if drawn != page:
            print(f"{PAGE.name} is stale: run make diagram", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(drawn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
