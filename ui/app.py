"""The Gradio page: one flower or a CSV of flowers, scored through score_client.

``build_app(client)`` builds the page; the handlers are plain functions of
their inputs and the client, so they are tested without a browser. The page
knows nothing of MLflow or the model: any endpoint score_client can reach works.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from iris_ml.contract import (
    FEATURE_NAMES,
    FEATURES,
    MAX_ROWS_PER_REQUEST,
    SPECIES,
    TEXTBOOK_FLOWERS,
    describe_value_problem,
)
from score_client import (
    ScoredTable,
    ScoringClient,
    ScoringError,
    TableError,
    describe_error,
    score_csv,
    to_csv_text,
)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_ROWS = MAX_ROWS_PER_REQUEST
# One textbook flower per species (Fisher's rows 1, 51, 101), clickable on the page.
EXAMPLES = [list(values) for values, _ in TEXTBOOK_FLOWERS]  # one flower of each species


# Fisher's 150 flowers, the grey backdrop of the batch picture.
def user_error(message: str) -> gr.Error:
    """A message for the person at the page; the terminal gets no traceback of it."""
    return gr.Error(message, print_exception=False)


FISHER_CSV = Path(__file__).with_name("fisher_iris.csv")
BACKDROP = "Fisher's flowers"
SPECIES_COLOURS = {
    BACKDROP: "#c8c8c8",
    "setosa": "#1f77b4",
    "versicolor": "#ff7f0e",
    "virginica": "#2ca02c",
}
NOT_SCORED = "not scored"
VIEW_ROWS = 1_000  # rows the page's table shows; the summary and the download cover all
PICTURE_AXES = ("petal_length", "petal_width")
_BAD_ROW_STYLE = "background-color: #fde2e1"


@dataclass(frozen=True)
class SingleResult:
    label: dict[str, float] | None
    detail: str
    problem: str  # why the typed values were refused; empty when they were scored


def predict_one(client: ScoringClient, *values: float | None) -> SingleResult:
    """Score one flower exactly as typed, or say why not (no prediction then).

    Endpoint failures raise gr.Error with a message a person can act on.
    """
    problems = input_problems(values)
    if problems:
        return SingleResult(None, "", "**Not scored.** " + " ".join(problems))
    row = dict(zip(FEATURE_NAMES, values, strict=True))
    try:
        [prediction] = client.predict([row])
    except ScoringError as exc:
        raise user_error(describe_error(exc)) from None
    version = prediction.model_version or "unknown"
    detail = (
        f"**{prediction.species}** with probability {prediction.confidence:.1%} "
        f"(model version {version})"
    )
    return SingleResult(dict(prediction.probabilities), detail, "")


def input_problems(values: Sequence[object]) -> list[str]:
    """One sentence per typed value the contract refuses, naming the field."""
    problems = []
    for feature, value in zip(FEATURES, values, strict=True):
        if value is None:
            problems.append(f"{feature.label}: enter a value.")
        elif problem := describe_value_problem(feature.name, value):
            problems.append(f"{feature.label}: {problem}.")
    return problems


def score_file(
    client: ScoringClient, path: str | None, out_dir: Path
) -> tuple[ScoredTable, Path, str]:
    """Score an uploaded CSV: good rows scored, bad rows reported by CSV line, result written.

    The download is the scored table with formula cells neutralised for spreadsheets.
    """
    if not path:
        raise user_error("Upload a CSV file first.")
    size = os.path.getsize(path)
    if size > MAX_UPLOAD_BYTES:
        raise user_error(
            f"The file is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB."
        )
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            table = score_csv(client, stream, max_rows=MAX_UPLOAD_ROWS)
    except TableError as exc:
        raise user_error(f"Cannot read the CSV: {exc}.") from None
    except ScoringError as exc:
        raise user_error(describe_error(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="iris-scored-", suffix=".csv", dir=out_dir)
    with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
        out.write(to_csv_text(table, spreadsheet_safe=True))
    return table, Path(name), summarize(table)


def summarize(table: ScoredTable) -> str:
    counts = Counter(table.value(r, "species") for r in range(len(table.cells)))
    text = f"Scored {table.scored} of {len(table.cells)} row(s)."
    if len(table.cells) > VIEW_ROWS:
        text += f" The table shows the first {VIEW_ROWS:,}; the download has every row."
    if table.scored:
        text += " " + ", ".join(f"{s}: {counts[s]}" for s in SPECIES) + "."
    by_line = {e.row: e.line for e in table.errors}
    if by_line:
        shown = [
            f"line {line}: {table.value(r, 'error')}" for r, line in list(by_line.items())[:10]
        ]
        more = f"\n- ... and {len(by_line) - 10} more" if len(by_line) > 10 else ""
        text += f" {len(by_line)} row(s) not scored:\n- " + "\n- ".join(shown) + more
    return text


def batch_view(table: ScoredTable) -> Any:
    """The table for the page: species, its probability and the problem first, then the input.

    Probabilities read as percentages (the download keeps every digit); rows that were
    not scored are shaded. The first VIEW_ROWS rows only: a page cannot show 50,000
    readable rows (and pandas stops styling past 262,144 cells); the download has all.
    """
    import pandas as pd

    columns = ["species", "probability", "problem", *table.input_columns]
    rows = [_view_row(table, r) for r in range(min(len(table.cells), VIEW_ROWS))]
    frame = pd.DataFrame(rows, columns=pd.Index(columns, dtype=object), dtype=object)
    return frame.style.apply(lambda row: [_BAD_ROW_STYLE if row.iloc[2] else ""] * len(row), axis=1)


def _view_row(table: ScoredTable, r: int) -> list[object]:
    species = table.value(r, "species")
    if not species:
        return [
            NOT_SCORED,
            "",
            table.value(r, "error"),
            *table.cells[r][: len(table.input_columns)],
        ]
    probability = float(table.value(r, f"proba_{species}"))  # type: ignore[arg-type]
    return [str(species), percent(probability), "", *table.cells[r][: len(table.input_columns)]]


def percent(probability: float) -> str:
    """97.3%; never a bare 0% or 100% for a value that is not exactly that."""
    if 0 < probability < 0.001:
        return "<0.1%"
    if 0.999 < probability < 1:
        return ">99.9%"
    return f"{probability:.1%}"


def batch_picture(table: ScoredTable) -> Any:
    """Scored flowers on petal length x width by predicted species, over Fisher's in grey."""
    import pandas as pd

    length, width = (table.feature_columns[FEATURE_NAMES.index(n)] for n in PICTURE_AXES)
    scored = [
        [float(cells[length]), float(cells[width]), table.value(r, "species")]  # type: ignore[arg-type]
        for r, cells in enumerate(table.cells)
        if table.value(r, "species")
    ]
    return pd.concat(
        [_fisher_backdrop(), pd.DataFrame(scored, columns=[*PICTURE_AXES, "species"])],
        ignore_index=True,
    )


