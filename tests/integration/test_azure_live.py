"""Against a real Azure ML workspace: skipped unless its variables are set.

Set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE (and be logged
in: az login, or OIDC in CI) to run. They create nothing billable: read-only checks.
"""

import os

import pytest

pytestmark = [pytest.mark.azure, pytest.mark.integration]

REQUIRED = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE")
missing = [v for v in REQUIRED if not os.environ.get(v)]
if missing:
    pytestmark.append(
        pytest.mark.skip(reason=f"Azure ML workspace not configured: {', '.join(missing)} unset")
    )


@pytest.fixture(scope="module")
def ml_client():
    from iris_ml_deploy.settings import resolve_settings
    from iris_ml_deploy.workspace import make_ml_client

    return make_ml_client(resolve_settings({}))


def test_workspace_tracking_uri_is_azureml(ml_client):
    from iris_ml_deploy.settings import resolve_settings
    from iris_ml_deploy.workspace import workspace_tracking_uri

    uri = workspace_tracking_uri(ml_client, resolve_settings({}))
    assert uri.startswith("azureml://")


def test_champion_resolves_in_the_workspace_registry(ml_client):
    from iris_ml_deploy.settings import resolve_settings
    from iris_ml_deploy.workspace import resolve_champion, workspace_tracking_uri

    settings = resolve_settings({})
    version = resolve_champion(workspace_tracking_uri(ml_client, settings), settings)
    assert version.isdigit()


def test_the_workspace_refuses_what_the_azure_shaped_server_refuses(ml_client):
    """What tests/azure_shaped.py assumes, asked of the real endpoint: each route it refuses
    answers ENDPOINT_NOT_FOUND here too (or, if Azure has added it since, this says which)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from iris_ml_deploy.settings import resolve_settings
    from iris_ml_deploy.workspace import workspace_tracking_uri

    settings = resolve_settings({})
    uri = workspace_tracking_uri(ml_client, settings)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("iris-classifier")
    assert experiment is not None, "train once (make azure-train) before this test"
    calls = {
        "aliases": lambda: client.get_model_version_by_alias(settings.model_name, "champion"),
        "logged models": lambda: client.search_logged_models(
            experiment_ids=[experiment.experiment_id], max_results=1
        ),
    }
    supported = []
    for name, call in calls.items():
        try:
            call()
            supported.append(name)
        except MlflowException as exc:
            if exc.error_code != "ENDPOINT_NOT_FOUND":
                supported.append(f"{name} (answered {exc.error_code})")
    assert not supported, f"the workspace now answers {supported}: update tests/azure_shaped.py"


def test_a_deployed_aad_token_endpoint_answers_score_client_with_an_entra_token():
    """The endpoint deployed with endpoint.yml's auth_mode aad_token, called as a user would:
    SCORING_URI set, no SCORING_KEY, a token from DefaultAzureCredential (az login / OIDC)."""
    from score_client import ScoringClient
    from score_client._backends import AZURE_HOST_SUFFIX

    uri = os.environ.get("SCORING_URI", "")
    if AZURE_HOST_SUFFIX not in uri or os.environ.get("SCORING_KEY"):
        pytest.skip("set SCORING_URI to a deployed endpoint (make azure-deploy), no SCORING_KEY")
    with ScoringClient(uri) as client:
        health = client.health()
    assert health.ok, health.error
