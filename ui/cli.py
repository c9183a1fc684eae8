"""``python -m ui``: serve the Gradio page for an endpoint (``make ui``, ``make demo``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SCORING_URI,
    MAX_QUEUE,
    UISettings,
)


def _port(text: str) -> int:
    # Checked here: Gradio meets a port past 65535 with bind's OverflowError traceback.
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {port}")
    return port


def parse_settings(argv: Sequence[str] | None = None) -> UISettings:
    """Flags first, then $SCORING_URI / $UI_HOST / $UI_PORT, then the defaults."""
    parser = argparse.ArgumentParser(prog="python -m ui", description=__doc__)
    parser.add_argument(
        "--scoring-uri", help=f"endpoint URL (default: $SCORING_URI or {DEFAULT_SCORING_URI})"
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("UI_HOST", DEFAULT_HOST),
        help="bind address; anything but 127.0.0.1 exposes the page",
    )
    parser.add_argument("--port", type=_port, default=os.environ.get("UI_PORT", DEFAULT_PORT))
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    return UISettings(
        scoring_uri=args.scoring_uri or os.environ.get("SCORING_URI") or DEFAULT_SCORING_URI,
        host=args.host,
        port=args.port,
        concurrency=args.concurrency,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    # Gradio reads this at import: set it before importing, unless the user chose.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from score_client import CredentialError, ScoringClient

    from .app import MAX_UPLOAD_BYTES, build_app

    try:
        client = ScoringClient(
            settings.scoring_uri, concurrency=settings.concurrency
        )  # key: $SCORING_KEY
    except (ValueError, CredentialError) as exc:  # a bad setting, or no way to get a token
        print(f"ui: {exc}", file=sys.stderr)
        return 2
    app = build_app(client)
    app.queue(default_concurrency_limit=settings.concurrency, max_size=MAX_QUEUE)
    where = f"http://{settings.host}:{settings.port}/"
    try:
        app.launch(
            server_name=settings.host,
            server_port=settings.port,
            max_file_size=MAX_UPLOAD_BYTES,
            footer_links=[],
            ssr_mode=False,
            show_error=True,
            quiet=True,  # our line below says where; Gradio's adds a share-link tip
            prevent_thread_lock=True,
        )
    except OSError:  # Gradio's only failure to listen: the port is taken or not ours
        print(
            f"ui: cannot listen on {where}: the port is in use or the host is not an address "
            "of this machine. Choose another with --port / --host.",
            file=sys.stderr,
        )
        return 1
    print(f"UI for {client.url} on {where}", flush=True)  # printed once it listens
    app.block_thread()
    return 0
