"""Deploy orchestration against a fake MLClient: first deploy, blue->green, rollbacks, dry run."""

import json

import pytest

from iris_ml_deploy.cli import main
from iris_ml_deploy.orchestrate import (
    Deployer,
    DeployError,
    check_smoke_response,
    load_deployment,
    load_endpoint,
)
from iris_ml_deploy.plan import EndpointState, PlanError, check_traffic, plan_deploy
from iris_ml_deploy.settings import (
    SPEC_DIR,
    AzureSettings,
    SettingsError,
    resolve_settings,
    validate_endpoint_name,
)
from tests.unit.deploy.fake_mlclient import FakeMLClient

SETTINGS = AzureSettings("sub", "rg", "ws", "iris-test-ep")
WRONG = json.dumps({"predictions": [{"species": "setosa"}] * 3})


def live_on_blue(version="3") -> FakeMLClient:
    client = FakeMLClient()
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    deployer.execute(deployer.plan(version))
    client.ws.calls.clear()
    return client


def test_first_deploy_creates_endpoint_and_blue_then_sends_it_all_traffic():
    client = FakeMLClient()
    lines = []
    deployer = Deployer(client, SETTINGS, say=lines.append)
    deployer.execute(deployer.plan("3"))
    blue = client.ws.deployments["blue"]
    assert blue.model == "iris-classifier:3"  # the loader drops the azureml: prefix
    assert blue.environment_variables["IRIS_MODEL_VERSION"] == "3"
    assert client.ws.endpoints["iris-test-ep"].traffic == {"blue": 100}
    assert client.ws.endpoints["iris-test-ep"].auth_mode == "aad_token"  # no shared key
    assert "endpoints.invoke blue" in client.ws.calls
    assert lines[0].startswith("[1/4] create the endpoint")


def test_blue_to_green_success_retires_blue_after_the_switch():
    client = live_on_blue()
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    plan = deployer.plan("4")
    assert (plan.live, plan.new) == ("blue", "green")
    assert plan.steps[-1].describe() == "delete deployment 'blue'"
    deployer.execute(plan)
    assert client.ws.endpoints["iris-test-ep"].traffic == {"green": 100}
    assert set(client.ws.deployments) == {"green"}  # no idle colour left costing money
    assert deployer.status()["deployments"] == {"green": "4"}
    # The next deploy goes back to blue.
    assert deployer.plan("5").new == "blue"


def test_keep_old_leaves_blue_idle_for_an_instant_rollback():
    client = live_on_blue()
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    deployer.execute(deployer.plan("4", keep_old=True))
    assert client.ws.endpoints["iris-test-ep"].traffic == {"green": 100, "blue": 0}
    assert deployer.status()["deployments"] == {"blue": "3", "green": "4"}


def test_a_failed_retirement_keeps_the_new_colour_live_and_says_what_is_left():
    client = live_on_blue()
    client.ws.fail_delete = True
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    with pytest.raises(DeployError) as info:
        deployer.execute(deployer.plan("4"))
    assert not info.value.rolled_back and "'green' is live" in str(info.value)
    assert client.ws.endpoints["iris-test-ep"].traffic == {"green": 100}


def test_smoke_test_failure_rolls_back_and_deletes_the_new_colour():
    client = live_on_blue()
    client.ws.answers["green"] = WRONG
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    with pytest.raises(DeployError) as info:
        deployer.execute(deployer.plan("4"))
    assert info.value.rolled_back and "smoke test" in str(info.value)
    assert client.ws.endpoints["iris-test-ep"].traffic == {"blue": 100}
    assert "green" not in client.ws.deployments
    assert "deployments.delete green" in client.ws.calls


def test_provisioning_failure_rolls_back():
    client = live_on_blue()
    client.ws.fail_provisioning.add("green")
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    with pytest.raises(DeployError, match="ResourceNotReady") as info:
        deployer.execute(deployer.plan("4"))
    assert info.value.rolled_back
    assert client.ws.endpoints["iris-test-ep"].traffic == {"blue": 100}
    assert "green" not in client.ws.deployments