@functools.cache
def _fisher_backdrop() -> Any:
    """Fisher's flowers on the picture's axes, read once (concat copies, never mutates it)."""
    import pandas as pd

    fisher = pd.read_csv(FISHER_CSV, usecols=list(PICTURE_AXES))
    fisher["species"] = BACKDROP
    return fisher


def status_text(client: ScoringClient) -> str:
    health = client.health()
    if health.ok:
        version = health.model_version or "unknown (the server does not report it)"
        return (
            f"Endpoint `{health.url}` ({health.backend}) is **up**: model version {version}, "
            f"answered in {health.latency_ms:.0f} ms."
        )
    return f"Endpoint `{health.url}` ({health.backend}) is **down**: {health.error}"


def build_app(client: ScoringClient, out_dir: Path | None = None) -> gr.Blocks:
    """The page, wired to ``client``. Launch it with ``launch()`` (see ``ui.cli.main``)."""
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="iris-ui-"))

    def on_predict(*values: float | None) -> tuple[Any, str, str]:
        result = predict_one(client, *values)
        return result.label, result.detail, result.problem

    def on_upload(path: str | None) -> tuple[Any, Any, str | None, str]:
        table, written, summary = score_file(client, path, out_dir)
        return batch_view(table), batch_picture(table), str(written), summary

    def on_status() -> str:
        return status_text(client)

    with gr.Blocks(title="Iris species classifier") as app:
        gr.Markdown(
            "# Iris species classifier\nMeasure a flower in centimetres; the model names its species."
        )
        status = gr.Markdown("Checking the endpoint...", elem_id="status")
        refresh = gr.Button("Check endpoint", size="sm")
        with gr.Tab("One flower"):
            flower = _one_flower_tab()
        with gr.Tab("CSV of flowers"):
            batch = _csv_tab()
        flower.predict.click(
            on_predict,
            inputs=flower.inputs,
            outputs=[flower.label, flower.detail, flower.problem],
            api_name="predict",
        )
        batch.upload.upload(
            on_upload,
            inputs=batch.upload,
            outputs=[batch.scored, batch.picture, batch.download, batch.summary],
            api_name="score_csv",
        )
        refresh.click(on_status, outputs=status, api_name="status")
        app.load(on_status, outputs=status)
    return app


