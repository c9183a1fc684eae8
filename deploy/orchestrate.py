"""Carry out deploy plans against Azure ML through an ``MLClient``, rolling back on failure.

The client is injected: the CLI passes a real ``azure.ai.ml.MLClient``; unit
tests pass a fake with the same methods. Nothing here prints or logs a key: the
smoke test goes through ``online_endpoints.invoke``, which authenticates itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iris_ml.contract import SPECIES, SPECIES_KEY

from .plan import DeployPlan, EndpointState, Step, plan_deploy
from .settings import MODEL_VERSION_ENV, SPEC_DIR, AzureSettings
from .specs import endpoint_auth_mode

SAMPLE_REQUEST = SPEC_DIR / "sample-request.json"
# The sample holds one textbook flower per species, in this order.
SAMPLE_EXPECTED = list(SPECIES)


class DeployError(RuntimeError):
    """A deploy that failed; ``rolled_back`` says whether live traffic was restored."""

    def __init__(self, message: str, rolled_back: bool = False) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


def load_endpoint(settings: AzureSettings, spec_dir: Path = SPEC_DIR) -> Any:
    from azure.ai.ml import load_online_endpoint

    return load_online_endpoint(
        spec_dir / "endpoint.yml", params_override=[{"name": settings.endpoint}]
    )


def load_deployment(
    settings: AzureSettings, colour: str, version: str, spec_dir: Path = SPEC_DIR
) -> Any:
    from azure.ai.ml import load_online_deployment

    deployment = load_online_deployment(
        spec_dir / "deployment.yml",
        params_override=[
            {"name": colour},
            {"endpoint_name": settings.endpoint},
            {"model": f"azureml:{settings.model_name}:{version}"},
        ],
    )
    deployment.environment_variables = {
        **(deployment.environment_variables or {}),
        MODEL_VERSION_ENV: version,
    }
    return deployment


def check_smoke_response(body: str) -> None:
    """The sample request must come back as its three textbook species."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        raise DeployError(f"smoke test: the answer is not JSON: {str(body)[:200]}") from None
    rows = payload.get("predictions") if isinstance(payload, dict) else payload
    species = (
        [r.get(SPECIES_KEY) for r in rows]
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
        else None
    )
    if species != SAMPLE_EXPECTED:
        raise DeployError(f"smoke test: expected {SAMPLE_EXPECTED}, got {str(payload)[:200]}")


