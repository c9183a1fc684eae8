"""Where the Azure ML workspace and endpoint are: flags, then environment variables, then config.json."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent / "azureml"
ENDPOINT_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")

ENV = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group": "AZURE_RESOURCE_GROUP",
    "workspace": "AZUREML_WORKSPACE",
    "endpoint": "IRIS_ENDPOINT_NAME",
}
CONFIG_KEYS = {
    "subscription_id": "subscription_id",
    "resource_group": "resource_group",
    "workspace": "workspace_name",
}


class SettingsError(ValueError):
    """A missing or invalid setting; the message names the flag and the variable."""


@dataclass(frozen=True)
class AzureSettings:
    subscription_id: str | None
    resource_group: str | None
    workspace: str | None
    endpoint: str
    model_name: str = "iris-classifier"
    alias: str = "champion"

    def require_workspace(self) -> None:
        missing = [
            f"--{k.replace('_', '-')} or ${ENV[k]}"
            for k in ("subscription_id", "resource_group", "workspace")
            if not getattr(self, k)
        ]
        if missing:
            raise SettingsError(
                "missing workspace settings: " + ", ".join(missing) + " (or a config.json)"
            )


def validate_endpoint_name(name: str) -> str:
    if not 3 <= len(name) <= 32 or not ENDPOINT_NAME.match(name):
        raise SettingsError(
            f"endpoint name {name!r}: 3-32 characters, a letter first, then letters, digits and '-', "
            "not ending in '-'"
        )
    return name


def resolve_settings(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    default_endpoint: str = "iris-classifier-ep",
) -> AzureSettings:
    env = os.environ if environ is None else environ
    config: dict[str, str] = {}
    path = config_path or Path("config.json")
    if path.is_file():
        try:
            loaded = json.loads(path.read_text())
        except ValueError as exc:
            raise SettingsError(f"{path} is not valid JSON: {exc}") from None
        config = {k: loaded[v] for k, v in CONFIG_KEYS.items() if isinstance(loaded.get(v), str)}

    def pick(key: str) -> str | None:
        return flags.get(key) or env.get(ENV[key]) or config.get(key) or None

    return AzureSettings(
        subscription_id=pick("subscription_id"),
        resource_group=pick("resource_group"),
        workspace=pick("workspace"),
        endpoint=validate_endpoint_name(pick("endpoint") or default_endpoint),
        model_name=flags.get("model_name") or "iris-classifier",
        alias=flags.get("alias") or "champion",
    )
