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
    fail_delete: bool = False


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


class FakeMLClient:
    def __init__(self, ws: Workspace | None = None) -> None:
        self.ws = ws or Workspace()
        self.online_endpoints = _Endpoints(self.ws)
        self.online_deployments = _Deployments(self.ws)
