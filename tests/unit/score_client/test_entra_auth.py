"""Microsoft Entra tokens for aad_token endpoints: fetched, renewed before expiry, never shown."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest

from score_client import CredentialError, ScoringClient
from score_client._auth import ML_SCOPE, REFRESH_BEFORE_S, EntraTokenAuth

AZURE_URL = "https://iris-ep.westeurope.inference.ml.azure.com/score"
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
PREDICTION = {
    "species": "setosa",
    "probabilities": {"setosa": 0.9, "versicolor": 0.05, "virginica": 0.05},
}


@dataclass
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """azure-core's TokenCredential: a new token per call, valid for ``lifetime`` seconds."""

    def __init__(self, lifetime: float = 3600, fail: Exception | None = None):
        self.lifetime, self.fail = lifetime, fail
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kwargs):
        if self.fail:
            raise self.fail
        self.scopes.append(scopes)
        return Token(f"entra-token-{len(self.scopes)}", int(time.time() + self.lifetime))


def answering(seen, refuse_token: str | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if refuse_token and request.headers.get("authorization") == f"Bearer {refuse_token}":
            return httpx.Response(401, json={"message": "token revoked"})
        rows = json.loads(request.content)["input_data"]["data"]
        return httpx.Response(200, json=[PREDICTION] * len(rows))

    return handler


def client_with(credential, handler, url=AZURE_URL, **kwargs):
    return ScoringClient(
        url,
        credential=credential,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **kwargs,
    )


def test_a_token_for_azure_mls_scope_is_sent_and_reused_while_far_from_expiry():
    credential = FakeCredential(lifetime=3600)
    seen = []
    client = client_with(credential, answering(seen))
    client.predict([ROW])
    client.predict([ROW])
    assert seen == ["Bearer entra-token-1"] * 2 and credential.scopes == [(ML_SCOPE,)]


def test_a_token_near_its_expiry_is_renewed_before_it_is_sent():
    credential = FakeCredential(lifetime=REFRESH_BEFORE_S - 5)  # inside the renewal margin
    seen = []
    client = client_with(credential, answering(seen))
    client.predict([ROW])
    client.predict([ROW])
    assert seen == ["Bearer entra-token-1", "Bearer entra-token-2"]


def test_a_refused_token_is_renewed_once_and_the_request_sent_again():
    seen = []
    client = client_with(FakeCredential(), answering(seen, refuse_token="entra-token-1"))
    assert client.predict([ROW])[0].species == "setosa"
    assert seen == ["Bearer entra-token-1", "Bearer entra-token-2"]


def test_a_key_wins_over_a_credential():
    seen = []
    client = client_with(FakeCredential(), answering(seen), api_key="the-key")
    client.predict([ROW])
    assert seen == ["Bearer the-key"]


def test_a_local_server_without_a_key_gets_no_token(monkeypatch):
    monkeypatch.setattr(
        "score_client._client.default_credential",
        lambda: pytest.fail("a local server needs no credential"),
    )
    seen = []
    client = ScoringClient(
        "http://127.0.0.1:31311/score",
        http_client=httpx.Client(transport=httpx.MockTransport(answering(seen))),
    )
    client.predict([ROW])
    assert seen == [None]


def test_an_azure_endpoint_without_a_key_uses_the_default_credential(monkeypatch):
    credential = FakeCredential()
    monkeypatch.setattr("score_client._client.default_credential", lambda: credential)
    seen = []
    client = ScoringClient(
        AZURE_URL, http_client=httpx.Client(transport=httpx.MockTransport(answering(seen)))
    )
    client.predict([ROW])
    assert seen == ["Bearer entra-token-1"]


def test_a_failing_credential_is_one_clear_error_and_nothing_is_sent():
    seen = []
    failure = RuntimeError("DefaultAzureCredential failed to retrieve a token")
    client = client_with(FakeCredential(fail=failure), answering(seen))
    with pytest.raises(CredentialError, match="no Microsoft Entra token") as caught:
        client.predict([ROW])
    assert seen == [] and "DefaultAzureCredential failed" in str(caught.value)


def test_without_azure_identity_the_error_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_azure(name, *args, **kwargs):
        if name.startswith("azure.identity"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_azure)
    with pytest.raises(CredentialError, match="pip install azure-identity"):
        ScoringClient(AZURE_URL)


def test_the_token_never_appears_in_repr_or_errors():
    seen = []
    auth = EntraTokenAuth(FakeCredential())
    client = client_with(FakeCredential(), answering(seen))
    client.predict([ROW])
    assert auth.token() == "entra-token-1"
    for text in (repr(auth), repr(client), repr(client.settings)):
        assert "entra-token" not in text


def test_the_cli_says_in_one_line_when_no_token_can_be_had(monkeypatch, capsys):
    from score_client import cli

    def no_identity():
        raise CredentialError("no SCORING_KEY, and azure-identity is not installed")

    monkeypatch.setattr("score_client._client.default_credential", no_identity)
    assert cli.main(["--url", AZURE_URL, "health"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("score-client: no SCORING_KEY") and "Traceback" not in err