@dataclass
class Deployer:
    ml_client: Any
    settings: AzureSettings
    say: Callable[[str], None] = print

    def endpoint_state(self) -> EndpointState:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            endpoint = self.ml_client.online_endpoints.get(self.settings.endpoint)
        except ResourceNotFoundError:
            return EndpointState(exists=False)
        deployments = {
            d.name: _model_version(d.model)
            for d in self.ml_client.online_deployments.list(endpoint_name=self.settings.endpoint)
        }
        return EndpointState(
            exists=True,
            traffic={k: int(v) for k, v in (endpoint.traffic or {}).items()},
            mirror={
                k: int(v) for k, v in (getattr(endpoint, "mirror_traffic", None) or {}).items()
            },
            deployments=deployments,
        )

    def plan(
        self, version: str, canary: int = 0, mirror: int = 0, keep_old: bool = False
    ) -> DeployPlan:
        return plan_deploy(
            self.endpoint_state(), version, canary=canary, mirror=mirror, keep_old=keep_old,
            auth_mode=endpoint_auth_mode(),
        )  # fmt: skip

    def execute(self, plan: DeployPlan) -> None:
        """Run every step; on a failure after the new colour exists, restore traffic and delete it."""
        created = False
        for number, step in enumerate(plan.steps, 1):
            self.say(f"[{number}/{len(plan.steps)}] {step.describe()}")
            try:
                self._run(step, plan)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if step.kind == "delete_deployment":  # the new colour is live and stays live
                    raise DeployError(
                        f"'{plan.new}' is live, but retiring '{step.deployment}' failed: {reason}; "
                        f"it still costs money until deleted (az ml online-deployment delete "
                        f"-n {step.deployment} -e {self.settings.endpoint})"
                    ) from None
                if step.kind == "create_deployment":
                    created = True  # a half-provisioned deployment is cleaned up too
                if not created:
                    raise DeployError(f"step '{step.describe()}' failed: {reason}") from None
                self.say(f"FAILED: {reason}. Rolling back.")
                self.rollback(plan)
                raise DeployError(
                    f"step '{step.describe()}' failed: {reason}; live traffic restored to "
                    f"{plan.rollback_traffic or 'none'} and '{plan.new}' deleted",
                    rolled_back=True,
                ) from None
            if step.kind == "create_deployment":
                created = True

    def rollback(self, plan: DeployPlan) -> None:
        self._set_endpoint(traffic=dict(plan.rollback_traffic) or None, mirror={})
        self.ml_client.online_deployments.begin_delete(
            name=plan.new, endpoint_name=self.settings.endpoint
        ).result()

    def _run(self, step: Step, plan: DeployPlan) -> None:
        if step.kind == "create_endpoint":
            self.ml_client.online_endpoints.begin_create_or_update(
                load_endpoint(self.settings)
            ).result()
        elif step.kind == "create_deployment":
            deployment = load_deployment(self.settings, plan.new, plan.version)
            result = self.ml_client.online_deployments.begin_create_or_update(deployment).result()
            state = getattr(result, "provisioning_state", "Succeeded")
            if str(state).lower() != "succeeded":
                raise DeployError(f"deployment '{plan.new}' provisioning state is {state}")
        elif step.kind == "smoke_test":
            self.smoke_test(step.deployment or plan.new)
        elif step.kind == "set_mirror":
            self._set_endpoint(mirror=dict(step.traffic or {}))
        elif step.kind == "set_traffic":
            self._set_endpoint(traffic=dict(step.traffic or {}))
        elif step.kind == "delete_deployment":
            self._set_endpoint(traffic={plan.new: 100})  # no entry left for the old colour
            self.ml_client.online_deployments.begin_delete(
                name=step.deployment, endpoint_name=self.settings.endpoint
            ).result()

    def create_monitor(self) -> Any:
        """Register the reference data, then schedule monitoring of the live colour."""
        import tempfile

        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Data

        from .monitoring import (
            REFERENCE_DATA,
            load_monitor,
            monitor_problems,
            write_reference_table,
        )

        colour = self._live_colour("monitor")
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_reference_table(Path(tmp) / REFERENCE_DATA)
            data = self.ml_client.data.create_or_update(
                Data(
                    name=REFERENCE_DATA,
                    type=AssetTypes.MLTABLE,
                    path=str(folder),
                    description="Fisher's training split: the drift monitor's reference",
                )
            )
        schedule = load_monitor(str(self.settings.endpoint), colour, str(data.version))
        if problems := monitor_problems(schedule):
            raise DeployError("; ".join(problems))
        self.say(
            f"Monitoring {self.settings.endpoint}:{colour} against {REFERENCE_DATA}:{data.version}"
        )
        return self.ml_client.schedules.begin_create_or_update(schedule).result()

    def autoscale(self, monitor_client: Any, rules: Any) -> Any:
        """Apply the CPU rules to the live colour through Azure Monitor's autoscale settings."""
        from .autoscale import autoscale_setting, setting_name

        self.settings.require_workspace()  # the setting lives in the workspace's resource group
        colour = self._live_colour("autoscale")
        endpoint = self.ml_client.online_endpoints.get(self.settings.endpoint)
        deployment = self.ml_client.online_deployments.get(
            name=colour, endpoint_name=self.settings.endpoint
        )
        name = setting_name(str(self.settings.endpoint), colour)
        self.say(f"Autoscaling {self.settings.endpoint}:{colour} ({name})")
        return monitor_client.autoscale_settings.create_or_update(
            self.settings.resource_group,
            name,
            autoscale_setting(rules, deployment.id, endpoint.location),
        )

    def _live_colour(self, purpose: str) -> str:
        state = self.endpoint_state()
        if not state.traffic or not any(state.traffic.values()):
            raise DeployError(f"no live deployment to {purpose}: deploy first")
        return max(state.traffic, key=lambda name: state.traffic[name])

    def smoke_test(self, deployment: str) -> None:
        body = self.ml_client.online_endpoints.invoke(
            endpoint_name=self.settings.endpoint,
            deployment_name=deployment,
            request_file=str(SAMPLE_REQUEST),
        )
        check_smoke_response(body)

    def _set_endpoint(
        self, traffic: dict[str, int] | None = None, mirror: dict[str, int] | None = None
    ) -> None:
        endpoint = self.ml_client.online_endpoints.get(self.settings.endpoint)
        if traffic is not None:
            endpoint.traffic = traffic
        if mirror is not None:
            endpoint.mirror_traffic = mirror
        self.ml_client.online_endpoints.begin_create_or_update(endpoint).result()

    def status(self) -> dict[str, Any]:
        state = self.endpoint_state()
        if not state.exists:
            return {"endpoint": self.settings.endpoint, "exists": False}
        endpoint = self.ml_client.online_endpoints.get(self.settings.endpoint)
        return {
            "endpoint": self.settings.endpoint,
            "exists": True,
            "scoring_uri": endpoint.scoring_uri,
            "auth_mode": endpoint.auth_mode,
            "traffic": state.traffic,
            "mirror_traffic": state.mirror,
            "deployments": state.deployments,
        }

    def logs(self, deployment: str, lines: int = 100) -> str:
        return self.ml_client.online_deployments.get_logs(
            name=deployment, endpoint_name=self.settings.endpoint, lines=lines
        )

    def teardown(self) -> None:
        self.ml_client.online_endpoints.begin_delete(name=self.settings.endpoint).result()

    def submit_training(
        self, job_spec: Path = SPEC_DIR / "train-job.yml", compute: str | None = None
    ) -> Any:
        from azure.ai.ml import load_job

        job = load_job(job_spec)
        if compute:
            job.compute = compute
        return self.ml_client.jobs.create_or_update(job)


def _model_version(model: Any) -> str | None:
    text = (
        model
        if isinstance(model, str)
        else getattr(model, "id", None) or getattr(model, "version", None)
    )
    if text is None:
        return None
    text = str(text)
    # azureml:<name>:<version> or .../models/<name>/versions/<version>
    return text.rsplit("/", 1)[-1] if "/versions/" in text else text.rsplit(":", 1)[-1]
