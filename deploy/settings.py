"""Where the Azure ML workspace and endpoint are: flags, then environment variables, then config.json."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

SPEC_DIR = Path(__file__).resolve().parent / "azureml"
# The variable the scoring scripts read their version from (score.py, batch_score.py: they
# run on Azure without this package, so each names it too).
MODEL_VERSION_ENV = "IRIS_MODEL_VERSION"
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
    endpoint: str | None  # unique per Azure region: no default can be right for everyone
    model_name: str = DEFAULT_MODEL_NAME
    alias: str = DEFAULT_ALIAS

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

    def require_endpoint(self) -> str:
        if not self.endpoint:
            raise SettingsError(
                f"no endpoint name: set --endpoint or ${ENV['endpoint']}; endpoint names are "
                "unique per Azure region, so choose your own (3-32 characters, a letter first)"
            )
        return self.endpoint


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
        endpoint=validate_endpoint_name(endpoint) if (endpoint := pick("endpoint")) else None,
        model_name=flags.get("model_name") or DEFAULT_MODEL_NAME,
        alias=flags.get("alias") or DEFAULT_ALIAS,
    )


# vCPUs of the instance types a deployment may use (Azure's VM size pages: DSv2-series,
# Fsv2-series). The inference server runs WORKER_COUNT processes: one per vCPU keeps
# every core busy, and max_concurrent_requests_per_instance matches it so requests wait
# in Azure's queue (max_queue_wait_ms) rather than inside one busy worker.
INSTANCE_VCPUS: dict[str, int] = {
    "Standard_DS2_v2": 2,
    "Standard_DS3_v2": 4,
    "Standard_DS4_v2": 8,
    "Standard_F2s_v2": 2,
    "Standard_F4s_v2": 4,
    "Standard_F8s_v2": 8,
}
