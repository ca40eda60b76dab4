"""Why: an address is a user's identity in three places (the token's subject, the users
table, the `prosora token create` command), and they once disagreed: the command refused
`a@x` while the database took it, and the database took 320 characters where tokens stopped
at 254. Every address here gets the same verdict from all three."""

from __future__ import annotations

import jwt
import pytest

from prosora_pipelines.lib.access.emails import MAX_EMAIL_CHARS, normalized_email
from prosora_pipelines.lib.access.tokens import (
    InvalidTokenError,
    TokenConfig,
    TokenVerifier,
    mint_token,
)
from prosora_pipelines.lib.appdb.repository import InvalidInputError, normalize_email

HS256 = TokenConfig(algorithm="HS256", secret="e" * 40)
LONGEST = "a" * (MAX_EMAIL_CHARS - len("@example.com")) + "@example.com"

ACCEPTED = {
    "a@x": "a@x",
    "me@localhost": "me@localhost",
    " Ada.Lovelace@Example.COM ": "ada.lovelace@example.com",
    "first+tag@sub.example.org": "first+tag@sub.example.org",
    LONGEST: LONGEST,
}
REFUSED = [
    "",
    "no-at-sign",
    "@example.com",
    "ada@",
    "a da@example.com",
    "a@b@example.com",
    "ada@exa\tmple.com",
    "ada@example.com\x00",
    "ada\u200b@example.com",
    "b" + LONGEST,
]


@pytest.mark.parametrize(("address", "stored"), ACCEPTED.items())
def test_tokens_and_the_database_accept_the_same_addresses(address: str, stored: str) -> None:
    assert normalized_email(address) == stored
    assert normalize_email(address) == stored
    token = mint_token(HS256, address)
    assert TokenVerifier(HS256).verify(token).subject == stored


@pytest.mark.parametrize("address", REFUSED)
def test_tokens_and_the_database_refuse_the_same_addresses(address: str) -> None:
    assert normalized_email(address) is None
    with pytest.raises(InvalidInputError, match="invalid email address"):
        normalize_email(address)
    with pytest.raises(ValueError, match="not an email address"):
        mint_token(HS256, address)
    forged = jwt.encode({"sub": address, "exp": 4102444800}, HS256.secret, algorithm="HS256")
    with pytest.raises(InvalidTokenError, match="subject is not an email address"):
        TokenVerifier(HS256).verify(forged)