def test_canary_failure_returns_all_traffic_to_the_old_colour():
    client = live_on_blue()
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    plan = deployer.plan("4", canary=10, mirror=20)
    kinds = [s.kind for s in plan.steps]
    assert kinds == [
        "create_deployment",
        "smoke_test",
        "set_mirror",
        "smoke_test",
        "set_mirror",
        "set_traffic",
        "smoke_test",
        "set_traffic",
        "delete_deployment",
    ]
    answers = iter([None, None, WRONG])  # fails at the canary's smoke test
    original = client.online_endpoints.invoke

    def invoke(**kwargs):
        body = next(answers)
        return body if body else original(**kwargs)

    client.online_endpoints.invoke = invoke
    with pytest.raises(DeployError):
        deployer.execute(plan)
    endpoint = client.ws.endpoints["iris-test-ep"]
    assert endpoint.traffic == {"blue": 100} and not endpoint.mirror_traffic
    assert any("traffic={'blue': 90, 'green': 10}" in c for c in client.ws.calls)


def test_a_first_deploy_that_fails_leaves_no_deployment_and_no_traffic():
    client = FakeMLClient()
    client.ws.answers["blue"] = WRONG
    deployer = Deployer(client, SETTINGS, say=lambda s: None)
    with pytest.raises(DeployError):
        deployer.execute(deployer.plan("1"))
    assert client.ws.deployments == {} and not client.ws.endpoints["iris-test-ep"].traffic


def test_cli_deploy_exit_codes_and_dry_run_touches_nothing(capsys, monkeypatch):
    client = live_on_blue()
    assert (
        main(
            [
                "--endpoint",
                "iris-test-ep",
                "deploy",
                "--dry-run",
                "--assume-live",
                "blue",
                "--version",
                "4",
            ],
            ml_client=client,
        )
        == 0
    )
    assert client.ws.calls == []
    out = capsys.readouterr().out
    assert "create or update deployment 'green'" in out and "{'green': 100, 'blue': 0}" in out
    client.ws.answers["green"] = WRONG
    assert main(["--endpoint", "iris-test-ep", "deploy", "--version", "4"], ml_client=client) == 3
    assert client.ws.endpoints["iris-test-ep"].traffic == {"blue": 100}
    assert main(["--endpoint", "iris-test-ep", "teardown"], ml_client=client) == 2
    assert main(["--endpoint", "iris-test-ep", "teardown", "--yes"], ml_client=client) == 0
    assert client.ws.endpoints == {}


def test_status_shows_uri_and_traffic_but_no_key(capsys):
    client = live_on_blue()
    assert main(["--endpoint", "iris-test-ep", "status"], ml_client=client) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["traffic"] == {"blue": 100} and status["scoring_uri"].endswith("/score")
    assert "key" not in json.dumps(status).replace("auth_mode", "").replace('"key"', "")


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"blue": 60, "green": 30}, None, "sum to 100"),
        ({"blue": 120}, None, "within 0..100"),
        ({"blue": 100}, {"green": 60}, "mirror traffic must be within"),
        ({"blue": 100}, {"blue": 10}, "already takes live traffic"),
    ],
)
def test_traffic_rules(traffic, mirror, message):
    with pytest.raises(PlanError, match=message):
        check_traffic(traffic, mirror)


def test_plan_rejects_bad_canary_and_mirror():
    state = EndpointState(True, {"blue": 100})
    with pytest.raises(PlanError):
        plan_deploy(state, "2", canary=100)
    with pytest.raises(PlanError):
        plan_deploy(state, "2", mirror=51)


@pytest.mark.parametrize("name", ["ab", "1abc", "abc-", "a_b_c", "x" * 33])
def test_bad_endpoint_names_are_refused(name):
    with pytest.raises(SettingsError):
        validate_endpoint_name(name)


def test_settings_precedence_flag_env_config(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"subscription_id": "c-sub", "resource_group": "c-rg", "workspace_name": "c-ws"})
    )
    env = {"AZURE_RESOURCE_GROUP": "e-rg"}
    s = resolve_settings({"workspace": "f-ws"}, environ=env, config_path=config)
    assert (s.subscription_id, s.resource_group, s.workspace) == ("c-sub", "e-rg", "f-ws")
    with pytest.raises(SettingsError, match="AZURE_SUBSCRIPTION_ID"):
        resolve_settings({}, environ={}, config_path=tmp_path / "none.json").require_workspace()


def test_smoke_response_check():
    check_smoke_response(
        json.dumps([{"species": s} for s in ("setosa", "versicolor", "virginica")])
    )
    for bad in ("not json", WRONG, json.dumps({"predictions": "x"})):
        with pytest.raises(DeployError):
            check_smoke_response(bad)


def test_specs_load_with_overrides():
    assert load_endpoint(SETTINGS).name == "iris-test-ep"
    d = load_deployment(SETTINGS, "green", "9")
    assert (d.name, d.endpoint_name, d.model) == ("green", "iris-test-ep", "iris-classifier:9")


