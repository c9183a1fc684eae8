"""Microsoft Entra ID (Azure AD) tokens for an Azure ML endpoint with ``auth_mode: aad_token``.

The token comes from an azure-core ``TokenCredential`` (azure-identity's
``DefaultAzureCredential`` unless one is given) for Azure ML's scope, is fetched again
before it expires, and is never printed: not in ``repr``, logs or errors.
https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-online-endpoint
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any, Protocol, cast

import httpx

from score_client._exceptions import CredentialError

# The data plane of Azure ML online endpoints: azure-ai-ml 1.35's own invoke() asks for this
# scope (AAD_TOKEN_RESOURCE_ENDPOINT + "/.default") on an aad_token endpoint.
ML_SCOPE = "https://ml.azure.com/.default"
# Fetch a new token this long before the old one expires: a request in flight (30 s timeout,
# retries within 60 s) never carries a token that runs out on the way.
REFRESH_BEFORE_S = 300.0


class AccessToken(Protocol):
    token: str
    expires_on: int  # seconds since the epoch


class TokenCredential(Protocol):
    """What azure-core's credentials (azure-identity's, a managed identity, ...) provide."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken: ...


def default_credential() -> TokenCredential:
    """azure-identity's DefaultAzureCredential: environment, managed identity, Azure CLI, ..."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise CredentialError(
            "no SCORING_KEY, and azure-identity is not installed for a Microsoft Entra token: "
            "set SCORING_KEY, or `pip install azure-identity`"
        ) from None
    # It is a TokenCredential; its get_token names two keyword arguments the protocol folds
    # into **kwargs, which mypy reads as a different signature.
    return cast(TokenCredential, DefaultAzureCredential())


class EntraTokenAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request, renewed before it expires.

    Thread-safe: chunked scoring sends from several threads through one client. A 401
    gets one retry with a freshly fetched token (a revoked token, or a clock that drifted).
    """

    def __init__(
        self,
        credential: TokenCredential,
        scope: str = ML_SCOPE,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def __repr__(self) -> str:  # the token never appears
        return f"EntraTokenAuth(scope={self._scope!r})"

    def token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or self._expires_on - time.time() < REFRESH_BEFORE_S:
                self._token, self._expires_on = self._fetch()
            return self._token

    def _fetch(self) -> tuple[str, float]:
        try:
            access = self._credential.get_token(self._scope)
        except Exception as exc:  # azure-identity's errors name what it tried; never a token
            raise CredentialError(
                f"no Microsoft Entra token for {self._scope}: {type(exc).__name__}: {exc}"
            ) from None
        return access.token, float(access.expires_on)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(renew=True)}"
            yield request
