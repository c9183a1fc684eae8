"""Launch the real Gradio app for tests, and find Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests import procs

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def launched_ui(scoring_url: str, tmp_path: Path) -> Iterator[str]:
    """The app built by ui.app.build_app, launched on a free port; yields its URL."""
    from iris_ml_ui.app import build_app
    from score_client import ScoringClient

    port = procs.free_port()
    client = ScoringClient(scoring_url, max_retries=0, timeout=10)
    app = build_app(client, out_dir=tmp_path / "ui-out")
    app.queue(default_concurrency_limit=4)
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        footer_links=[],
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
        client.close()


def screenshot(page, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot in tmp_path; also in $IRIS_SCREENSHOT_DIR when set (docs/img).

    Tests never write into the repo on their own: refreshing the docs' pictures is asked for.
    """
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("IRIS_SCREENSHOT_DIR"):
        shutil.copyfile(path, Path(target) / name)
    return path
