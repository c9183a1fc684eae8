"""CPU-based autoscale of the live deployment through Azure Monitor (azure-mgmt-monitor).

The rules are data (``deploy/azureml/autoscale.yml``), checked here; the setting is built
as a pure function of the rules and the deployment's resource id, and created through
an injected ``MonitorManagementClient`` (tests pass a fake with the same method).
https://learn.microsoft.com/azure/machine-learning/how-to-autoscale-endpoints
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from .settings import SPEC_DIR, SettingsError

AUTOSCALE_SPEC = "autoscale.yml"
CPU_METRIC = "CpuUtilizationPercentage"  # a managed online deployment's metric (Azure Monitor)


@dataclass(frozen=True)
class Step:
    cpu_percent: float
    over_minutes: int
    change: int
    cooldown_minutes: int


@dataclass(frozen=True)
class AutoscaleRules:
    minimum: int
    default: int
    maximum: int
    scale_out: Step
    scale_in: Step

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.minimum <= self.default <= self.maximum:
            found.append("instances: need 1 <= minimum <= default <= maximum")
        for name, step in (("scale_out", self.scale_out), ("scale_in", self.scale_in)):
            if not 0 < step.cpu_percent < 100:
                found.append(f"{name}: the CPU threshold must be within (0, 100) percent")
            if step.change < 1 or step.over_minutes < 1 or step.cooldown_minutes < 1:
                found.append(f"{name}: change, over_minutes and cooldown_minutes must be >= 1")
        if self.scale_in.cpu_percent >= self.scale_out.cpu_percent:
            # Otherwise one load level triggers both rules and the count flaps.
            found.append("scale_in's CPU threshold must be below scale_out's")
        return found


def load_rules(spec_dir: Path = SPEC_DIR) -> AutoscaleRules:
    import yaml

    try:
        data = yaml.safe_load((spec_dir / AUTOSCALE_SPEC).read_text())
        out, into = data["scale_out"], data["scale_in"]
        rules = AutoscaleRules(
            minimum=int(data["instances"]["minimum"]),
            default=int(data["instances"]["default"]),
            maximum=int(data["instances"]["maximum"]),
            scale_out=Step(
                float(out["cpu_above_percent"]), int(out["over_minutes"]),
                int(out["change"]), int(out["cooldown_minutes"]),
            ),
            scale_in=Step(
                float(into["cpu_below_percent"]), int(into["over_minutes"]),
                int(into["change"]), int(into["cooldown_minutes"]),
            ),
        )  # fmt: skip
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SettingsError(f"{AUTOSCALE_SPEC}: {type(exc).__name__}: {exc}") from None
    if problems := rules.problems():
        raise SettingsError(f"{AUTOSCALE_SPEC}: " + "; ".join(problems))
    return rules


def setting_name(endpoint: str, colour: str) -> str:
    return f"autoscale-{endpoint}-{colour}"


def autoscale_setting(rules: AutoscaleRules, deployment_id: str, location: str) -> Any:
    """The AutoscaleSettingResource for one deployment (its ARM id) under these rules."""
    from azure.mgmt.monitor.models import (
        AutoscaleProfile,
        AutoscaleSettingResource,
        MetricTrigger,
        ScaleAction,
        ScaleCapacity,
        ScaleRule,
    )

    def rule(step: Step, operator: str, direction: str) -> Any:
        return ScaleRule(
            metric_trigger=MetricTrigger(
                metric_name=CPU_METRIC,
                metric_resource_uri=deployment_id,
                time_grain=timedelta(minutes=1),
                statistic="Average",
                time_window=timedelta(minutes=step.over_minutes),
                time_aggregation="Average",
                operator=operator,
                threshold=step.cpu_percent,
            ),
            scale_action=ScaleAction(
                direction=direction,
                type="ChangeCount",
                value=str(step.change),
                cooldown=timedelta(minutes=step.cooldown_minutes),
            ),
        )

    profile = AutoscaleProfile(
        name="cpu",
        capacity=ScaleCapacity(
            minimum=str(rules.minimum), maximum=str(rules.maximum), default=str(rules.default)
        ),
        rules=[
            rule(rules.scale_out, "GreaterThan", "Increase"),
            rule(rules.scale_in, "LessThan", "Decrease"),
        ],
    )
    return AutoscaleSettingResource(
        location=location,
        target_resource_uri=deployment_id,
        profiles=[profile],
        enabled=True,
    )
