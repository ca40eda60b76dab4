"""Bearer tokens for the API: who is calling, proven by a signature the API can check.

In production the API only verifies: an identity provider signs RS256 tokens with its
private key and the API holds the public key (a PEM, or a local JWKS file whose keys are
chosen by the token's ``kid``). HS256 with a shared secret serves development and tests,
where :func:`mint_token` issues tokens.

The algorithm is pinned to the configured one before any key is chosen, so ``alg: none``
and an HS256 token "signed" with the RSA public key are refused. Every token must carry
``exp`` and a ``sub`` that is an email address by the one rule of ``emails``. ``iss`` and
``aud`` are checked when configured. A token that carries an ``aud`` is refused when no
audience is configured: a token meant for another service must not open this one. An
``iss`` is ignored when no issuer is configured. Refusals raise :class:`InvalidTokenError`,
whose reason names the rule that failed and never echoes the token or key material, so the
API can return it to the client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeGuard

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import HMACAlgorithm

from prosora_pipelines.lib.access.emails import normalized_email

MIN_HMAC_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048
# Far above any real token; refusing early bounds the work an anonymous caller can cause.
MAX_TOKEN_CHARS = 8192
REQUIRED_CLAIMS = ("exp", "sub")


class TokenConfigError(ValueError):
    """Token settings that cannot work, raised when the API starts, not on a request.
    ``field`` names the :class:`TokenConfig` field at fault, so a caller can name the
    setting it came from."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidTokenError(Exception):
    """A refused token. ``reason`` is safe to show the client: it names the rule that
    failed and holds neither the token nor key material."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenConfig:
    """How tokens are checked. Construction checks everything that needs no file or key
    parsing; :class:`TokenVerifier` loads the keys and raises :class:`TokenConfigError` too.
    """

    algorithm: Literal["HS256", "RS256"]
    secret: str | None = field(default=None, repr=False)
    public_key_pem: str | None = None
    jwks_path: Path | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30

    def __post_init__(self) -> None:
        if self.algorithm == "HS256":
            self._check_hs256()
        elif self.algorithm == "RS256":
            self._check_rs256()
        else:
            raise TokenConfigError(
                f"algorithm must be HS256 or RS256, not {self.algorithm!r}", field="algorithm"
            )
        if self.issuer is not None and not self.issuer.strip():
            raise TokenConfigError(
                "issuer is empty; leave it unset to accept any issuer", field="issuer"
            )
        if self.audience is not None and not self.audience.strip():
            raise TokenConfigError(
                "audience is empty; leave it unset to accept only tokens without an audience",
                field="audience",
            )
        if self.leeway_seconds < 0:
            raise TokenConfigError("leeway_seconds must not be negative", field="leeway_seconds")

    def _check_hs256(self) -> None:
        if self.public_key_pem is not None or self.jwks_path is not None:
            raise TokenConfigError(
                "HS256 checks a shared secret; a public key or JWKS file is for RS256:"
                " remove it or choose RS256",
                field="public_key_pem" if self.public_key_pem is not None else "jwks_path",
            )
        if self.secret is None:
            raise TokenConfigError("HS256 needs a secret", field="secret")
        if len(self.secret.encode()) < MIN_HMAC_SECRET_BYTES:
            raise TokenConfigError(
                f"the HS256 secret must be at least {MIN_HMAC_SECRET_BYTES} bytes;"
                " generate one with `openssl rand -hex 32`",
                field="secret",
            )
        try:
            HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(self.secret)
        except jwt.InvalidKeyError:
            raise TokenConfigError(
                "the HS256 secret is an asymmetric key; public keys belong to RS256",
                field="secret",
            ) from None

    def _check_rs256(self) -> None:
        if self.secret is not None:
            raise TokenConfigError(
                "RS256 checks tokens with a public key and a secret is for HS256:"
                " remove the secret or choose HS256",
                field="secret",
            )
        if self.public_key_pem is not None and self.jwks_path is not None:
            raise TokenConfigError(
                "give either a public key or a JWKS file for RS256, not both", field="jwks_path"
            )
        if self.public_key_pem is None and self.jwks_path is None:
            raise TokenConfigError(
                "RS256 needs a public key or a JWKS file", field="public_key_pem"
            )


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its bearer; ``raw`` holds every claim, read-only."""

    subject: str
    name: str | None
    expires_at: datetime
    raw: Mapping[str, Any]


