"""A fake azure.ai.ml.MLClient at the cloud boundary: the same methods, state in memory."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

GOOD_ANSWER = json.dumps(
    {
        "predictions": [
            {"species": s, "probabilities": {"setosa": 0.3, "versicolor": 0.3, "virginica": 0.4}}
            for s in ("setosa", "versicolor", "virginica")
        ]
    }
)


class Poller:
    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self._result, self._error = result, error

    def result(self) -> Any:
        if self._error:
            raise self._error
        return self._result


@dataclass
class Workspace:
    endpoints: dict[str, Any] = field(default_factory=dict)
    deployments: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # deployment -> smoke-test body
    fail_provisioning: set[str] = field(default_factory=set)
    data: dict[str, list[Any]] = field(default_factory=dict)  # name -> versions
    schedules: dict[str, Any] = field(default_factory=dict)
    autoscale: dict[str, Any] = field(default_factory=dict)
    fail_delete: bool = False
    batch_endpoints: dict[str, Any] = field(default_factory=dict)
    batch_deployments: dict[tuple[str, str], Any] = field(default_factory=dict)
    batch_jobs: list[tuple[str, str]] = field(default_factory=list)  # (job name, input path)


class _Endpoints:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def get(self, name: str) -> Any:
        self.ws.calls.append(f"endpoints.get {name}")
        if name not in self.ws.endpoints:
            raise ResourceNotFoundError(f"endpoint {name} not found")
        return copy.deepcopy(self.ws.endpoints[name])

    def begin_create_or_update(self, endpoint: Any) -> Poller:
        self.ws.calls.append(
            f"endpoints.create_or_update traffic={endpoint.traffic} mirror={getattr(endpoint, 'mirror_traffic', None)}"
        )
        for colour in endpoint.traffic or {}:
            if colour not in self.ws.deployments:
                return Poller(error=RuntimeError(f"traffic to unknown deployment {colour}"))
        stored = copy.deepcopy(endpoint)
        stored._scoring_uri = f"https://{endpoint.name}.westeurope.inference.ml.azure.com/score"
        stored.location = stored.location or "westeurope"  # the workspace's region
        self.ws.endpoints[endpoint.name] = stored
        return Poller(stored)

    def invoke(
        self, endpoint_name: str, request_file: str, deployment_name: str | None = None
    ) -> str:
        self.ws.calls.append(f"endpoints.invoke {deployment_name}")
        json.loads(Path(request_file).read_text())  # the sample must be valid JSON
        return self.ws.answers.get(deployment_name or "", GOOD_ANSWER)

    def begin_delete(self, name: str) -> Poller:
        self.ws.calls.append(f"endpoints.delete {name}")
        self.ws.endpoints.pop(name, None)
        self.ws.deployments.clear()
        return Poller()

    def get_keys(self, name: str) -> Any:
        raise AssertionError("the deploy tooling must never fetch keys")


class _Deployments:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def list(self, endpoint_name: str) -> list[Any]:
        return [copy.deepcopy(d) for d in self.ws.deployments.values()]

    def get(self, name: str, endpoint_name: str) -> Any:
        self.ws.calls.append(f"deployments.get {name}")
        if name not in self.ws.deployments:
            raise ResourceNotFoundError(f"deployment {name} not found")
        found = copy.deepcopy(self.ws.deployments[name])
        found._id = (  # the ARM id Azure gives a deployment (`id` is read-only)
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
            f"/workspaces/ws/onlineEndpoints/{endpoint_name}/deployments/{name}"
        )
        return found

    def begin_create_or_update(self, deployment: Any) -> Poller:
        self.ws.calls.append(f"deployments.create_or_update {deployment.name} {deployment.model}")
        stored = copy.deepcopy(deployment)
        self.ws.deployments[deployment.name] = stored
        if deployment.name in self.ws.fail_provisioning:
            return Poller(error=RuntimeError("ResourceNotReady: container crashed at start"))
        stored._provisioning_state = "Succeeded"
        return Poller(stored)

    def begin_delete(self, name: str, endpoint_name: str) -> Poller:
        self.ws.calls.append(f"deployments.delete {name}")
        # Azure refuses to delete a deployment that still takes live traffic ("how to safely
        # roll out online endpoints": set its traffic to 0 first).
        endpoint = self.ws.endpoints.get(endpoint_name)
        if endpoint is not None and (endpoint.traffic or {}).get(name, 0) > 0:
            raise HttpResponseError(f"deployment {name} has traffic; set it to 0 first")
        if self.ws.fail_delete:
            raise HttpResponseError(f"deleting {name} failed")
        self.ws.deployments.pop(name, None)
        return Poller()

    def get_logs(self, name: str, endpoint_name: str, lines: int) -> str:
        return f"logs of {name} ({lines} lines)"


class _Data:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def create_or_update(self, data: Any) -> Any:
        """A new version each time; an mltable asset's folder needs its MLTable file (Azure ML
        "Working with tables": the file defines how the data is read)."""
        self.ws.calls.append(f"data.create_or_update {data.name}")
        if data.type == "mltable" and not (Path(data.path) / "MLTable").is_file():
            raise HttpResponseError("an mltable data asset needs an MLTable file in its folder")
        stored = copy.deepcopy(data)
        stored.contents = {p.name: p.read_text() for p in Path(data.path).iterdir()}
        versions = self.ws.data.setdefault(data.name, [])
        stored.version = str(len(versions) + 1)
        versions.append(stored)
        return stored


class _Schedules:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def begin_create_or_update(self, schedule: Any) -> Poller:
        self.ws.calls.append(f"schedules.create_or_update {schedule.name}")
        self.ws.schedules[schedule.name] = copy.deepcopy(schedule)
        return Poller(schedule)


class _BatchEndpoints:
    """What Azure ML documents of batch endpoints ("Deploy models for scoring in batch
    endpoints", "Authorization on batch endpoints", "Create jobs and input data for batch
    endpoints"): Microsoft Entra tokens only; the default deployment must exist; a job needs
    an existing endpoint, and a model deployment takes exactly one input."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def begin_create_or_update(self, endpoint: Any) -> Poller:
        default = (endpoint.defaults or {}).get("deployment_name")
        self.ws.calls.append(f"batch_endpoints.create_or_update {endpoint.name} default={default}")
        if endpoint.auth_mode != "aad_token":
            return Poller(error=HttpResponseError("batch endpoints support aad_token only"))
        if default and (endpoint.name, default) not in self.ws.batch_deployments:
            return Poller(error=HttpResponseError(f"default deployment {default} not found"))
        self.ws.batch_endpoints[endpoint.name] = copy.deepcopy(endpoint)
        return Poller(endpoint)

    def invoke(
        self, endpoint_name: str, *, deployment_name: str | None = None, inputs: dict | None = None
    ) -> Any:
        self.ws.calls.append(f"batch_endpoints.invoke {endpoint_name} {deployment_name}")
        if endpoint_name not in self.ws.batch_endpoints:
            raise ResourceNotFoundError(f"batch endpoint {endpoint_name} not found")
        default = (self.ws.batch_endpoints[endpoint_name].defaults or {}).get("deployment_name")
        if (endpoint_name, deployment_name or default) not in self.ws.batch_deployments:
            raise ResourceNotFoundError(f"deployment {deployment_name or default} not found")
        if len(inputs or {}) != 1 or next(iter(inputs.values())).type != "uri_folder":
            raise HttpResponseError("a model deployment takes one uri_folder or uri_file input")
        job = type("BatchJob", (), {"name": f"batchjob-{len(self.ws.batch_jobs) + 1}"})()
        self.ws.batch_jobs.append((job.name, next(iter(inputs.values())).path))
        return job


class _BatchDeployments:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def begin_create_or_update(self, deployment: Any) -> Poller:
        self.ws.calls.append(
            f"batch_deployments.create_or_update {deployment.name} {deployment.model}"
        )
        if deployment.endpoint_name not in self.ws.batch_endpoints:
            return Poller(
                error=ResourceNotFoundError(f"endpoint {deployment.endpoint_name} not found")
            )
        self.ws.batch_deployments[(deployment.endpoint_name, deployment.name)] = copy.deepcopy(
            deployment
        )
        return Poller(deployment)


class FakeMLClient:
    def __init__(self, ws: Workspace | None = None) -> None:
        self.ws = ws or Workspace()
        self.online_endpoints = _Endpoints(self.ws)
        self.online_deployments = _Deployments(self.ws)
        self.batch_endpoints = _BatchEndpoints(self.ws)
        self.batch_deployments = _BatchDeployments(self.ws)
        self.data = _Data(self.ws)
        self.schedules = _Schedules(self.ws)


class _AutoscaleSettings:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def create_or_update(
        self, resource_group_name: str, autoscale_setting_name: str, parameters: Any
    ) -> Any:
        """What Azure Monitor's REST reference (Autoscale Settings - Create Or Update) requires:
        a location, 1 to 20 profiles, and in each a capacity with minimum <= default <=
        maximum; a metric rule must name its resource."""
        self.ws.calls.append(f"autoscale.create_or_update {autoscale_setting_name}")
        if not parameters.location:
            raise HttpResponseError("location is required")
        if not 1 <= len(parameters.profiles or []) <= 20:
            raise HttpResponseError("1 to 20 profiles are required")
        for profile in parameters.profiles:
            c = profile.capacity
            if not int(c.minimum) <= int(c.default) <= int(c.maximum):
                raise HttpResponseError("capacity must be minimum <= default <= maximum")
            for rule in profile.rules:
                if not rule.metric_trigger.metric_resource_uri:
                    raise HttpResponseError("a metric trigger needs metricResourceUri")
        self.ws.autoscale[autoscale_setting_name] = (resource_group_name, parameters)
        return parameters


class FakeMonitorClient:
    """azure.mgmt.monitor.MonitorManagementClient's autoscale_settings, state in memory."""

    def __init__(self, ws: Workspace) -> None:
        self.autoscale_settings = _AutoscaleSettings(ws)
