"""Monitor, then train a candidate only when drift was found (``iris-ml retrain-if-drift``).

Every option but ``-P`` goes to ``iris-ml monitor`` (``--payloads`` at least); ``-P``
goes to ``iris-ml train``. The gate decides whether the candidate becomes champion.
Data the champion was trained on already (``-P data=...``, or the bundled flowers) is
refused: the same data gives the same model, another version, and drift that stays.
Exit status: monitor's when there is nothing to train (0 no drift), 2 for the champion's
own data, else train's.
"""

from __future__ import annotations

import sys
from typing import Any

from iris_ml.cli import train
from iris_ml.commands import EXIT_DECIDED, EXIT_OK, EXIT_USAGE, command_parser
from iris_ml.monitoring import monitor
from iris_ml.registry import tags
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME
from iris_ml.training.settings import BUNDLED


def same_data_as_champion(params: list[str]) -> str | None:
    """Why not to train on the -P data given (the champion's own, or unreadable), or None."""
    from iris_ml.registry.versions import aliased_version
    from iris_ml.training.data import TrainingDataError, data_digest, load_dataset

    given = dict(param.split("=", 1) for param in params if "=" in param)
    data = given.get("data", BUNDLED)
    model_name = given.get("model_name", DEFAULT_MODEL_NAME)
    alias = given.get("alias", DEFAULT_ALIAS)
    try:
        digest = data_digest(load_dataset(data))
    except TrainingDataError as exc:
        return str(exc)
    champion = aliased_version(model_name, alias)
    if champion is None:
        return None
    if trained_on_digest(champion) != digest:
        return None
    what = "the bundled flowers" if data == BUNDLED else data
    return (
        f"{model_name}@{alias} (version {champion.version}) was trained on this very data "
        f"({what}, digest {digest}): another run would register the same model and the drift "
        "would stay. Point it at data that holds the new flowers: "
        "iris-ml retrain-if-drift --payloads DIR -P data=path/to/flowers.csv"
    )


def trained_on_digest(version: Any) -> str | None:
    """The digest of the data a registered version was trained on, wherever it was kept.

    The version's tag; for versions registered before it, the run's tag; for runs before
    that, the dataset the run logged as its training input (MLflow's own digest).
    """
    from mlflow.tracking import MlflowClient

    if found := (version.tags or {}).get(tags.DATASET_DIGEST_TAG):
        return str(found)
    if not version.run_id:
        return None
    run = MlflowClient().get_run(version.run_id)
    if found := run.data.tags.get(tags.DATASET_DIGEST_TAG):
        return str(found)
    inputs = run.inputs.dataset_inputs if run.inputs else []
    training = [i.dataset.digest for i in inputs if _context(i) == "training"]
    return training[0] if training else None


def _context(dataset_input: Any) -> str | None:
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    return next((t.value for t in dataset_input.tags if t.key == MLFLOW_DATASET_CONTEXT), None)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("retrain-if-drift", __doc__)
    parser.add_argument(
        "-P", dest="params", action="append", default=[], metavar="NAME=VALUE",
        help="an MLproject parameter for the training run (repeatable)",
    )  # fmt: skip
    args, monitor_args = parser.parse_known_args(argv)
    status = monitor.main(monitor_args)
    if status == EXIT_OK:
        print("No drift: nothing to train")
        return EXIT_OK
    if status != EXIT_DECIDED:
        return status
    if refused := same_data_as_champion(args.params):
        print(f"Drift found, but not retraining: {refused}", file=sys.stderr)
        return EXIT_USAGE
    print("Drift found: training a candidate (the gate decides)", flush=True)
    return train.main([arg for param in args.params for arg in ("-P", param)])
