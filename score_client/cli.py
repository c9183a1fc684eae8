"""``score-client``: predictions and health checks from the command line.

Exit status: 0 success; 2 usage error; 3 bad input (nothing or not all sent);
4 the server rejected the request (4xx); 5 the endpoint is unreachable or timed
out; 6 the server failed (5xx) or answered something unexpected.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from iris_ml.contract import FEATURE_NAMES, FEATURES
from score_client._client import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ScoringClient,
    describe_error,
)
from score_client._exceptions import (
    APIConnectionError,
    APIStatusError,
    CredentialError,
    InvalidInputError,
    ScoringError,
    TableError,
)
from score_client._tables import (
    CsvWriter,
    RowSink,
    ScoredTable,
    score_csv,
    score_records,
    write_csv,
)

EXIT_OK, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_SERVER = 0, 2, 3, 4, 5, 6


def exit_code_for(exc: ScoringError) -> int:
    if isinstance(exc, InvalidInputError):
        return EXIT_BAD_INPUT
    if isinstance(exc, APIConnectionError):
        return EXIT_UNREACHABLE
    if isinstance(exc, APIStatusError) and 400 <= exc.status_code < 500:
        return EXIT_REJECTED
    return EXIT_SERVER


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="score-client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", help="endpoint URL (default: $SCORING_URI)")
    p.add_argument(
        "--key",
        help="API key (default: $SCORING_KEY; prefer the variable: flags are visible in ps)",
    )
    p.add_argument("--deployment", help="Azure ML deployment to target (azureml-model-deployment)")
    p.add_argument(
        "--backend", choices=["mlflow", "azureml"], help="default: detected from the URL"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request")
    p.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_MAX_RETRIES,
        help="retries of 408/429/5xx/connection errors",
    )
    sub = p.add_subparsers(dest="command", required=True)

    predict = sub.add_parser("predict", help="score flowers from flags, a JSON file or a CSV")
    for feature in FEATURES:
        predict.add_argument(
            f"--{feature.name.replace('_', '-')}", type=float, metavar="CM", help=feature.label
        )
    predict.add_argument("--json", metavar="FILE", help="a JSON list of row objects ('-' = stdin)")
    predict.add_argument("--csv", metavar="FILE", help="a CSV with a header ('-' = stdin)")
    predict.add_argument("--out", metavar="FILE", default="-", help="where to write ('-' = stdout)")
    predict.add_argument(
        "--format", choices=["table", "json", "csv"], help="default: csv for --csv, else table"
    )
    predict.add_argument(
        "--skip-invalid",
        action="store_true",
        help="score the valid rows, report the rest in an 'error' column",
    )
    predict.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="rows per request"
    )
    predict.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="requests in flight"
    )

    sub.add_parser("health", help="is the endpoint up, and which model version answers?")
    return p


def _open_in(path: str) -> TextIO:
    # newline="": the csv module reads line breaks itself, so quoted ones stay as written.
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
    return open(path, newline="", encoding="utf-8")


def _score_input(
    client: ScoringClient, args: argparse.Namespace, on_rows: RowSink | None
) -> ScoredTable:
    flags = {name: getattr(args, name) for name in FEATURE_NAMES}
    sources = [bool(args.json), bool(args.csv), any(v is not None for v in flags.values())]
    if sum(sources) != 1:
        raise TableError("give exactly one input: the four measurement flags, --json or --csv")
    if args.csv:
        with _open_in(args.csv) as stream:
            return score_csv(
                client,
                stream,
                stop_at_first_error=not args.skip_invalid,
                on_progress=_Progress(sys.stderr, stream),
                on_rows=on_rows,
            )
    records: list[object] = [flags]
    if args.json:
        with _open_in(args.json) as stream:
            try:
                data = json.load(stream)
            except ValueError as exc:
                raise TableError(f"not valid JSON: {exc}") from None
        records = data if isinstance(data, list) else [data]
    return score_records(
        client,
        record_columns(records),
        records,
        stop_at_first_error=not args.skip_invalid,
        on_progress=_Progress(sys.stderr),
        on_rows=on_rows,
    )


def record_columns(records: list[object]) -> list[str]:
    """Every key of the row objects, in order of first appearance (the features first if absent):
    keys beside the features (an id) come back with the answers."""
    columns = dict.fromkeys(k for r in records if isinstance(r, dict) for k in r)
    return list(columns) or list(FEATURE_NAMES)


class _Progress:
    """Rows scored, rows per second and, for a file, the time left; on stderr, only on a TTY.

    A CSV is scored while it is read, so the time left comes from how far into the
    file the reader is (its size is known), not from a row count known only at the end.
    """

    def __init__(self, stream: TextIO, source: TextIO | None = None) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self._source = source
        self._size = _file_size(source) if self._enabled and source is not None else None
        self._started = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        if not self._enabled:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        text = f"{done:,} rows scored, {done / elapsed:,.0f} rows/s"
        if total is not None:
            text += f", done in {elapsed:.1f} s\n"
        elif self._size and (fraction := self._read_fraction()):
            text += f", {fraction:.0%} read, about {elapsed * (1 - fraction) / fraction:.0f} s left"
        self._stream.write("\r\x1b[K" + text)  # \x1b[K clears the rest of the line
        self._stream.flush()

    def _read_fraction(self) -> float | None:
        try:
            position = self._source.buffer.tell()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            return None
        return min(position / self._size, 1.0) if self._size else None


def _file_size(source: TextIO) -> int | None:
    try:
        status = os.fstat(source.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _write_table(out: TextIO, table: ScoredTable, with_errors: bool, fmt: str) -> None:
    if fmt == "csv":
        write_csv(out, table, with_errors=with_errors)
        return
    columns = table.columns if with_errors else table.columns[:-1]  # "error" is last
    if fmt == "json":
        json.dump([{c: r[c] for c in columns} for r in table.rows], out, indent=2)
        out.write("\n")
        return
    # Input cells as read; only the probabilities are rounded for the eye.
    probabilities = range(*table.probability_columns.indices(len(table.columns)))
    cells = [
        [_rounded(v) if i in probabilities else _text(v) for i, v in enumerate(row[: len(columns)])]
        for row in table.cells
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    for row in [list(columns), *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


@contextlib.contextmanager
def _output(path: str) -> Iterator[TextIO]:
    """stdout, or a file that appears only complete: written beside it, then renamed.

    Anything but a regular file (a FIFO, /dev/stdout) is written in place: renaming
    onto it would replace the device node, not write to it.
    """
    if path == "-":
        yield sys.stdout
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        with target.open("w", newline="", encoding="utf-8") as out:
            yield out
        return
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:  # named after the file asked for, not our temporary one
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def _rounded(probability: object) -> str:
    return "" if probability == "" else f"{float(probability):.4f}"  # type: ignore[arg-type]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _predict(client: ScoringClient, args: argparse.Namespace) -> int:
    # A one-shot process building one large acyclic table: the cyclic collector would only
    # walk it again and again (a quarter of the CPU time on 100,000 rows). Exit frees all.
    gc.disable()
    fmt = args.format or ("csv" if args.csv else "table")
    with _output(args.out) as out:
        # CSV rows are written as they are scored, unless a refused input could leave
        # half a table on stdout (a file appears only once complete).
        streamed = fmt == "csv" and (args.skip_invalid or out is not sys.stdout)
        sink = CsvWriter(out, with_errors=args.skip_invalid) if streamed else None
        table = _score_input(client, args, sink)
        if table.errors and not args.skip_invalid:
            raise InvalidInputError(table.errors)
        if not streamed:
            _write_table(out, table, args.skip_invalid, fmt)
    if table.errors:
        print(
            f"{len(table.errors)} problem(s) in {len(table.cells) - table.scored} row(s); see the 'error' column",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        client = ScoringClient(
            args.url,
            api_key=args.key,
            deployment=args.deployment,
            backend=args.backend,
            timeout=args.timeout,
            max_retries=args.retries,
            chunk_size=getattr(args, "chunk_size", DEFAULT_CHUNK_SIZE),
            concurrency=getattr(args, "concurrency", DEFAULT_CONCURRENCY),
        )
    except (ValueError, CredentialError) as exc:  # a bad setting, or no way to get a token
        print(f"score-client: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with client:
        try:
            if args.command == "health":
                health = client.health()
                if health.ok:
                    version = health.model_version or "unknown (server does not report it)"
                    print(
                        f"UP  {health.url} ({health.backend}) model version {version}, {health.latency_ms:.1f} ms"
                    )
                    return EXIT_OK
                print(f"DOWN  {health.url} ({health.backend}): {health.error}")
                return EXIT_UNREACHABLE
            return _predict(client, args)
        except TableError as exc:
            print(f"score-client: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as exc:  # a file that cannot be read or written: which, and why
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"score-client: {where}{exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except ScoringError as exc:
            print(f"score-client: {describe_error(exc)}", file=sys.stderr)
            return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())
