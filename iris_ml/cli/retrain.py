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

from iris_ml.cli import train
from iris_ml.commands import EXIT_DECIDED, EXIT_OK, EXIT_USAGE, command_parser
from iris_ml.monitoring import monitor
from iris_ml.registry import tags
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME
from iris_ml.training.settings import BUNDLED


def same_data_as_champion(params: list[str]) -> str | None:
    """Why not to train on the -P data given (the champion's own, or unreadable), or None."""
    from mlflow.tracking import MlflowClient

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
    trained_on = (champion.tags or {}).get(tags.DATASET_DIGEST_TAG)
    if trained_on is None and champion.run_id:  # versions registered before the version tag
        trained_on = MlflowClient().get_run(champion.run_id).data.tags.get(tags.DATASET_DIGEST_TAG)
    if trained_on != digest:
        return None
    what = "the bundled flowers" if data == BUNDLED else data
    return (
        f"{model_name}@{alias} (version {champion.version}) was trained on this very data "
        f"({what}, digest {digest}): another run would register the same model and the drift "
        "would stay. Point it at data that holds the new flowers: "
        "iris-ml retrain-if-drift --payloads DIR -P data=path/to/flowers.csv"
    )


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
