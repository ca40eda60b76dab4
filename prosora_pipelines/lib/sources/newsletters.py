"""Newsletters as sources: messages from an mbox file, a Maildir folder or an IMAP folder,
each turned into a raw entry like a feed item.

- **publication**: the sender's display name (else address), kept as the entry's author;
- **key**: ``List-Id`` when the message has one, else the sender's address, with the
  Message-ID, so a newsletter re-delivered or re-read keeps its entry;
- **link**: the "view in browser" (or "read online", "web version") link when the message
  has an http(s) one, else ``mid:<Message-ID>`` (RFC 2392), which the article rules accept
  for mailbox sources only;
- **text**: the HTML part (else the plain text part, escaped into paragraphs).

IMAP is read over TLS only, with ``BODY.PEEK`` so nothing is marked read, and only messages
not seen before: the folder's UIDVALIDITY and the highest UID read are kept as the source's
cache validator (``imap-<uidvalidity>-<uid>``), saved with the HTTP validators after the
entries they vouch for. A changed UIDVALIDITY means the server renumbered the folder, so
the folder is read again from the start (entry keys keep that from making copies). Local
mailboxes are read whole when their size or modification time changed.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import imaplib
import mailbox
import os
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

from prosora_pipelines.lib.articles.published_dates import resolve_published
from prosora_pipelines.lib.sources.catalog import MailboxAccess
from prosora_pipelines.lib.sources.raw_entries import RawEntry

ORIGIN = "email"
_VIEW_ONLINE = re.compile(
    r"view\s+(?:(?:it|this(?:\s+email)?)\s+)?(?:in|on)\s+(?:your|a|the)?\s*browser"
    r"|view\s+online|read\s+online|web\s+version|view\s+(?:as\s+a\s+)?web\s*page",
    re.IGNORECASE,
)
_VALIDATOR = re.compile(r"^imap-(\d+)-(\d+)$")


class MailboxError(RuntimeError):
    """A mailbox that could not be read (missing, not a mailbox, refused login, no folder)."""


@dataclass(frozen=True)
class MailboxRead:
    messages: list[bytes]
    validator: str
    """What to remember for the next read (see the module docstring)."""
    not_modified: bool = False


def _address_key(message: EmailMessage) -> tuple[str, str]:
    name, address = parseaddr(str(message.get("From", "")))
    return name.strip(), address.strip().lower()


def _list_key(message: EmailMessage, address: str) -> str:
    list_id = str(message.get("List-Id", "")).strip()
    match = re.search(r"<([^>]+)>", list_id)
    return (match.group(1) if match else list_id).strip().lower() or address or "unknown-sender"


def _message_id(message: EmailMessage, raw: bytes) -> str:
    found = str(message.get("Message-ID", "")).strip().strip("<>").strip()
    return found or "sha256-" + hashlib.sha256(raw).hexdigest()[:32]


def _body_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html", "plain"))
    if part is None:
        return ""
    content = part.get_content()
    if part.get_content_subtype() == "html":
        return str(content)
    paragraphs = [block.strip() for block in str(content).split("\n\n") if block.strip()]
    return "".join(f"<p>{html.escape(block)}</p>" for block in paragraphs)


def view_online_link(body_html: str) -> str | None:
    """The http(s) link whose text (or title) offers the message as a web page, if any."""
    soup = BeautifulSoup(body_html, "lxml")
    for anchor in soup.find_all("a", href=True):
        label = " ".join([anchor.get_text(" "), str(anchor.get("title") or "")])
        href = str(anchor["href"]).strip()
        if _VIEW_ONLINE.search(label) and urlsplit(href).scheme.lower() in ("http", "https"):
            return href
    return None


def entry_from_message(
    raw: bytes, *, source_id: str, fetched_at: datetime, allowed_skew: timedelta
) -> RawEntry:
    """The raw entry of one message (its bytes as stored, headers and body)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # what the default policy makes
    name, address = _address_key(message)
    message_id = _message_id(message, raw)
    body = _body_html(message)
    date = str(message.get("Date", "")).strip() or None
    published = resolve_published(date, None, fetched_at=fetched_at, allowed_skew=allowed_skew)
    return RawEntry(
        source_id=source_id,
        entry_key=f"mail:{_list_key(message, address)}/{message_id}",
        link=view_online_link(body) or f"mid:{message_id}",
        guid=message_id,
        title=str(message.get("Subject", "")).strip(),
        summary_html="",
        content_html=body,
        author=name or address or None,
        published_at=published.at,
        date_status=published.status,
        date_raw=published.raw,
        fetched_at=fetched_at,
        origin=ORIGIN,
    )