class TokenVerifier:
    """Verifies bearer tokens under one :class:`TokenConfig`. Keys are loaded once, here, so
    a broken key stops the API at startup; a rotated JWKS file needs a new verifier."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._fixed_key: str | RSAPublicKey | None = config.secret
        self._keys_by_id: Mapping[str, RSAPublicKey] = {}
        if config.public_key_pem is not None:
            self._fixed_key = _rsa_key_from_pem(config.public_key_pem)
        if config.jwks_path is not None:
            self._keys_by_id = _rsa_keys_from_jwks(config.jwks_path)

    def verify(self, token: str) -> Claims:
        """The token's claims, or :class:`InvalidTokenError` saying which rule it broke."""
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidTokenError("token is too long")
        algorithm = self.config.algorithm
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != algorithm:
                raise InvalidTokenError("token algorithm is not accepted")
            payload = jwt.decode(
                token,
                self._signing_key(header),
                algorithms=[algorithm],
                options={"require": list(REQUIRED_CLAIMS)},
                issuer=self.config.issuer,
                audience=self.config.audience,
                leeway=self.config.leeway_seconds,
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(_refusal_reason(error)) from error
        return _claims(payload)

    def _signing_key(self, header: Mapping[str, Any]) -> str | RSAPublicKey:
        if self._fixed_key is not None:
            return self._fixed_key
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("token does not name its signing key (kid)")
        try:
            return self._keys_by_id[kid]
        except KeyError:
            raise InvalidTokenError("token is signed by an unknown key") from None


def mint_token(
    config: TokenConfig,
    subject: str,
    *,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    """A signed HS256 token for development and tests, accepted by a verifier with the same
    config. RS256 tokens come from the identity provider: minting them needs the private
    key, which the API must not hold."""
    if config.algorithm != "HS256" or config.secret is None:
        raise TokenConfigError(
            "only HS256 tokens can be minted; RS256 tokens are signed by the identity"
            " provider, whose private key the API must not hold",
            field="algorithm",
        )
    email = normalized_email(subject)
    if email is None:
        raise ValueError(f"subject {subject!r} is not an email address")
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    issued_at = now if now is not None else datetime.now(UTC)
    if issued_at.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    claims: dict[str, Any] = {"sub": email, "iat": issued_at, "exp": issued_at + ttl}
    if config.issuer is not None:
        claims["iss"] = config.issuer
    if config.audience is not None:
        claims["aud"] = config.audience
    if name is not None:
        claims["name"] = name
    return jwt.encode(claims, config.secret, algorithm="HS256")


def _claims(payload: dict[str, Any]) -> Claims:
    subject = normalized_email(payload["sub"])
    if subject is None:
        raise InvalidTokenError("token subject is not an email address")
    expires = payload["exp"]
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise InvalidTokenError("token exp claim is not a number")
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidTokenError("token exp claim is out of range") from None
    name = payload.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidTokenError("token name claim is not a string")
    return Claims(subject=subject, name=name, expires_at=expires_at, raw=MappingProxyType(payload))


def _refusal_reason(error: jwt.PyJWTError) -> str:
    match error:
        case jwt.ExpiredSignatureError():
            return "token has expired"
        case jwt.ImmatureSignatureError():
            return "token is not valid yet"
        case jwt.MissingRequiredClaimError():
            return f"token has no {error.claim} claim"
        case jwt.InvalidIssuerError():
            return "token comes from an unexpected issuer"
        case jwt.InvalidAudienceError():
            return "token is meant for another audience"
        case jwt.InvalidAlgorithmError():
            return "token algorithm is not accepted"
        case jwt.InvalidSignatureError():
            return "token signature is invalid"
        case jwt.DecodeError():
            return "token is malformed"
        case _:
            return "token is invalid"


def _rsa_key_from_pem(pem: str) -> RSAPublicKey:
    if "PRIVATE KEY" in pem:
        raise TokenConfigError(
            "the public key is a private key; give the API only the public key"
            " (`openssl rsa -pubout`)",
            field="public_key_pem",
        )
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise TokenConfigError(
            "the public key is not a PEM-encoded public key", field="public_key_pem"
        ) from None
    return _strong_rsa_key(key, "the public key", field="public_key_pem")


def _rsa_keys_from_jwks(path: Path) -> dict[str, RSAPublicKey]:
    """The JWKS file's RS256 signing keys by ``kid``, as PyJWT's :class:`jwt.PyJWKSet`
    reads them. Keys for other algorithms or uses are skipped: an identity provider's JWKS
    may publish those too. An RS256 signing key PyJWT cannot read stops the verifier, as
    tokens signed by it would otherwise be refused later as signed by an unknown key."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TokenConfigError(
            f"cannot read the JWKS file {path}: {error.strerror}", field="jwks_path"
        ) from None
    except ValueError:
        raise TokenConfigError(f"the JWKS file {path} is not JSON", field="jwks_path") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TokenConfigError(f"the JWKS file {path} has no 'keys' list", field="jwks_path")
    try:
        readable = list(jwt.PyJWKSet(entries))
    except jwt.PyJWKSetError:  # no key PyJWT can read at all
        readable = []
    keys: dict[str, RSAPublicKey] = {}
    for jwk in readable:
        kid = jwk.key_id
        if jwk.algorithm_name != "RS256" or jwk.public_key_use not in (None, "sig") or not kid:
            continue
        if kid in keys:
            raise TokenConfigError(
                f"the JWKS file {path} has two keys with kid {kid!r}", field="jwks_path"
            )
        if isinstance(jwk.key, RSAPrivateKey):
            raise TokenConfigError(
                f"the JWKS key {kid!r} in {path} is a private key; give the API only public keys",
                field="jwks_path",
            )
        keys[kid] = _strong_rsa_key(jwk.key, f"the JWKS key {kid!r}", field="jwks_path")
    for entry in entries:
        if _declares_rs256_signing_key(entry) and entry["kid"] not in keys:
            raise TokenConfigError(
                f"the JWKS key {entry['kid']!r} in {path} is not an RSA key", field="jwks_path"
            )
    if not keys:
        raise TokenConfigError(
            f"the JWKS file {path} has no RS256 signing key with a kid", field="jwks_path"
        )
    return keys


def _declares_rs256_signing_key(entry: object) -> TypeGuard[dict[str, Any]]:
    """Whether a JWKS entry says it is an RS256 signing key, readable or not."""
    return (
        isinstance(entry, dict)
        and entry.get("kty") == "RSA"
        and entry.get("use", "sig") == "sig"
        and entry.get("alg", "RS256") == "RS256"
        and isinstance(entry.get("kid"), str)
    )


def _strong_rsa_key(key: object, source: str, *, field: str) -> RSAPublicKey:
    if not isinstance(key, RSAPublicKey):
        raise TokenConfigError(f"{source} is not an RSA public key, which RS256 needs", field=field)
    if key.key_size < MIN_RSA_KEY_BITS:
        raise TokenConfigError(
            f"{source} is a {key.key_size}-bit RSA key; RS256 needs at least"
            f" {MIN_RSA_KEY_BITS} bits",
            field=field,
        )
    return key
