"""docs/architecture.md's diagram is the one the code's imports draw (``make diagram``)."""

from tools import package_diagram


def test_the_page_shows_the_diagram_the_code_draws():
    assert package_diagram.main(["--check"]) == 0, "docs/architecture.md is stale: make diagram"


def test_a_stale_diagram_is_seen():
    page = package_diagram.PAGE.read_text()
    stale = page.replace("serving --> registry", "serving --> training")
    assert stale != page
    assert package_diagram.with_diagram(stale) == page  # redrawn, the stale arrow is gone


def test_the_diagram_keeps_the_rules():
    arrows = package_diagram.edges()
    assert ("iris_ml.serving", "iris_ml.training") not in arrows
    assert ("iris_ml.registry", "iris_ml.serving") not in arrows
    assert not [
        a
        for a in arrows
        if a[0] in ("score_client", "iris_ml_ui")
        and a[1] not in ("iris_ml.contract", "score_client")
    ]
