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
    from deploy.cli import make_ml_client
    from deploy.settings import resolve_settings

    return make_ml_client(resolve_settings({}))


def test_workspace_tracking_uri_is_azureml(ml_client):
    from deploy.cli import workspace_tracking_uri
    from deploy.settings import resolve_settings

    uri = workspace_tracking_uri(ml_client, resolve_settings({}))
    assert uri.startswith("azureml://")


def test_champion_resolves_in_the_workspace_registry(ml_client):
    from deploy.cli import resolve_champion, workspace_tracking_uri
    from deploy.settings import resolve_settings

    settings = resolve_settings({})
    version = resolve_champion(workspace_tracking_uri(ml_client, settings), settings)
    assert version.isdigit()
