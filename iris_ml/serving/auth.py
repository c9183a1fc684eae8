"""Key auth on the project's server: ``Authorization: Bearer <key>`` on every route but the probes.

The keys come from ``$SERVING_KEY`` (one key, or two separated by a comma while they
rotate) or ``--key-file`` (one key a line; ``#`` comments and blank lines skipped); never
from argv, where ``ps`` shows them. Workers keep only each key's SHA-256 and compare
digests with ``hmac.compare_digest`` against every key, so neither the time taken nor
the key that matched tells a caller anything. The standard library only: the launcher
checks the keys before it starts anything, and the workers load them the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEY_ENV = "SERVING_KEY"
MAX_KEYS = 2  # the current key and the next one, while clients move over
MIN_KEY_LENGTH = 16
# RFC 6750's b64token: what a Bearer credential may hold (no comma, no space).
_KEY = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Liveness and readiness probes carry no key (Kubernetes, Docker, Azure ML's probes).
OPEN_PATHS = frozenset({"/ping", "/health", "/v2/health/live", "/v2/health/ready"})
REALM = 'Bearer realm="iris-ml"'
LOOPBACK_NAMES = ("localhost",)


class ServingKeyError(ValueError):
    """The configured keys cannot be used; ``str(self)`` says why in one line, without them."""


def parse_keys(text: str, where: str) -> tuple[str, ...]:
    """The keys in ``text`` (comma- or line-separated), or ServingKeyError naming ``where``."""
    keys = tuple(
        part.strip()
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for part in line.split(",")
        if part.strip()
    )
    if not keys:
        raise ServingKeyError(f"{where} holds no key")
    if len(keys) > MAX_KEYS:
        raise ServingKeyError(
            f"{where} holds {len(keys)} keys: at most {MAX_KEYS} (the current one and the next)"
        )
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_LENGTH or not _KEY.fullmatch(key):
            raise ServingKeyError(
                f"{where}: key {number} must be at least {MIN_KEY_LENGTH} characters of"
                " letters, digits and -._~+/ (make one: python -c"
                " 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    return keys


def configured_keys(key_file: str | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """The keys of ``--key-file`` or ``$SERVING_KEY``; () when neither is given."""
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ServingKeyError(f"--key-file {key_file}: cannot be read ({reason})") from None
        return parse_keys(text, f"--key-file {key_file}")
    if env.get(KEY_ENV, "").strip():
        return parse_keys(env[KEY_ENV], f"${KEY_ENV}")
    return ()


@dataclass(frozen=True)
class ServingKeys:
    """The digests of the keys a server accepts."""

    digests: tuple[bytes, ...]

    @classmethod
    def of(cls, keys: tuple[str, ...]) -> ServingKeys:
        return cls(tuple(_digest(key.encode()) for key in keys))

    def accepts(self, authorization: bytes | None) -> bool:
        """Whether an ``Authorization`` header carries one of the keys."""
        scheme, _, token = (authorization or b"").strip().partition(b" ")
        presented = _digest(token.strip())
        matched = False
        for digest in self.digests:  # every key compared, whichever matches
            matched |= hmac.compare_digest(presented, digest)
        return matched and scheme.lower() == b"bearer"


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def needs_key(path: str) -> bool:
    return path not in OPEN_PATHS


def challenge(authorization: bytes | None) -> tuple[str, tuple[tuple[bytes, bytes], ...]]:
    """The 401's message and its ``WWW-Authenticate`` header (RFC 6750, section 3)."""
    if not authorization:
        return (
            "this server needs a key: send Authorization: Bearer <key>",
            ((b"www-authenticate", REALM.encode()),),
        )
    return (
        "the key was not accepted",
        ((b"www-authenticate", f'{REALM}, error="invalid_token"'.encode()),),
    )


def open_to_the_network(host: str, keys: tuple[str, ...], allowed: bool = False) -> str | None:
    """Why serving on ``host`` with these keys is refused: a network address with no key."""
    if keys or allowed or is_loopback(host):
        return None
    return (
        f"--host {host} would open the server to the network without a key: set"
        f" ${KEY_ENV} (or --key-file), or say --allow-unauthenticated on purpose"
    )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that resolves elsewhere, or 0.0.0.0's spellings