def _local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path)) if url.startswith("file:") else Path(url)


def _is_maildir(path: Path) -> bool:
    if not path.is_dir():
        return False
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        raise MailboxError(f"{path} is a folder but not a Maildir (no cur/ and new/)")
    return True


def _local_validator(path: Path, maildir: bool) -> str:
    """Size and modification time: of the file, or of the Maildir's cur/ and new/ folders,
    which change whenever a message arrives, moves or goes."""
    parts = [path / "cur", path / "new"] if maildir else [path]
    return "local-" + "-".join(
        f"{stat.st_size}-{stat.st_mtime_ns}" for stat in (part.stat() for part in parts)
    )


def _local_messages(path: Path, maildir: bool) -> list[bytes]:
    box: mailbox.Mailbox[Any] = (
        mailbox.Maildir(path, create=False) if maildir else mailbox.mbox(path, create=False)
    )
    try:
        return [box.get_bytes(key) for key in sorted(box.keys())]
    finally:
        box.close()


def read_local_mailbox(url: str, previous: str | None) -> MailboxRead:
    """Every message of the mbox file or Maildir folder at ``url``, unless it is unchanged
    since ``previous``."""
    path = _local_path(url)
    if not path.exists():
        raise MailboxError(f"no mailbox at {path}")
    try:
        maildir = _is_maildir(path)
        validator = _local_validator(path, maildir)
        if validator == previous:
            return MailboxRead([], validator, not_modified=True)
        return MailboxRead(_local_messages(path, maildir), validator)
    except OSError as error:
        raise MailboxError(f"cannot read the mailbox at {path}: {error}") from None


def _checked(response: tuple[str, Sequence[Any]], what: str) -> Sequence[Any]:
    status, data = response
    if status != "OK":
        raise MailboxError(f"IMAP {what} failed: {status} {data!r}"[:300])
    return data


def read_imap_mailbox(
    url: str,
    access: MailboxAccess,
    previous: str | None,
    *,
    timeout: float,
    environ: Mapping[str, str] = os.environ,
) -> MailboxRead:
    """The messages of the IMAP folder not read before (see the module docstring)."""
    parts = urlsplit(url)
    password = environ.get(access.password_env)
    if not password:
        raise MailboxError(f"the environment variable {access.password_env} (password) is not set")
    context = ssl.create_default_context(cafile=access.ca_file)
    seen = _VALIDATOR.match(previous or "")
    try:
        with imaplib.IMAP4_SSL(
            parts.hostname or "", parts.port or 993, ssl_context=context, timeout=timeout
        ) as client:
            try:
                client.login(access.user, password)
            except imaplib.IMAP4.error as error:
                raise MailboxError(f"IMAP login refused for {access.user}: {error}") from None
            _checked(
                client.select(_quoted(access.folder), readonly=True), "SELECT " + access.folder
            )
            validity = int(_response_number(client, "UIDVALIDITY"))
            last = int(seen.group(2)) if seen and int(seen.group(1)) == validity else 0
            found = _checked(client.uid("SEARCH", f"UID {last + 1}:*"), "UID SEARCH")
            uids = sorted(int(uid) for uid in (found[0] or b"").split() if int(uid) > last)
            messages = []
            for uid in uids:
                fetched = _checked(client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH")
                body = next(item[1] for item in fetched if isinstance(item, tuple))
                messages.append(bytes(body))
            newest = max(uids, default=last)
            return MailboxRead(
                messages, f"imap-{validity}-{newest}", not_modified=not messages and bool(seen)
            )
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxError(f"IMAP {parts.hostname}: {type(error).__name__}: {error}") from None


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _response_number(client: imaplib.IMAP4_SSL, name: str) -> str:
    _, data = client.response(name)
    if not data or data[0] is None:
        raise MailboxError(f"the IMAP server sent no {name}")
    value = data[0]
    return value.decode() if isinstance(value, bytes) else str(value)