@pytest.mark.parametrize(("gate", "code"), [("passed", 0), ("rejected", 4)])
def test_train_submits_the_command_job_streams_it_and_reads_the_gate(capsys, tmp_path, gate, code):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/ws.db"
    store = MlflowClient(tracking_uri=uri)
    run = store.create_run(store.create_experiment("iris-classifier"), tags={"gate": gate})
    submitted, streamed = [], []

    class Jobs:
        def create_or_update(self, job):
            submitted.append(job)
            job.name = run.info.run_id  # in Azure ML the job name is the MLflow run id
            return job

        def stream(self, name):
            streamed.append(name)

    class Workspaces:
        def get(self, name):
            return type("W", (), {"mlflow_tracking_uri": uri})()

    client = FakeMLClient()
    client.jobs, client.workspaces = Jobs(), Workspaces()
    assert main(["train", "--compute", "cpu-small"], ml_client=client) == code
    [job] = submitted
    assert job.compute == "cpu-small"
    assert job.command.startswith("python train.py --C ${{inputs.C}}")
    assert job.command.rstrip().endswith("|| test $? -eq 3")  # a rejection completes the job
    assert job.environment.conda_file is not None  # built from the project's conda.yaml
    assert streamed == [run.info.run_id]
    out = capsys.readouterr().out
    assert f"Gate: {gate}" in out
    assert ("Nothing to deploy" in out) is (gate == "rejected")


def test_the_job_runs_on_serverless_compute_unless_a_cluster_is_named():
    from azure.ai.ml import load_job

    job = load_job(SPEC_DIR / "train-job.yml")
    assert job.compute is None and job.resources.instance_type == "Standard_DS3_v2"


def test_commands_that_touch_an_endpoint_need_its_name(capsys):
    assert main(["status"], ml_client=FakeMLClient()) == 2
    assert "unique per Azure region" in capsys.readouterr().err


def test_monitoring_watches_the_live_colour_against_the_training_split(capsys):
    import csv
    import io

    from iris_ml.contract import FEATURE_NAMES

    client = live_on_blue()
    assert main(["--endpoint", "iris-test-ep", "monitor"], ml_client=client) == 0
    [reference] = client.ws.data["iris-training"]
    rows = list(csv.DictReader(io.StringIO(reference.contents["train.csv"])))
    assert len(rows) == 105 and list(rows[0]) == [*FEATURE_NAMES, "species"]  # 70% of 150
    assert "read_delimited" in reference.contents["MLTable"]
    schedule = client.ws.schedules["iris-classifier-monitor"]
    target = schedule.create_monitor.monitoring_target.endpoint_deployment_id
    assert target == "azureml:iris-test-ep:blue"
    for signal in schedule.create_monitor.monitoring_signals.values():
        assert signal.reference_data.input_data.path == "azureml:iris-training:1"
    assert schedule.trigger.frequency == "day"


def test_monitoring_needs_a_live_colour():
    client = FakeMLClient()
    assert main(["--endpoint", "iris-test-ep", "monitor"], ml_client=client) != 0
    assert client.ws.schedules == {}


def test_the_monitor_dry_run_uses_no_credentials(capsys):
    assert main(["--endpoint", "iris-test-ep", "monitor", "--dry-run"], ml_client=None) == 0
    out = capsys.readouterr().out
    assert "feature_drift" in out and "species_drift" in out


WORKSPACE_FLAGS = ["--subscription-id", "sub", "--resource-group", "rg", "--workspace", "ws"]


def autoscale(client: FakeMLClient) -> int:
    """`python -m deploy autoscale` against the fakes (the monitor client shares the state)."""
    from tests.unit.deploy.fake_mlclient import FakeMonitorClient

    argv = [*WORKSPACE_FLAGS, "--endpoint", "iris-test-ep", "autoscale"]
    return main(argv, ml_client=client, monitor_client=FakeMonitorClient(client.ws))


