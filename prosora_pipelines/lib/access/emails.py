"""The one rule for what counts as a user's email address, shared by tokens, the app
database and the command line, so an address one of them accepts none of the others refuses.

Deliberately loose: the identity provider owns the real rules. An address is one ``@``
between a non-empty local part and a non-empty domain, with no whitespace or control
characters, at most 254 characters (the longest address a mail path carries). A dotted
domain is not required, so ``me@localhost`` works for development. Letter case is folded:
one person is one user however their provider spells the address.
"""

from __future__ import annotations

MAX_EMAIL_CHARS = 254


def normalized_email(value: object) -> str | None:
    """``value`` trimmed and lower-cased when it is an email address by the rule above,
    else None."""
    if not isinstance(value, str):
        return None
    address = value.strip()
    local, at, domain = address.partition("@")
    if (
        not (local and at and domain)
        or "@" in domain
        or len(address) > MAX_EMAIL_CHARS
        or not address.isprintable()
        or any(character.isspace() for character in address)
    ):
        return None
    return address.lower()
