"""What every ``iris-ml`` subcommand shares: its parser, its exit statuses, its flag types.

Standard library only, so ``iris-ml --help`` and a mistyped flag cost no MLflow import.
"""

from __future__ import annotations

import argparse

# Exit statuses of every subcommand (``iris-ml --help`` lists them).
EXIT_OK = 0
EXIT_FAILED = 1  # the command could not do its work (an unreachable store, a refused move)
EXIT_USAGE = 2  # the command line or a setting is wrong; nothing was done
EXIT_DECIDED = 3  # a decision, not a failure: the gate kept the champion, or drift was found
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_STATUSES = {
    EXIT_OK: "done (promoted; no drift)",
    EXIT_FAILED: "failed (the message says why)",
    EXIT_USAGE: "usage: a flag or setting is wrong, nothing was done",
    EXIT_DECIDED: "decided: the gate kept the champion (train), or drift was found (monitor)",
    EXIT_INTERRUPTED: "stopped by Ctrl-C",
}
MAX_PORT = 65535


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module's docstring as written, and every flag's default in ``--help``."""

    def _format_action(self, action: argparse.Action) -> str:
        if action.option_strings and action.help is None and _shown(action.default):
            action.help = "(default: %(default)s)"  # argparse shows nothing without help text
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not _shown(action.default) or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


def _shown(default: object) -> bool:
    return default is not None and default is not False and default is not argparse.SUPPRESS


def command_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``iris-ml NAME``, described by its module's docstring."""
    return argparse.ArgumentParser(
        prog=f"iris-ml {name}", description=doc, formatter_class=HelpFormatter
    )


def port_number(text: str) -> int:
    """argparse type for a server's ``--port``: 1-65535, or a usage error (not bind's traceback)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is 1-{MAX_PORT}, got {port}")
    return port


def seconds(text: str) -> float:
    """argparse type for a wait: 0 or more seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"a wait is 0 or more seconds, got {text}")
    return value


def add_wait_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait SECONDS``, the same on every command that needs another service first."""
    parser.add_argument(
        "--wait", type=seconds, default=0.0, metavar="SECONDS",
        help=f"wait up to this long for {what}, saying so while waiting "
        "(services started together, as in compose.yaml)",
    )  # fmt: skip