def test_autoscale_applies_the_cpu_rules_to_the_live_colour():
    from iris_ml_deploy.autoscale import CPU_METRIC, load_rules

    client = live_on_blue()
    assert autoscale(client) == 0
    group, setting = client.ws.autoscale["autoscale-iris-test-ep-blue"]
    assert group == SETTINGS.resource_group
    rules = load_rules()
    [profile] = setting.profiles
    assert setting.target_resource_uri.endswith("/onlineEndpoints/iris-test-ep/deployments/blue")
    assert (profile.capacity.minimum, profile.capacity.maximum) == (
        str(rules.minimum),
        str(rules.maximum),
    )
    out, into = profile.rules
    assert out.metric_trigger.metric_name == CPU_METRIC and out.scale_action.direction == "Increase"
    assert out.metric_trigger.threshold == rules.scale_out.cpu_percent
    assert into.metric_trigger.operator == "LessThan" and into.scale_action.direction == "Decrease"
    assert setting.location == "westeurope"
    # What goes over the wire: the SDK's serializer writes the durations as ISO 8601.
    wire = setting.serialize()["properties"]["profiles"][0]["rules"][0]
    assert wire["metricTrigger"]["timeGrain"] == "PT1M"
    assert wire["metricTrigger"]["timeWindow"] == f"PT{rules.scale_out.over_minutes}M"
    assert wire["scaleAction"]["cooldown"] == f"PT{rules.scale_out.cooldown_minutes}M"


def test_autoscale_needs_a_live_colour():
    client = FakeMLClient()
    assert autoscale(client) != 0
    assert client.ws.autoscale == {}


def test_the_autoscale_dry_run_uses_no_credentials(capsys):
    assert main(["autoscale", "--dry-run"]) == 0
    assert "instances" in capsys.readouterr().out


def test_without_an_azure_login_a_command_says_so_in_one_line(capsys):
    from azure.core.exceptions import ClientAuthenticationError

    class Refusing:
        def __getattr__(self, name):
            # What DefaultAzureCredential raises: one paragraph per credential it tried.
            raise ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token.\n"
                "Attempted credentials:\n\tEnvironmentCredential: incomplete\n"
                "\tAzureCliCredential: Please run 'az login' to set up an account\n"
            )

    client = FakeMLClient()
    client.online_endpoints = Refusing()
    assert main(["--endpoint", "iris-test-ep", "status"], ml_client=client) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `az login`" in err and "Attempted" not in err


def test_the_endpoint_plan_names_the_auth_mode_endpoint_yml_asks_for():
    plan = plan_deploy(EndpointState(exists=False), "2", auth_mode="aad_token")
    assert plan.steps[0].describe() == (
        "create the endpoint (callers send a Microsoft Entra ID token: "
        "endpoint.yml's auth_mode aad_token)"
    )
    from iris_ml_deploy.specs import endpoint_auth_mode

    assert endpoint_auth_mode() == "aad_token"  # what the shipped endpoint.yml asks for


def test_the_monitor_dry_run_reads_as_the_yaml_does(capsys):
    assert main(["monitor", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "object at 0x" not in out
    assert (
        "species_drift: prediction_drift; alert on categorical population_stability_index over 0.2"
        in out
    )


def test_batch_dry_run_says_the_plan_in_the_specs_words_and_touches_nothing(capsys):
    client = FakeMLClient()
    args = ["batch", "azureml:iris-files:1", "--batch-endpoint", "iris-b1", "--dry-run"]
    assert main([*args, "--version", "7"], ml_client=client) == 0
    assert client.ws.calls == []
    out = capsys.readouterr().out
    assert "batch endpoint 'iris-b1' (auth_mode: aad_token)" in out
    assert "model iris-classifier:7" in out and "error_threshold 0" in out
    assert "mini_batch_size 10" in out and "max_retries 3" in out
    assert "azureml:iris-files:1" in out


def test_batch_creates_the_endpoint_then_the_deployment_makes_it_default_and_starts_a_job(
    capsys,
):
    client = FakeMLClient()
    args = ["batch", "azureml:iris-files:1", "--batch-endpoint", "iris-b1", "--version", "7"]
    assert main([*args, "--no-stream"], ml_client=client) == 0
    assert client.ws.calls == [
        "batch_endpoints.create_or_update iris-b1 default=None",
        "batch_deployments.create_or_update champion iris-classifier:7",
        "batch_endpoints.create_or_update iris-b1 default=champion",
        "batch_endpoints.invoke iris-b1 champion",
    ]
    deployment = client.ws.batch_deployments[("iris-b1", "champion")]
    assert deployment.settings.environment_variables["IRIS_MODEL_VERSION"] == "7"
    assert client.ws.batch_jobs == [("batchjob-1", "azureml:iris-files:1")]
    assert "Batch job batchjob-1 on iris-b1 (iris-classifier version 7) started" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("name", [None, "x", "1batch", "b" * 33])
def test_batch_needs_a_valid_batch_endpoint_name(capsys, monkeypatch, name):
    monkeypatch.delenv("IRIS_BATCH_ENDPOINT_NAME", raising=False)
    flag = ["--batch-endpoint", name] if name else []
    assert main(["batch", "in/", *flag, "--version", "1", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploy: ") and "batch endpoint name" in err
