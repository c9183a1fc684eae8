"""Azure ML batch deployment script: each CSV of a mini-batch scored as ``iris-ml batch`` does.

Azure ML calls ``init()`` once per worker and ``run(mini_batch)`` with a list of input
file paths (deploy/azureml/batch-deployment.yml). ``init`` loads the registered MLflow
model, whose code folder carries iris_ml's contract and batch core; ``run`` reads each
CSV with score-client's rules (``iris_ml.batch.files.read_cells``), scores it with
``iris_ml.batch.scoring`` (the contract's parsing and messages, the version's own
probabilities) and writes ``<file stem>.parquet`` into the job's output folder: every
input cell as read, ``input_file``, ``input_row`` and the answers. This is Azure's
documented custom-output pattern (``output_action: summary_only``, the folder in
``AZUREML_BI_OUTPUT_PATH``; MicrosoftDocs, "Customize outputs in batch deployments").
A file that cannot be read raises: Azure retries it and counts it against
``error_threshold``; its rows are never half-written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

MODEL_VERSION_ENV = "IRIS_MODEL_VERSION"
OUTPUT_ENV = "AZUREML_BI_OUTPUT_PATH"

_log = logging.getLogger("iris.batch_score")
_state: dict[str, Any] = {}


def init() -> None:
    import mlflow.pyfunc
    from score import find_model_dir, version_from_path  # the online script, same folder

    root = Path(os.environ["AZUREML_MODEL_DIR"])
    version = os.environ.get(MODEL_VERSION_ENV) or version_from_path(root) or ""
    model_dir = find_model_dir(root)
    # Loading puts the model's code folder (iris_ml's contract and batch core) on sys.path.
    pyfunc = mlflow.pyfunc.load_model(str(model_dir), model_config={"model_version": version})
    from iris_ml.batch.model import batch_model

    _state["model"] = batch_model(model_dir, version, pyfunc)
    _state["output"] = Path(os.environ[OUTPUT_ENV])
    _log.info("loaded model version %s", version or "unknown")


def run(mini_batch: list[str]) -> list[str]:
    """Score each file into ``<stem>.parquet``; the files done, for Azure's summary."""
    return [score_file(Path(path), _state["model"], _state["output"]) for path in mini_batch]


def score_file(path: Path, model: Any, output: Path) -> str:
    import pandas as pd

    from iris_ml.batch.files import read_cells
    from iris_ml.batch.scoring import output_names, score_cells

    cells = read_cells(path)
    features = [[row[p] for row in cells.rows] for p in cells.positions]
    answers = score_cells(features, model, cells.unreadable)
    names = output_names(cells.header)
    width = len(cells.header)
    table = pd.DataFrame(cells.rows, columns=[f"_c{i}" for i in range(width)])
    table["_file"] = path.name
    table["_row"] = range(1, len(cells.rows) + 1)
    table = pd.concat([table, answers], axis=1)
    table.columns = names
    # Each worker writes its own files (Azure's warning: every worker shares this folder).
    target = output / f"{path.stem}.parquet"
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    table.to_parquet(staging, index=False)
    staging.replace(target)
    return str(path)
