"""The Gradio page: one flower or a CSV of flowers, scored through score_client.

``build_app(client)`` builds the page; the handlers are plain functions of
their inputs and the client, so they are tested without a browser. The page
knows nothing of MLflow or the model: any endpoint score_client can reach works.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from iris_ml.contract import FEATURE_NAMES, FEATURES, MAX_ROWS_PER_REQUEST, SPECIES
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
EXAMPLES = [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]]


@dataclass(frozen=True)
class SingleResult:
    label: dict[str, float]
    detail: str


def predict_one(client: ScoringClient, *values: float | None) -> SingleResult:
    """Score one flower; raises gr.Error with a message a person can act on."""
    row = dict(zip(FEATURE_NAMES, values, strict=True))
    missing = [f.label for f in FEATURES if row[f.name] is None]
    if missing:
        raise gr.Error(f"Enter a value for: {', '.join(missing)}.")
    try:
        [prediction] = client.predict([row])
    except ScoringError as exc:
        raise gr.Error(describe_error(exc)) from None
    version = prediction.model_version or "unknown"
    detail = (
        f"**{prediction.species}** with probability {prediction.confidence:.1%} "
        f"(model version {version})"
    )
    return SingleResult(dict(prediction.probabilities), detail)


def score_file(
    client: ScoringClient, path: str | None, out_dir: Path
) -> tuple[ScoredTable, Path, str]:
    """Score an uploaded CSV: good rows scored, bad rows reported by CSV line, result written."""
    if not path:
        raise gr.Error("Upload a CSV file first.")
    size = os.path.getsize(path)
    if size > MAX_UPLOAD_BYTES:
        raise gr.Error(
            f"The file is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB."
        )
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            table = score_csv(client, stream, max_rows=MAX_UPLOAD_ROWS)
    except UnicodeDecodeError:
        raise gr.Error(
            "The file is not UTF-8 text. Save it as CSV (UTF-8) and try again."
        ) from None
    except TableError as exc:
        raise gr.Error(f"Cannot read the CSV: {exc}") from None
    except ScoringError as exc:
        raise gr.Error(describe_error(exc)) from None
    if not table.cells:
        raise gr.Error("The CSV has a header but no rows.")
    out_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="iris-scored-", suffix=".csv", dir=out_dir)
    with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
        out.write(to_csv_text(table))
    return table, Path(name), summarize(table)


def summarize(table: ScoredTable) -> str:
    bad_rows = sorted({e.row for e in table.errors})
    text = f"Scored {table.scored} of {len(table.cells)} row(s)."
    if bad_rows:
        # CSV line numbers: the header is line 1, so data row i is line i + 2.
        shown = [f"line {r + 2}: {table.value(r, 'error')}" for r in bad_rows[:10]]
        more = f"\n- ... and {len(bad_rows) - 10} more" if len(bad_rows) > 10 else ""
        text += f" {len(bad_rows)} row(s) not scored:\n- " + "\n- ".join(shown) + more
    return text


def status_text(client: ScoringClient) -> str:
    health = client.health()
    if health.ok:
        version = health.model_version or "unknown (the server does not report it)"
        return (
            f"Endpoint `{health.url}` ({health.backend}) is **up**: model version {version}, "
            f"answered in {health.latency_ms:.0f} ms."
        )
    return f"Endpoint `{health.url}` ({health.backend}) is **down**: {health.error}"


def _display(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def build_app(client: ScoringClient, out_dir: Path | None = None) -> gr.Blocks:
    """The page, wired to ``client``. Launch it with ``launch()`` (see ``ui.main``)."""
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="iris-ui-"))

    def on_predict(*values: float | None) -> tuple[dict[str, float], str]:
        result = predict_one(client, *values)
        return result.label, result.detail

    def on_upload(path: str | None) -> tuple[Any, str | None, str]:
        table, written, summary = score_file(client, path, out_dir)
        # The page shows 4 decimals; the downloaded CSV keeps full precision.
        frame = [[_display(value) for value in row.values()] for row in table.rows]
        return gr.update(value=frame, headers=table.columns), str(written), summary

    def on_status() -> str:
        return status_text(client)

    with gr.Blocks(title="Iris species classifier") as app:
        gr.Markdown(
            "# Iris species classifier\nMeasure a flower in centimetres; the model names its species."
        )
        status = gr.Markdown("Checking the endpoint...", elem_id="status")
        refresh = gr.Button("Check endpoint", size="sm")
        with gr.Tab("One flower"):
            with gr.Row():
                inputs = [
                    gr.Slider(
                        minimum=0.1,
                        maximum=round(f.typical[1] * 1.5, 1),
                        value=round(sum(f.typical) / 2, 1),
                        step=0.1,
                        label=f"{f.label} (cm)",
                        info=f"Fisher's flowers: {f.typical[0]}-{f.typical[1]} cm",
                        elem_id=f.name,
                    )
                    for f in FEATURES
                ]
            predict = gr.Button("Predict", variant="primary", elem_id="predict")
            label = gr.Label(num_top_classes=len(SPECIES), label="Species", elem_id="label")
            detail = gr.Markdown(elem_id="detail")
            gr.Examples(
                examples=EXAMPLES,
                inputs=inputs,
                label="Textbook flowers (setosa, versicolor, virginica)",
            )
        with gr.Tab("CSV of flowers"):
            gr.Markdown(
                "Upload a CSV with a header naming "
                + ", ".join(f"`{n}`" for n in FEATURE_NAMES)
                + f" (any order, extra columns kept; at most {MAX_UPLOAD_ROWS} rows). "
                "Rows with problems are reported by line; the others are scored."
            )
            upload = gr.File(label="CSV file", file_types=[".csv"], elem_id="upload")
            summary = gr.Markdown(elem_id="summary")
            scored = gr.Dataframe(label="Scored rows", interactive=False, elem_id="scored")
            download = gr.File(
                label="Download the scored CSV", interactive=False, elem_id="download"
            )

        predict.click(on_predict, inputs=inputs, outputs=[label, detail], api_name="predict")
        upload.upload(
            on_upload, inputs=upload, outputs=[scored, download, summary], api_name="score_csv"
        )
        refresh.click(on_status, outputs=status, api_name="status")
        app.load(on_status, outputs=status)
    return app
