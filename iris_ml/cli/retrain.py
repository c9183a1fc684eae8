"""Monitor, then train a candidate only when drift was found (``iris-ml retrain-if-drift``).

Every option but ``-P`` goes to ``iris-ml monitor`` (``--payloads`` at least); ``-P``
goes to ``iris-ml train``. The gate decides whether the candidate becomes champion.
Exit status: monitor's when there is nothing to train (0 no drift), else train's.
"""

from __future__ import annotations

from iris_ml.cli import train
from iris_ml.commands import EXIT_DECIDED, EXIT_OK, command_parser
from iris_ml.monitoring import monitor


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
    print("Drift found: training a candidate (the gate decides)", flush=True)
    return train.main([arg for param in args.params for arg in ("-P", param)])