@dataclass(frozen=True)
class _FlowerTab:
    inputs: list[Any]
    problem: Any
    predict: Any
    label: Any
    detail: Any


def _one_flower_tab() -> _FlowerTab:
    with gr.Row():
        # Number boxes, not sliders: a slider's box snaps a typed value into its
        # range, and the page would then score a flower nobody entered.
        inputs = [
            gr.Number(
                value=round(sum(f.typical) / 2, 1),
                step=0.1,
                label=f"{f.label} (cm)",
                info=f"Fisher's flowers: {f.typical[0]}-{f.typical[1]} cm; "
                f"accepted: above 0, at most {f.maximum:g}",
                elem_id=f.name,
            )
            for f in FEATURES
        ]
    tab = _FlowerTab(
        inputs=inputs,
        problem=gr.Markdown(elem_id="input-problem"),
        predict=gr.Button("Predict", variant="primary", elem_id="predict"),
        label=gr.Label(num_top_classes=len(SPECIES), label="Species", elem_id="label"),
        detail=gr.Markdown(elem_id="detail"),
    )
    gr.Examples(
        examples=EXAMPLES,
        inputs=inputs,
        label="Textbook flowers (setosa, versicolor, virginica)",
    )
    return tab


@dataclass(frozen=True)
class _CsvTab:
    upload: Any
    summary: Any
    scored: Any
    picture: Any
    download: Any


def _csv_tab() -> _CsvTab:
    gr.Markdown(
        "Upload a CSV (UTF-8, as Excel's *CSV UTF-8* saves it) with a header naming "
        + ", ".join(f"`{n}`" for n in FEATURE_NAMES)
        + f" (any order, extra columns kept as they are; at most {MAX_UPLOAD_ROWS} rows). "
        "Rows with problems are reported by line; the others are scored."
    )
    return _CsvTab(
        upload=gr.File(label="CSV file", file_types=[".csv"], elem_id="upload"),
        summary=gr.Markdown(elem_id="summary"),
        scored=gr.Dataframe(label="Scored rows", interactive=False, wrap=True, elem_id="scored"),
        picture=gr.ScatterPlot(
            x=PICTURE_AXES[0],
            y=PICTURE_AXES[1],
            color="species",
            color_map=SPECIES_COLOURS,
            x_title="Petal length (cm)",
            y_title="Petal width (cm)",
            label="Your flowers by predicted species, over Fisher's 150 in grey",
            elem_id="picture",
        ),
        download=gr.File(
            label="Download the scored CSV (every probability digit; cells that start "
            "with = + - @ get a leading ' so spreadsheets do not run them as formulas)",
            interactive=False,
            elem_id="download",
        ),
    )
