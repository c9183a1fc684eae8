"""The Gradio page for the Iris classifier (``python -m ui``); it talks to the model only through score_client."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_SCORING_URI = "http://127.0.0.1:5001/invocations"
# Several people at once: requests to the endpoint are I/O-bound, so the queue
# runs a few handlers in parallel and holds a bounded backlog.
DEFAULT_CONCURRENCY = 8
MAX_QUEUE = 64


@dataclass(frozen=True)
class UISettings:
    scoring_uri: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    concurrency: int = DEFAULT_CONCURRENCY


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui", description=__doc__)
    parser.add_argument(
        "--scoring-uri", help=f"endpoint URL (default: $SCORING_URI or {DEFAULT_SCORING_URI})"
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("UI_HOST", DEFAULT_HOST),
        help="bind address; anything but 127.0.0.1 exposes the page",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("UI_PORT", DEFAULT_PORT)))
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    settings = UISettings(
        scoring_uri=args.scoring_uri or os.environ.get("SCORING_URI") or DEFAULT_SCORING_URI,
        host=args.host,
        port=args.port,
        concurrency=args.concurrency,
    )
    # Gradio reads this at import: set it before importing, unless the user chose.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from score_client import CredentialError, ScoringClient
    from ui.app import MAX_UPLOAD_BYTES, build_app

    try:
        client = ScoringClient(
            settings.scoring_uri, concurrency=settings.concurrency
        )  # key: $SCORING_KEY
    except (ValueError, CredentialError) as exc:  # a bad setting, or no way to get a token
        print(f"ui: {exc}", file=sys.stderr)
        return 2
    app = build_app(client)
    app.queue(default_concurrency_limit=settings.concurrency, max_size=MAX_QUEUE)
    print(f"UI for {client.url} on http://{settings.host}:{settings.port}/", flush=True)
    app.launch(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=MAX_UPLOAD_BYTES,
        footer_links=[],
        ssr_mode=False,
        show_error=True,
    )
    return 0
