"""A registered version's files on the local disk, downloaded once per machine."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path


def download_model(model_name: str, version: str, source: str) -> str:
    """The version's files in a local cache (registered versions are immutable)."""
    import mlflow
    import mlflow.artifacts

    key = hashlib.sha256(
        "|".join([mlflow.get_tracking_uri(), model_name, version, source]).encode()
    ).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "iris-ml-models" / f"{model_name}-{version}-{key}"
    if (target / "MLmodel").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model_name}/{version}", dst_path=str(staging)
    )
    try:
        staging.rename(target)  # atomic: a concurrent start either wins or reuses
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)
