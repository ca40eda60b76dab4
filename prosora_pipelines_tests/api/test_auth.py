"""Why: the bearer token is the only thing standing between the internet and each user's
history, so the app, not just the token library, must refuse every forged, stale or
misdirected token with a 401 that challenges for a Bearer token and echoes neither token
nor secret; must provision a user once per email; and must refuse to start when it could
not check tokens at all or would let any browser origin in with credentials.

Everything that touches the users table runs on SQLite and PostgreSQL."""

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
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import func, select

from prosora_pipelines.api.app import InsecureConfigurationError, create_app
from prosora_pipelines.lib.appdb.models import User as UserRow
from prosora_pipelines.settings import Settings
from prosora_pipelines_tests.api.conftest import (
    API,
    JWT_SECRET,
    Api,
    ApiUser,
    MakeApi,
    assert_error,
    user_id_of,
)

ISSUER = "https://id.prosora.test"
AUDIENCE = "prosora-api"
OTHER_SECRET = "someone-elses-secret-0d9c8b7a6f5e4d3c2b1a"
PROFILE = f"{API}/users/me/profile"
NO_KEYS: dict[str, Any] = {"jwt_secret": None, "jwt_public_key_file": None, "jwt_jwks_file": None}


def _claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for the issuer and audience of the strict app; None removes a claim."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "alice@example.com",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=10),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unix(claims: dict[str, Any]) -> dict[str, Any]:
    return {
        name: int(value.timestamp()) if isinstance(value, datetime) else value
        for name, value in claims.items()
    }


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A token signed by hand (HS256 over ``key``, or unsigned), as an attacker would."""
    signing_input = f"{_segment(header)}.{_segment(_unix(claims))}"
    if key is None:
        return f"{signing_input}."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _assert_refused(response: Any, token: str | None, reason: str) -> None:
    """A 401 in the envelope, challenging for a Bearer token, naming ``reason`` and echoing
    neither the token (nor any sizeable part of it) nor a secret."""
    error = assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert reason in error["message"], error
    for secret in (JWT_SECRET, OTHER_SECRET):
        assert secret not in response.text
    if token:
        assert all(part not in response.text for part in token.split(".") if len(part) > 3)


@pytest.fixture
def strict_api(make_api: MakeApi, database_url: str) -> Api:
    """An HS256 app that requires an issuer and an audience."""
    return make_api(database_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)


FORGED: dict[str, tuple[str, str]] = {
    "garbage": ("not-a-jwt", "token is malformed"),
    "three-garbage-parts": ("aaaa.bbbb.cccc", "token is malformed"),
    "bad-signature": (
        jwt.encode(_claims(), OTHER_SECRET, algorithm="HS256"),
        "signature is invalid",
    ),
    "alg-none": (
        _hand_signed({"alg": "none", "typ": "JWT"}, _claims(), None),
        "algorithm is not accepted",
    ),
    "hs512": (
        jwt.encode(_claims(), JWT_SECRET * 2, algorithm="HS512"),
        "algorithm is not accepted",
    ),
    "expired": (
        jwt.encode(_claims(exp=datetime.now(UTC) - timedelta(hours=1)), JWT_SECRET),
        "token has expired",
    ),
    "wrong-audience": (jwt.encode(_claims(aud="another-api"), JWT_SECRET), "another audience"),
    "no-audience": (jwt.encode(_claims(aud=None), JWT_SECRET), "token has no aud claim"),
    "wrong-issuer": (
        jwt.encode(_claims(iss="https://evil.example"), JWT_SECRET),
        "unexpected issuer",
    ),
    "no-subject": (jwt.encode(_claims(sub=None), JWT_SECRET), "token has no sub claim"),
    "no-expiry": (jwt.encode(_claims(exp=None), JWT_SECRET), "token has no exp claim"),
    "subject-not-email": (jwt.encode(_claims(sub="alice"), JWT_SECRET), "not an email address"),
    "not-yet-valid": (
        jwt.encode(_claims(nbf=datetime.now(UTC) + timedelta(hours=1)), JWT_SECRET),
        "not valid yet",
    ),
}


@pytest.mark.parametrize("case", list(FORGED), ids=list(FORGED))
def test_forged_and_misdirected_tokens_are_refused(strict_api: Api, case: str) -> None:
    token, reason = FORGED[case]
    response = strict_api.client.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    _assert_refused(response, token, reason)


def test_requests_without_a_bearer_token_are_refused(strict_api: Api) -> None:
    client = strict_api.client
    _assert_refused(client.get(PROFILE), None, "missing bearer token")
    _assert_refused(
        client.get(PROFILE, headers={"Authorization": f"Basic {JWT_SECRET}"}),
        None,
        "missing bearer token",
    )
    _assert_refused(
        client.get(PROFILE, headers={"Authorization": "Bearer "}), None, "missing bearer token"
    )
    good = jwt.encode(_claims(), JWT_SECRET)
    assert client.get(PROFILE, headers={"Authorization": f"bearer {good}"}).status_code == 200
    _assert_refused(
        client.post(f"{API}/queries", json={"text": "anything"}), None, "missing bearer token"
    )


def test_a_user_is_provisioned_on_first_sight_and_recognised_after(
    make_api: MakeApi, database_url: str
) -> None:
    api = make_api(database_url)
    first = ApiUser(api, "alice@example.com")
    assert (
        first.put(
            "/users/me/profile",
            json={
                "voice_description": "Alice's own voice.",
                "audience": "builders",
                "default_formats": ["x_thread"],
            },
        ).json()["is_default"]
        is False
    )
    asked = first.ask()

    # Another token for the same subject, spelled in another letter case, with a name.
    token = jwt.encode(_claims(sub="Alice@Example.COM", iss=None, aud=None, name="A"), JWT_SECRET)
    again = {"Authorization": f"Bearer {token}"}
    profile = api.client.get(PROFILE, headers=again).json()
    assert profile["voice_description"] == "Alice's own voice."
    history = api.client.get(f"{API}/users/me/history", headers=again).json()
    assert [query["id"] for query in history["queries"]] == [asked["query_id"]]
    assert ApiUser(api, "alice@example.com").ask()["user_id"] == asked["user_id"]

    with api.app.state.context.sessions() as session:
        emails = session.scalars(select(UserRow.email)).all()
        assert emails == ["alice@example.com"]
        assert session.scalar(select(func.count()).select_from(UserRow)) == 1
        assert session.scalars(select(UserRow.name)).one() == "alice"

    assert ApiUser(api, "bob@example.com").get("/users/me/profile").json()["is_default"] is True
    with api.app.state.context.sessions() as session:
        assert sorted(session.scalars(select(UserRow.email))) == [
            "alice@example.com",
            "bob@example.com",
        ]


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_an_rs256_app_checks_tokens_against_its_jwks(
    make_api: MakeApi, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks = tmp_path / "jwks.json"
    public_jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    jwks.write_text(json.dumps({"keys": [{**public_jwk, "kid": "key-1", "use": "sig"}]}))
    api = make_api(**{**NO_KEYS, "jwt_algorithm": "RS256", "jwt_jwks_file": jwks})

    claims = _claims(iss=None, aud=None)
    good = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "key-1"})
    response = api.client.get(PROFILE, headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 200, response.text

    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = _hand_signed({"alg": "HS256", "typ": "JWT", "kid": "key-1"}, claims, public_pem)
    _assert_refused(
        api.client.get(PROFILE, headers={"Authorization": f"Bearer {confused}"}),
        confused,
        "algorithm is not accepted",
    )
    unknown_kid = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "key-2"})
    _assert_refused(
        api.client.get(PROFILE, headers={"Authorization": f"Bearer {unknown_kid}"}),
        unknown_kid,
        "unknown key",
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "key-1"})
    _assert_refused(
        api.client.get(PROFILE, headers={"Authorization": f"Bearer {forged}"}),
        forged,
        "signature is invalid",
    )


def test_an_app_without_a_token_key_refuses_to_start(
    materialized_home: Path, tmp_path: Path
) -> None:
    settings = Settings(
        home=materialized_home, database_url=f"sqlite:///{tmp_path / 'app.db'}", **NO_KEYS
    )
    with pytest.raises(InsecureConfigurationError, match="PROSORA_API_INSECURE_DEV"):
        create_app(settings)
    assert not (tmp_path / "app.db").exists(), "refused before touching the database"


def test_insecure_development_mode_starts_but_authenticates_nobody(make_api: MakeApi) -> None:
    api = make_api(**NO_KEYS, api_insecure_dev=True)
    assert api.client.get("/health").json() == {"status": "ok"}
    token = jwt.encode(_claims(iss=None, aud=None), JWT_SECRET)
    for response in (
        api.client.get(PROFILE),
        api.client.get(PROFILE, headers={"Authorization": f"Bearer {token}"}),
        api.client.post(f"{API}/queries", json={"text": "anything"}),
    ):
        _assert_refused(response, token, "insecure development mode")


def test_cors_allows_only_the_configured_origins(
    make_api: MakeApi, materialized_home: Path, tmp_path: Path
) -> None:
    wildcard = Settings(
        home=materialized_home,
        jwt_secret=JWT_SECRET,
        database_url=f"sqlite:///{tmp_path / 'wildcard.db'}",
        api_cors_origins=["https://app.prosora.test", "*"],
    )
    with pytest.raises(InsecureConfigurationError, match="may not contain '\\*'"):
        create_app(wildcard)

    api = make_api(api_cors_origins=["https://app.prosora.test"])
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }
    allowed = api.client.options(
        f"{API}/queries", headers={"Origin": "https://app.prosora.test", **preflight}
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.prosora.test"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()

    refused = api.client.options(
        f"{API}/queries", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers

    alice = ApiUser(api, "alice@example.com")
    simple = alice.get("/users/me/profile", headers={"Origin": "https://app.prosora.test"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://app.prosora.test"
    assert "x-request-id" in simple.headers["Access-Control-Expose-Headers"].lower()
    foreign = alice.get("/users/me/profile", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_the_api_takes_exactly_the_addresses_tokens_are_minted_for(api: Api) -> None:
    # One email rule: `prosora token create --user a@x` mints a token the API accepts, and
    # an address over 254 characters is refused by both (the users table once took 320).
    short = ApiUser(api, "A@X")
    assert short.get("/users/me/profile").status_code == 200
    assert user_id_of(api, "a@x")
    too_long = "a" * 250 + "@x.io"
    forged = jwt.encode(
        {"sub": too_long, "exp": datetime.now(UTC) + timedelta(hours=1)},
        JWT_SECRET,
        algorithm="HS256",
    )
    refused = api.client.get(
        f"{API}/users/me/profile", headers={"Authorization": f"Bearer {forged}"}
    )
    assert "subject is not an email address" in assert_error(refused, 401)["message"]
