"""Blue/green deploy planning as data: pure functions of the endpoint's state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

COLOURS = ("blue", "green")
MAX_MIRROR = 50

StepKind = Literal[
    "create_endpoint",
    "create_deployment",
    "smoke_test",
    "set_mirror",
    "set_traffic",
    "delete_deployment",
]


class PlanError(ValueError):
    """The requested deploy breaks a traffic rule."""


# How callers authenticate, in the words of Azure ML's docs, by endpoint.yml's auth_mode.
AUTH_MODES = {
    "key": "callers send a key",
    "aml_token": "callers send an Azure ML token",
    "aad_token": "callers send a Microsoft Entra ID token",
}


@dataclass(frozen=True)
class EndpointState:
    exists: bool
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, str | None] = field(default_factory=dict)  # colour -> model version


@dataclass(frozen=True)
class Step:
    kind: StepKind
    deployment: str | None = None
    traffic: dict[str, int] | None = None
    auth_mode: str | None = None  # create_endpoint: endpoint.yml's auth_mode

    def describe(self) -> str:
        if self.kind == "create_endpoint":
            if self.auth_mode is None:
                return "create the endpoint"
            how = AUTH_MODES.get(self.auth_mode, self.auth_mode)
            return f"create the endpoint ({how}: endpoint.yml's auth_mode {self.auth_mode})"
        if self.kind == "create_deployment":
            return (
                f"create or update deployment '{self.deployment}' and wait until it is provisioned"
            )
        if self.kind == "smoke_test":
            return f"smoke-test '{self.deployment}' directly (azureml-model-deployment header) with sample-request.json"
        if self.kind == "set_mirror":
            return f"mirror traffic {self.traffic or 'off'}"
        if self.kind == "set_traffic":
            return f"set live traffic to {self.traffic}"
        return f"delete deployment '{self.deployment}'"


@dataclass(frozen=True)
class DeployPlan:
    version: str
    live: str | None
    new: str
    steps: tuple[Step, ...]
    rollback_traffic: dict[str, int]


def check_traffic(traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
    """Azure's rules: percentages in 0..100 summing to 100 (or nothing live); mirror <= 50, not to a live colour."""
    if any(not 0 <= v <= 100 for v in traffic.values()):
        raise PlanError(f"traffic percentages must be within 0..100: {dict(traffic)}")
    total = sum(traffic.values())
    if traffic and total not in (0, 100):
        raise PlanError(f"traffic must sum to 100, got {total}: {dict(traffic)}")
    for colour, share in (mirror or {}).items():
        if not 0 <= share <= MAX_MIRROR:
            raise PlanError(f"mirror traffic must be within 0..{MAX_MIRROR}, got {share}")
        if share and traffic.get(colour, 0):
            raise PlanError(f"cannot mirror to '{colour}': it already takes live traffic")


def live_colour(state: EndpointState) -> str | None:
    live = [(share, colour) for colour, share in state.traffic.items() if share > 0]
    return max(live)[1] if live else None


def plan_deploy(
    state: EndpointState,
    version: str,
    *,
    canary: int = 0,
    mirror: int = 0,
    keep_old: bool = False,
    auth_mode: str | None = None,
) -> DeployPlan:
    """Steps to put ``version`` live on the idle colour, with an optional mirror and canary stage.

    Once the new colour takes all traffic the old one is deleted: an idle deployment
    costs as much as a live one and holds its share of the core quota. ``keep_old``
    keeps it for an instant rollback (a traffic switch instead of a new deployment).
    """
    if not 0 <= canary < 100:
        raise PlanError(f"canary must be within 0..99 percent, got {canary}")
    live = live_colour(state)
    new = "green" if live == "blue" else "blue"
    steps: list[Step] = []
    if not state.exists:
        steps.append(Step("create_endpoint", auth_mode=auth_mode))
    steps += [Step("create_deployment", new), Step("smoke_test", new)]
    if live and mirror:
        check_traffic(state.traffic, {new: mirror})
        steps += [
            Step("set_mirror", traffic={new: mirror}),
            Step("smoke_test", new),
            Step("set_mirror", traffic={}),
        ]
    if live and canary:
        canary_traffic = {live: 100 - canary, new: canary}
        check_traffic(canary_traffic)
        steps += [Step("set_traffic", traffic=canary_traffic), Step("smoke_test", new)]
    final = {new: 100, **({live: 0} if live else {})}
    check_traffic(final)
    steps.append(Step("set_traffic", traffic=final))
    if live and not keep_old:
        steps.append(Step("delete_deployment", live))
    return DeployPlan(version, live, new, tuple(steps), rollback_traffic=dict(state.traffic))
