"""Score a file too big for one request on Spark (``iris-ml batch INPUT OUTPUT``).

INPUT is a CSV or Parquet file, a folder of them or a glob; OUTPUT a new folder of
Parquet (default) or CSV parts. Every input cell comes back exactly as read (as text),
then ``input_file``, ``input_row`` (the row's number in its file, from 1), ``species``,
the probabilities, ``model_version`` and ``problem``: why a row was not scored, by
column, in the words the server uses. No row is dropped or duplicated.

The champion (or ``--version``, ``--model-uri``) is resolved once, at the start: one
version scores every row. Each job is a run in MLflow's ``batch`` experiment. Spark
runs in this process (``local[*]``, the default) or on a cluster (``--master
spark://host:7077``); under ``spark-submit`` the same module takes its master.
"""

from __future__ import annotations

import argparse
import sys

from iris_ml.commands import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, command_parser
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("batch", __doc__)
    p.add_argument("input", help="a .csv or .parquet file, a folder of them, or a glob")
    p.add_argument("output", help="a new folder for the scored parts")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--master", help="Spark's master URL (default: spark-submit's, else local[*])")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--alias", default=DEFAULT_ALIAS)
    which.add_argument("--version", help="a registered version instead of the alias")
    which.add_argument("--model-uri", help="any MLflow model URI or folder instead")
    p.add_argument("--experiment", default="batch", help="MLflow experiment of the job's run")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument(
        "--split-mb", type=_positive_mb, dest="split_bytes", metavar="MB",
        help="split big files into pieces of MB megabytes, one task each (default: a task per"
        " two cores, in pieces of 32 to 128 MB, when there are fewer files; a CSV whose quoted"
        " cells run over a line end, or with a line of blanks, is read whole)",
    )  # fmt: skip
    return p


def _positive_mb(text: str) -> int:
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = 0.0
    if not megabytes > 0 or megabytes == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of megabytes, not {text!r}")
    return max(1, round(megabytes * (1 << 20)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from iris_ml.batch.files import BatchError, InputError
    from iris_ml.batch.job import BatchSettings, run_batch

    settings = BatchSettings(
        input=args.input, output=args.output, format=args.format, master=args.master,
        model_name=args.model_name, alias=args.alias, version=args.version,
        model_uri=args.model_uri, experiment=args.experiment, overwrite=args.overwrite,
        progress=sys.stderr.isatty(), split_bytes=args.split_bytes,
    )  # fmt: skip
    try:
        summary = run_batch(settings)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("stopped: the output folder may hold part of the result", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary.line())
    return EXIT_OK


if __name__ == "__main__":  # spark-submit iris_ml/cli/batch.py ...
    sys.exit(main())
