"""``python -m deploy``: validate specs, train on Azure ML, deploy blue/green, inspect, tear down.

Credentials come from ``DefaultAzureCredential`` (az login, a managed identity,
or GitHub's OIDC through azure/login); no key is ever printed. ``--dry-run``
prints the plan and needs no credentials.

Exit status: 0 success; 2 bad settings or specs; 3 deploy failed and was rolled
back; 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

from .plan import EndpointState, PlanError, plan_deploy
from .settings import AzureSettings, SettingsError, resolve_settings
from .specs import endpoint_auth_mode, validate_specs
from .workspace import (
    gate_outcome,
    make_ml_client,
    make_monitor_client,
    resolve_champion,
    workspace_tracking_uri,
)

if TYPE_CHECKING:
    from .orchestrate import Deployer

EXIT_OK, EXIT_ERROR, EXIT_SETTINGS, EXIT_ROLLED_BACK, EXIT_NOT_PROMOTED = 0, 1, 2, 3, 4


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--subscription-id", help="default: $AZURE_SUBSCRIPTION_ID or config.json")
    p.add_argument("--resource-group", help="default: $AZURE_RESOURCE_GROUP or config.json")
    p.add_argument("--workspace", help="default: $AZUREML_WORKSPACE or config.json")
    p.add_argument(
        "--endpoint",
        help="endpoint name, unique in its Azure region (default: $IRIS_ENDPOINT_NAME; required "
        "for deploy, status, logs and teardown)",
    )
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    p.add_argument("--alias", default=DEFAULT_ALIAS)
    sub = p.add_subparsers(dest="command", required=True)
    _add_workspace_commands(sub)
    _add_deploy_command(sub)
    _add_batch_command(sub)
    _add_operations_commands(sub)
    return p


def _add_workspace_commands(sub: Any) -> None:
    sub.add_parser(
        "validate",
        help="load every YAML offline with azure-ai-ml and check names and traffic rules",
    )
    sub.add_parser(
        "tracking-uri",
        help="print the workspace's MLflow tracking URI (for export MLFLOW_TRACKING_URI=...)",
    )
    train = sub.add_parser("train", help="submit deploy/azureml/train-job.yml and stream its logs")
    train.add_argument("--compute", help="compute cluster (default: the spec's)")
    train.add_argument("--no-stream", action="store_true")


def _add_deploy_command(sub: Any) -> None:
    deploy = sub.add_parser(
        "deploy", help="put the champion live on the idle colour (blue/green), with rollback"
    )
    deploy.add_argument("--version", help="model version (default: the registry's champion)")
    deploy.add_argument(
        "--canary",
        type=int,
        default=0,
        help="percent of live traffic to the new colour before the full switch",
    )
    deploy.add_argument(
        "--mirror",
        type=int,
        default=0,
        help="percent of traffic mirrored to the new colour first (<= 50)",
    )
    deploy.add_argument(
        "--keep-old",
        action="store_true",
        help="keep the previous colour (at 0%% traffic) for an instant rollback; it costs as "
        "much as the live one and holds core quota (default: delete it after the switch)",
    )
    _add_dry_run_flags(deploy)
    deploy.add_argument(
        "--assume-live",
        choices=["blue", "green"],
        help="with --dry-run: plan as if this colour were live",
    )


def _add_dry_run_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--dry-run", action="store_true", help="print the plan; no credentials, no changes"
    )
    command.add_argument(
        "--tracking-uri",
        help="with --dry-run: the MLflow registry to find the champion in "
        "(default: $MLFLOW_TRACKING_URI; without either the plan names no version)",
    )


def _add_batch_command(sub: Any) -> None:
    batch = sub.add_parser(
        "batch", help="create/update the batch endpoint, deploy the champion to it, score INPUT"
    )
    batch.add_argument(
        "input", metavar="INPUT",
        help="a folder of CSV files: azureml:NAME:VERSION, azureml://datastores/..., or local",
    )  # fmt: skip
    batch.add_argument(
        "--batch-endpoint", help="batch endpoint name, unique in its region "
        "(default: $IRIS_BATCH_ENDPOINT_NAME)",
    )  # fmt: skip
    batch.add_argument("--version", help="model version (default: the registry's champion)")
    batch.add_argument("--no-stream", action="store_true", help="start the job; do not wait")
    _add_dry_run_flags(batch)


def _add_operations_commands(sub: Any) -> None:
    monitor = sub.add_parser(
        "monitor", help="schedule Azure ML model monitoring of the live colour (monitor.yml)"
    )
    monitor.add_argument("--dry-run", action="store_true", help="check monitor.yml; no credentials")
    autoscale = sub.add_parser(
        "autoscale", help="apply autoscale.yml's CPU rules to the live colour (Azure Monitor)"
    )
    autoscale.add_argument("--dry-run", action="store_true", help="check the rules; no credentials")
    sub.add_parser("status", help="scoring URI, traffic and deployments (no keys)")
    logs = sub.add_parser("logs", help="container logs of one colour")
    logs.add_argument("colour", choices=["blue", "green"])
    logs.add_argument("--lines", type=int, default=100)
    teardown = sub.add_parser(
        "teardown", help="delete the endpoint and its deployments (stops the cost)"
    )
    teardown.add_argument("--yes", action="store_true", help="required: confirms the deletion")


def main(
    argv: Sequence[str] | None = None, ml_client: Any = None, monitor_client: Any = None
) -> int:
    args = build_parser().parse_args(argv)
    # azure-ai-ml warns once per experimental class it builds (RequestLogging, DataCollector:
    # fields of our own deployment.yml), which a user can do nothing about.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    flags = {name: getattr(args, name) for name in SETTING_FLAGS}
    try:
        settings = resolve_settings(flags)
        offline = _offline_command(args)
        if offline is not None:
            return offline(args, settings)
        return _with_client(args, settings, ml_client, monitor_client)
    except (SettingsError, PlanError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return EXIT_SETTINGS


NOT_LOGGED_IN = (
    "no Azure credential worked: run `az login` (in CI: azure/login with OIDC, which sets "
    "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE)"
)

# The global flags resolve_settings reads (with the environment and config.json).
SETTING_FLAGS = (
    "subscription_id",
    "resource_group",
    "workspace",
    "endpoint",
    "model_name",
    "alias",
)

Command = Callable[[argparse.Namespace, AzureSettings], int]


def _offline_command(args: argparse.Namespace) -> Command | None:
    """The commands that need no credentials: validate, and every --dry-run."""
    if args.command == "validate":
        return _validate
    if getattr(args, "dry_run", False):
        dry_runs = {
            "deploy": _deploy_dry_run,
            "batch": _batch_dry_run,
            "monitor": _monitor_dry_run,
            "autoscale": _autoscale_dry_run,
        }
        return dry_runs[args.command]
    return None


def _validate(args: argparse.Namespace, settings: AzureSettings) -> int:
    problems = validate_specs(endpoint=settings.endpoint)
    for problem in problems:
        print(f"INVALID {problem}")
    print("specs valid" if not problems else f"{len(problems)} problem(s)")
    return EXIT_SETTINGS if problems else EXIT_OK


def _dry_run_version(args: argparse.Namespace, settings: AzureSettings) -> str:
    """--version, else the champion of --tracking-uri/$MLFLOW_TRACKING_URI, else a placeholder."""
    registry = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    return args.version or (
        resolve_champion(registry, settings) if registry else f"<champion of {settings.model_name}>"
    )


def _deploy_dry_run(args: argparse.Namespace, settings: AzureSettings) -> int:
    version = _dry_run_version(args, settings)
    live = args.assume_live
    state = EndpointState(exists=bool(live), traffic={live: 100} if live else {})
    plan = plan_deploy(
        state, version, canary=args.canary, mirror=args.mirror, keep_old=args.keep_old,
        auth_mode=endpoint_auth_mode(),
    )  # fmt: skip
    assumed = f"'{live}' live" if live else "a new endpoint"
    print(
        f"Plan for endpoint {settings.endpoint or '<$IRIS_ENDPOINT_NAME>'}, "
        f"{settings.model_name} version {version} "
        f"(no credentials used; assuming {assumed}):"
    )
    for number, step in enumerate(plan.steps, 1):
        print(f"  {number}. {step.describe()}")
    print("  on any failure once the new colour exists: restore the previous traffic and delete it")
    return EXIT_OK


def _batch_dry_run(args: argparse.Namespace, settings: AzureSettings) -> int:
    from .batch import batch_endpoint_name, describe_batch_plan, load_batch_specs

    version = _dry_run_version(args, settings)
    specs = load_batch_specs(settings, batch_endpoint_name(args.batch_endpoint), version)
    print(f"Plan for {settings.model_name} version {version} (no credentials used):")
    for number, step in enumerate(describe_batch_plan(specs, args.input), 1):
        print(f"  {number}. {step}")
    return EXIT_OK


def _autoscale_dry_run(args: argparse.Namespace, settings: AzureSettings) -> int:
    from .autoscale import load_rules

    rules = load_rules()  # a SettingsError says what is wrong
    print(
        f"Plan (no credentials used): {rules.minimum}-{rules.maximum} instances "
        f"(default {rules.default}) on the live colour; +{rules.scale_out.change} above "
        f"{rules.scale_out.cpu_percent:g}% CPU for {rules.scale_out.over_minutes} min, "
        f"-{rules.scale_in.change} below {rules.scale_in.cpu_percent:g}% for "
        f"{rules.scale_in.over_minutes} min"
    )
    return EXIT_OK


def _monitor_dry_run(args: argparse.Namespace, settings: AzureSettings) -> int:
    from .monitoring import REFERENCE_DATA, describe_signal, load_monitor, monitor_problems

    endpoint = settings.endpoint or "<$IRIS_ENDPOINT_NAME>"
    schedule = load_monitor(endpoint, "<live colour>", "<new version>")
    problems = monitor_problems(schedule)
    for problem in problems:
        print(f"INVALID monitor.yml: {problem}")
    if problems:
        return EXIT_SETTINGS
    print(f"Plan (no credentials used): register {REFERENCE_DATA} (Fisher's training split),")
    print(f"then schedule '{schedule.name}' on {endpoint}'s live colour:")
    for name, signal in schedule.create_monitor.monitoring_signals.items():
        print(f"  {describe_signal(name, signal)}")
    return EXIT_OK


@dataclass(frozen=True)
class Workspace:
    """What a command that talks to Azure gets: its flags, the settings and the clients."""

    args: argparse.Namespace
    settings: AzureSettings
    client: Any
    deployer: Deployer
    monitor_client: Any = None


def _with_client(
    args: argparse.Namespace, settings: AzureSettings, ml_client: Any, monitor_client: Any
) -> int:
    from azure.core.exceptions import ClientAuthenticationError

    from .orchestrate import Deployer, DeployError

    if args.command not in ("train", "tracking-uri", "batch"):
        settings.require_endpoint()
    # DefaultAzureCredential logs a warning per credential it tried: the one line below says it.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    client = ml_client or make_ml_client(settings)
    ws = Workspace(args, settings, client, Deployer(client, settings), monitor_client)
    try:
        return ONLINE_COMMANDS[args.command](ws)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return EXIT_ROLLED_BACK if exc.rolled_back else EXIT_ERROR
    except ClientAuthenticationError:
        print(f"deploy: {NOT_LOGGED_IN}", file=sys.stderr)
        return EXIT_ERROR


def _tracking_uri(ws: Workspace) -> int:
    print(workspace_tracking_uri(ws.client, ws.settings))
    return EXIT_OK


def _train(ws: Workspace) -> int:
    job = ws.deployer.submit_training(compute=ws.args.compute)
    print(f"Submitted job {job.name}: {getattr(job, 'studio_url', '')}")
    if ws.args.no_stream:
        return EXIT_OK
    ws.client.jobs.stream(job.name)
    gate = gate_outcome(workspace_tracking_uri(ws.client, ws.settings), job.name)
    print(f"Gate: {gate}")
    if gate != "passed":
        print("Nothing to deploy: the champion did not change.")
        return EXIT_NOT_PROMOTED
    return EXIT_OK


def _autoscale(ws: Workspace) -> int:
    from .autoscale import load_rules

    rules = load_rules()
    ws.deployer.autoscale(ws.monitor_client or make_monitor_client(ws.settings), rules)
    print(f"Autoscale on: {rules.minimum}-{rules.maximum} instances by CPU")
    return EXIT_OK


def _monitor(ws: Workspace) -> int:
    schedule = ws.deployer.create_monitor()
    trigger = schedule.trigger
    print(f"Schedule {schedule.name}: drift checks every {trigger.interval} {trigger.frequency}")
    return EXIT_OK


def _deploy(ws: Workspace) -> int:
    args, settings = ws.args, ws.settings
    version = args.version or resolve_champion(
        workspace_tracking_uri(ws.client, settings), settings
    )
    plan = ws.deployer.plan(version, canary=args.canary, mirror=args.mirror, keep_old=args.keep_old)
    print(
        f"Deploying {settings.model_name} version {version}: live={plan.live or 'none'}, new={plan.new}"
    )
    ws.deployer.execute(plan)
    status = ws.deployer.status()
    print(f"Live: {status['traffic']} at {status['scoring_uri']}")
    return EXIT_OK


def _batch(ws: Workspace) -> int:
    from .batch import batch_endpoint_name, load_batch_specs, run_batch

    args, settings = ws.args, ws.settings
    name = batch_endpoint_name(args.batch_endpoint)
    version = args.version or resolve_champion(
        workspace_tracking_uri(ws.client, settings), settings
    )
    job = run_batch(ws.client, load_batch_specs(settings, name, version), args.input)
    print(f"Batch job {job.name} on {name} ({settings.model_name} version {version}) started")
    if args.no_stream:
        return EXIT_OK
    ws.client.jobs.stream(job.name)
    print(f"Done: outputs of job {job.name} (az ml job download --name {job.name} --all)")
    return EXIT_OK


def _status(ws: Workspace) -> int:
    print(json.dumps(ws.deployer.status(), indent=2))
    return EXIT_OK


def _logs(ws: Workspace) -> int:
    print(ws.deployer.logs(ws.args.colour, ws.args.lines))
    return EXIT_OK


def _teardown(ws: Workspace) -> int:
    if not ws.args.yes:
        print("deploy: teardown deletes the endpoint; pass --yes to confirm", file=sys.stderr)
        return EXIT_SETTINGS
    ws.deployer.teardown()
    print(f"Deleted endpoint {ws.settings.endpoint}")
    return EXIT_OK


ONLINE_COMMANDS: dict[str, Callable[[Workspace], int]] = {
    "tracking-uri": _tracking_uri,
    "train": _train,
    "autoscale": _autoscale,
    "monitor": _monitor,
    "deploy": _deploy,
    "batch": _batch,
    "status": _status,
    "logs": _logs,
    "teardown": _teardown,
}
