"""Why: the bearer token is the API's only proof of who is calling, so every forged,
stale, misdirected or malformed token must be refused with a reason that is safe to show
the caller, and a broken key setting must stop the API at startup rather than let tokens
through. Keys are generated in the test; forged tokens are crafted by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from prosora_pipelines.lib.access.tokens import (
    InvalidTokenError,
    TokenConfig,
    TokenConfigError,
    TokenVerifier,
    mint_token,
)

SECRET = "dev-secret-8c1f0b7e2a9d4e6f8a0b1c2d3e4f5a6b"
OTHER_SECRET = "another-secret-5e4d3c2b1a09f8e7d6c5b4a3f2e1d0c9"
HS256 = TokenConfig(algorithm="HS256", secret=SECRET)
EMAIL = "alice@example.com"


def _rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture(scope="module")
def other_private_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _jwk(key: rsa.RSAPrivateKey, kid: str, **fields: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, **fields}


def _write_jwks(path: Path, *keys: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(keys)}), encoding="utf-8")
    return path


@pytest.fixture
def jwks_path(
    tmp_path: Path, private_key: rsa.RSAPrivateKey, other_private_key: rsa.RSAPrivateKey
) -> Path:
    """Two signing keys, plus an encryption key and an EC key the verifier must skip."""
    return _write_jwks(
        tmp_path / "jwks.json",
        _jwk(private_key, "key-1", use="sig", alg="RS256"),
        _jwk(other_private_key, "key-2"),
        _jwk(_rsa_key(), "encryption", use="enc"),
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},
    )


def _claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for an hour; a change to None removes that claim."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": EMAIL, "iat": now, "exp": now + timedelta(hours=1)}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hand_signed_hs256(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token signed by hand, since PyJWT refuses to sign with a PEM as secret."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _unix(claims: dict[str, Any]) -> dict[str, Any]:
    return {
        name: int(value.timestamp()) if isinstance(value, datetime) else value
        for name, value in claims.items()
    }


def _refusal(verifier: TokenVerifier, token: str) -> str:
    """The reason ``token`` is refused, checked to reveal neither the secret nor the token."""
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify(token)
    message = str(refused.value)
    assert message == refused.value.reason
    assert SECRET not in message
    assert all(part not in message for part in token.split(".") if len(part) > 3)
    return refused.value.reason


def test_hs256_round_trip_normalises_the_subject() -> None:
    now = datetime.now(UTC)
    token = mint_token(HS256, "Alice@Example.COM", name="Alice", now=now)
    claims = TokenVerifier(HS256).verify(token)
    assert claims.subject == EMAIL
    assert claims.name == "Alice"
    assert claims.expires_at == datetime.fromtimestamp(
        int((now + timedelta(hours=12)).timestamp()), UTC
    )
    assert claims.raw["sub"] == EMAIL
    with pytest.raises(TypeError):
        claims.raw["sub"] = "mallory@example.com"  # type: ignore[index]


def test_issuer_and_audience_are_minted_and_required() -> None:
    config = TokenConfig(
        algorithm="HS256", secret=SECRET, issuer="https://id.prosora.test", audience="api"
    )
    verifier = TokenVerifier(config)
    claims = verifier.verify(mint_token(config, EMAIL))
    assert claims.raw["iss"] == "https://id.prosora.test"
    assert claims.raw["aud"] == "api"
    assert _refusal(verifier, mint_token(HS256, EMAIL)) == "token has no iss claim"


def test_rs256_with_a_pem_public_key(private_key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier(
        TokenConfig(algorithm="RS256", public_key_pem=_public_pem(private_key))
    )
    token = jwt.encode(_claims(name="Alice"), private_key, algorithm="RS256")
    claims = verifier.verify(token)
    assert (claims.subject, claims.name) == (EMAIL, "Alice")


def test_rs256_with_a_jwks_file_picks_the_key_by_kid(
    jwks_path: Path, private_key: rsa.RSAPrivateKey, other_private_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(TokenConfig(algorithm="RS256", jwks_path=jwks_path))
    for kid, key in [("key-1", private_key), ("key-2", other_private_key)]:
        token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": kid})
        assert verifier.verify(token).subject == EMAIL
    swapped = jwt.encode(_claims(), private_key, algorithm="RS256", headers={"kid": "key-2"})
    assert _refusal(verifier, swapped) == "token signature is invalid"


def test_jwks_unknown_or_missing_kid_is_refused(
    jwks_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(TokenConfig(algorithm="RS256", jwks_path=jwks_path))
    for skipped in ["key-3", "encryption", "ec"]:
        token = jwt.encode(_claims(), private_key, algorithm="RS256", headers={"kid": skipped})
        assert _refusal(verifier, token) == "token is signed by an unknown key"
    unnamed = jwt.encode(_claims(), private_key, algorithm="RS256")
    assert _refusal(verifier, unnamed) == "token does not name its signing key (kid)"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "token is malformed"),
        ("not-a-token", "token is malformed"),
        ("a.b.c", "token is malformed"),
        ("ü.ü.ü", "token is malformed"),
        (f"{_segment({'alg': 'HS256'})}.!!!.sig", "token is malformed"),
        ("x" * 9000, "token is too long"),
    ],
    ids=["empty", "one-part", "not-base64", "not-ascii", "bad-payload", "huge"],
)
def test_garbage_is_refused(token: str, reason: str) -> None:
    assert _refusal(TokenVerifier(HS256), token) == reason


def test_bad_signature_is_refused() -> None:
    forged = jwt.encode(_claims(), OTHER_SECRET, algorithm="HS256")
    assert _refusal(TokenVerifier(HS256), forged) == "token signature is invalid"
    header, _, signature = mint_token(HS256, EMAIL).split(".")
    tampered = f"{header}.{_segment(_unix(_claims(sub='root@example.com')))}.{signature}"
    assert _refusal(TokenVerifier(HS256), tampered) == "token signature is invalid"


def test_alg_none_is_refused(private_key: rsa.RSAPrivateKey) -> None:
    unsigned = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_unix(_claims()))}."
    rs256 = TokenConfig(algorithm="RS256", public_key_pem=_public_pem(private_key))
    for config in [HS256, rs256]:
        assert _refusal(TokenVerifier(config), unsigned) == "token algorithm is not accepted"


def test_hs256_signed_with_the_public_key_is_refused_by_rs256(
    private_key: rsa.RSAPrivateKey, jwks_path: Path
) -> None:
    """Algorithm confusion: the public key is public, so it must never act as an HMAC secret."""
    pem = _public_pem(private_key)
    confused = _hand_signed_hs256(_unix(_claims()), pem.encode())
    for config in [
        TokenConfig(algorithm="RS256", public_key_pem=pem),
        TokenConfig(algorithm="RS256", jwks_path=jwks_path),
    ]:
        assert _refusal(TokenVerifier(config), confused) == "token algorithm is not accepted"


def test_rs256_token_is_refused_by_hs256(private_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(_claims(), private_key, algorithm="RS256")
    assert _refusal(TokenVerifier(HS256), token) == "token algorithm is not accepted"


def test_expiry_allows_the_configured_leeway() -> None:
    verifier = TokenVerifier(HS256)
    now = datetime.now(UTC)
    recently_expired = mint_token(
        HS256, EMAIL, ttl=timedelta(hours=1), now=now - timedelta(hours=1, seconds=10)
    )
    assert verifier.verify(recently_expired).subject == EMAIL
    expired = mint_token(
        HS256, EMAIL, ttl=timedelta(hours=1), now=now - timedelta(hours=1, minutes=1)
    )
    assert _refusal(verifier, expired) == "token has expired"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nbf": datetime.now(UTC) + timedelta(hours=1)}, "token is not valid yet"),
        ({"iat": datetime.now(UTC) + timedelta(hours=1)}, "token is not valid yet"),
        ({"exp": None}, "token has no exp claim"),
        ({"sub": None}, "token has no sub claim"),
        ({"sub": "alice"}, "token subject is not an email address"),
        ({"sub": "alice @example.com"}, "token subject is not an email address"),
        ({"sub": "a" * 243 + "@example.com"}, "token subject is not an email address"),
        ({"exp": "4102444800"}, "token exp claim is not a number"),
        ({"exp": 10**18}, "token exp claim is out of range"),
        ({"name": ["Alice"]}, "token name claim is not a string"),
        ({"aud": "another-service"}, "token is meant for another audience"),
    ],
    ids=[
        "nbf-future",
        "iat-future",
        "no-exp",
        "no-sub",
        "sub-no-at",
        "sub-space",
        "sub-too-long",
        "exp-string",
        "exp-huge",
        "name-list",
        "aud-unconfigured",
    ],
)
def test_claims_are_checked(changes: dict[str, Any], reason: str) -> None:
    """With no audience configured, a token naming any audience is refused."""
    token = jwt.encode(_claims(**changes), SECRET, algorithm="HS256")
    assert _refusal(TokenVerifier(HS256), token) == reason


def test_non_string_subject_is_refused() -> None:
    _refusal(TokenVerifier(HS256), jwt.encode(_claims(sub=42), SECRET, algorithm="HS256"))


def test_issuer_is_unchecked_when_none_is_configured() -> None:
    token = jwt.encode(_claims(iss="https://id.elsewhere.test"), SECRET, algorithm="HS256")
    assert TokenVerifier(HS256).verify(token).raw["iss"] == "https://id.elsewhere.test"


def test_wrong_issuer_and_audience_are_refused() -> None:
    config = TokenConfig(
        algorithm="HS256", secret=SECRET, issuer="https://id.prosora.test", audience="api"
    )
    verifier = TokenVerifier(config)
    wrong_issuer = _claims(iss="https://id.elsewhere.test", aud="api")
    assert (
        _refusal(verifier, jwt.encode(wrong_issuer, SECRET))
        == "token comes from an unexpected issuer"
    )
    wrong_audience = _claims(iss="https://id.prosora.test", aud="another-service")
    assert (
        _refusal(verifier, jwt.encode(wrong_audience, SECRET))
        == "token is meant for another audience"
    )
    no_audience = _claims(iss="https://id.prosora.test")
    assert _refusal(verifier, jwt.encode(no_audience, SECRET)) == "token has no aud claim"


def test_minting_defaults() -> None:
    now = datetime.now(UTC)
    token = mint_token(HS256, EMAIL, now=now)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims == {
        "sub": EMAIL,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=12)).timestamp()),
    }


def test_minting_refuses_rs256_and_bad_arguments(private_key: rsa.RSAPrivateKey) -> None:
    rs256 = TokenConfig(algorithm="RS256", public_key_pem=_public_pem(private_key))
    with pytest.raises(TokenConfigError, match="private key the API must not hold"):
        mint_token(rs256, EMAIL)
    with pytest.raises(ValueError, match="not an email address"):
        mint_token(HS256, "alice")
    with pytest.raises(ValueError, match="ttl must be positive"):
        mint_token(HS256, EMAIL, ttl=timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        mint_token(HS256, EMAIL, now=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"algorithm": "HS256"}, "secret", "HS256 needs a secret"),
        ({"algorithm": "HS256", "secret": "short"}, "secret", "at least 32 bytes"),
        (
            {"algorithm": "HS256", "secret": SECRET, "public_key_pem": "pem"},
            "public_key_pem",
            "is for RS256",
        ),
        (
            {"algorithm": "HS256", "secret": SECRET, "jwks_path": Path("k.json")},
            "jwks_path",
            "is for RS256",
        ),
        ({"algorithm": "RS256"}, "public_key_pem", "RS256 needs a public key or a JWKS file"),
        (
            {"algorithm": "RS256", "public_key_pem": "pem", "jwks_path": Path("k.json")},
            "jwks_path",
            "not both",
        ),
        (
            {"algorithm": "RS256", "secret": SECRET, "public_key_pem": "pem"},
            "secret",
            "remove the secret or choose HS256",
        ),
        ({"algorithm": "ES256", "secret": SECRET}, "algorithm", "must be HS256 or RS256"),
        ({"algorithm": "HS256", "secret": SECRET, "issuer": " "}, "issuer", "issuer is empty"),
        ({"algorithm": "HS256", "secret": SECRET, "audience": ""}, "audience", "is empty"),
        (
            {"algorithm": "HS256", "secret": SECRET, "leeway_seconds": -1},
            "leeway_seconds",
            "must not be negative",
        ),
    ],
    ids=[
        "hs-no-secret",
        "hs-short-secret",
        "hs-with-pem",
        "hs-with-jwks",
        "rs-no-key",
        "rs-both-keys",
        "rs-with-secret",
        "unknown-algorithm",
        "blank-issuer",
        "blank-audience",
        "negative-leeway",
    ],
)
def test_config_validation(settings: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message) as refused:
        TokenConfig(**settings)
    assert refused.value.field == field
    assert SECRET not in str(refused.value)


def test_config_refuses_a_public_key_as_hmac_secret(private_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(TokenConfigError, match="asymmetric key"):
        TokenConfig(algorithm="HS256", secret=_public_pem(private_key))


def test_config_repr_hides_the_secret() -> None:
    assert SECRET not in repr(HS256)


def test_unusable_public_keys_stop_the_verifier(private_key: rsa.RSAPrivateKey) -> None:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for pem, message in [
        (private_pem, "is a private key"),
        ("-----BEGIN PUBLIC KEY-----\nbroken\n-----END PUBLIC KEY-----\n", "not a PEM"),
        (ec_pem, "not an RSA public key"),
        (_public_pem(_rsa_key(1024)), "1024-bit RSA key"),
    ]:
        with pytest.raises(TokenConfigError, match=message):
            TokenVerifier(TokenConfig(algorithm="RS256", public_key_pem=pem))


def test_unusable_jwks_files_stop_the_verifier(
    tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    not_json = tmp_path / "not-json.json"
    not_json.write_text("{", encoding="utf-8")
    private_jwk = {**RSAAlgorithm.to_jwk(private_key, as_dict=True), "kid": "key-1"}
    cases = [
        (tmp_path / "missing.json", "cannot read the JWKS file"),
        (not_json, "is not JSON"),
        (_write_jwks(tmp_path / "empty.json"), "no RS256 signing key"),
        (_write_jwks(tmp_path / "enc.json", _jwk(private_key, "k", use="enc")), "no RS256"),
        (_write_jwks(tmp_path / "private.json", private_jwk), "is a private key"),
        (
            _write_jwks(tmp_path / "twice.json", _jwk(private_key, "k"), _jwk(private_key, "k")),
            "two keys with kid 'k'",
        ),
        (_write_jwks(tmp_path / "weak.json", _jwk(_rsa_key(1024), "weak")), "1024-bit RSA key"),
        (
            _write_jwks(tmp_path / "bad.json", {"kty": "RSA", "kid": "bad", "n": "!", "e": "!"}),
            "not an RSA key",
        ),
    ]
    for path, message in cases:
        with pytest.raises(TokenConfigError, match=message):
            TokenVerifier(TokenConfig(algorithm="RS256", jwks_path=path))
    no_list = tmp_path / "no-list.json"
    no_list.write_text('{"keys": {}}', encoding="utf-8")
    with pytest.raises(TokenConfigError, match="has no 'keys' list"):
        TokenVerifier(TokenConfig(algorithm="RS256", jwks_path=no_list))
