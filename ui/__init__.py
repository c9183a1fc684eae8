"""The Gradio page for the Iris classifier; it talks to the model only through score_client.

Run it with ``python -m ui`` from a checkout (installed: ``python -m iris_ml_ui``).
Importing this package imports neither Gradio nor the client: ``ui.app`` does.
"""

from .cli import main
from .settings import UISettings

__all__ = ["UISettings", "main"]
