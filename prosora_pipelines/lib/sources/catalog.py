"""The source catalog: which feeds and pages to follow, how far to trust them.

Sources are rows of data, not code, so a catalog of hundreds of sources costs nothing in
the Dagster graph. Validation is strict (unknown keys rejected) and every error names the
source and the field, because a catalog is edited by hand.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_MAIL_SCHEMES = ("imap", "imaps")
_INTERVAL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class CatalogError(ValueError):
    """A catalog that cannot be used, with a message a person can act on."""


class SourceKind(StrEnum):
    """What a source URL serves. Feed flavours are detected when parsed, whatever is declared."""

    RSS = "rss"
    ATOM = "atom"
    WEB = "web"
    MAILBOX = "mailbox"
    """Newsletters: an mbox file, a Maildir folder, or an IMAP folder (``imaps://host[:port]``)."""


class Tier(StrEnum):
    """Editorial tier of a source, used with credibility to rank and to pick canonical copies."""

    PREMIUM = "premium"
    STANDARD = "standard"
    EXPERIMENTAL = "experimental"


class MailboxAccess(BaseModel):
    """How to read an IMAP mailbox. The password is never in the catalog: it is read from the
    environment variable named here (an app password, for most providers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, max_length=320)
    password_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")
    folder: str = Field(default="INBOX", min_length=1, max_length=200)
    ca_file: str | None = Field(
        default=None, description="PEM file of the CA to trust instead of the system's."
    )


class Source(BaseModel):
    """One followed publication (or, for a mailbox, every newsletter arriving in it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1)
    kind: SourceKind
    tier: Tier
    credibility: float = Field(ge=0.0, le=1.0)
    domains: tuple[str, ...] = Field(min_length=1)
    enabled: bool = True
    refresh_interval: timedelta = timedelta(hours=1)
    link_pattern: str | None = Field(
        default=None,
        description="web sources: regex over absolute links of the page; matches are articles.",
    )
    mailbox: MailboxAccess | None = Field(
        default=None, description="mailbox sources on IMAP: the account and folder to read."
    )

    @field_validator("domains")
    @classmethod
    def _domains_are_slugs(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        for domain in domains:
            if not re.match(SLUG_PATTERN, domain):
                raise ValueError(f"domain {domain!r} must be a lowercase slug")
        return domains

    @field_validator("refresh_interval", mode="before")
    @classmethod
    def _parse_interval(cls, value: Any) -> Any:
        if isinstance(value, str) and (match := _INTERVAL.match(value)):
            amount, unit = match.groups()
            return timedelta(**{_INTERVAL_UNITS[unit]: int(amount)})
        return value

    @field_validator("refresh_interval")
    @classmethod
    def _interval_positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("refresh_interval must be at least one minute (e.g. '30m', '2h')")
        return value

    @field_validator("link_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"link_pattern is not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _pattern_only_for_web(self) -> Source:
        if self.link_pattern is not None and self.kind is not SourceKind.WEB:
            raise ValueError("link_pattern applies to kind 'web' only")
        return self

    @model_validator(mode="after")
    def _mailbox_access_only_for_imap(self) -> Source:
        scheme = self.url.split(":", 1)[0].lower() if "://" in self.url else ""
        if self.kind is not SourceKind.MAILBOX:
            if self.mailbox is not None:
                raise ValueError("mailbox applies to kind 'mailbox' only")
            if scheme in _MAIL_SCHEMES:
                raise ValueError(f"a {scheme}:// url needs kind 'mailbox'")
            return self
        if scheme == "imap":
            raise ValueError("IMAP needs TLS: use imaps://host[:port]")
        if scheme == "imaps" and self.mailbox is None:
            raise ValueError("an imaps:// mailbox needs 'mailbox' with user and password_env")
        if scheme not in ("imaps", "file", ""):
            raise ValueError(
                "a mailbox url is imaps://host[:port], or an mbox file or Maildir path"
            )
        if scheme != "imaps" and self.mailbox is not None:
            raise ValueError("'mailbox' (user, password) applies to imaps:// urls only")
        return self


class Megatrend(BaseModel):
    """A long-running theme the user wants measured in the data (share and growth)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    keywords: tuple[str, ...] = ()
    seed_text: str | None = None

    @model_validator(mode="after")
    def _has_a_definition(self) -> Megatrend:
        if not self.keywords and not self.seed_text:
            raise ValueError("a megatrend needs keywords or seed_text")
        return self


class Catalog(BaseModel):
    """A validated catalog. Source URLs are absolute (relative paths resolved on load)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    sources: tuple[Source, ...] = Field(min_length=1)
    megatrends: tuple[Megatrend, ...] = ()

    @model_validator(mode="after")
    def _unique_ids_and_urls(self) -> Catalog:
        for attribute in ("id", "url"):
            seen: set[str] = set()
            for source in self.sources:
                value = getattr(source, attribute)
                if value in seen:
                    raise ValueError(f"two sources share the {attribute} {value!r}")
                seen.add(value)
        return self

    @property
    def enabled_sources(self) -> tuple[Source, ...]:
        return tuple(source for source in self.sources if source.enabled)

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)


def resolve_source_url(url: str, base_dir: Path) -> str:
    """Absolute URL for a catalog entry: http(s) and file URLs as given, paths as file URLs."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        return url
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return path.resolve().as_uri()


def _resolved_mailbox(access: MailboxAccess | None, base_dir: Path) -> MailboxAccess | None:
    """The access with its CA file's path made absolute against the catalog's folder."""
    if access is None or access.ca_file is None:
        return access
    return access.model_copy(update={"ca_file": str((base_dir / access.ca_file).resolve())})


def _describe_location(raw: Mapping[str, Any], loc: Sequence[int | str]) -> str:
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        sources = raw.get("sources") or []
        index = loc[1]
        entry = sources[index] if index < len(sources) else {}
        name = entry.get("id") if isinstance(entry, Mapping) else None
        where = f"source {name!r} (sources[{index}])" if name else f"sources[{index}]"
        field = ".".join(str(part) for part in loc[2:])
        return f"{where}, field {field!r}" if field else where
    return "field " + repr(".".join(str(part) for part in loc)) if loc else "catalog"


def parse_catalog(raw: Any, *, base_dir: Path, origin: str = "catalog") -> Catalog:
    """Validate raw catalog data; relative source paths are resolved against ``base_dir``."""
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{origin}: expected a mapping with a 'sources' list")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"  - {_describe_location(raw, error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        raise CatalogError(f"{origin} is invalid:\n" + "\n".join(problems)) from None
    resolved = tuple(
        source.model_copy(
            update={
                "url": resolve_source_url(source.url, base_dir),
                "mailbox": _resolved_mailbox(source.mailbox, base_dir),
            }
        )
        for source in catalog.sources
    )
    return catalog.model_copy(update={"sources": resolved})


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}") from None
    return parse_catalog(raw, base_dir=path.parent, origin=str(path))


def catalog_fingerprint(catalog: Catalog) -> str:
    """Hash of the validated catalog: edits to comments or layout do not change it."""
    return hashlib.sha256(catalog.model_dump_json().encode()).hexdigest()
