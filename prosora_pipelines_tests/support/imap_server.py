"""A real IMAP server for tests: Debian's dovecot started in the foreground on a free
loopback port, with a self-signed certificate made for the run, one user from a passwd
file and a Maildir the test fills. Everything lives in one temporary folder.

Dovecot runs as the current user when that is not root; as root (containers, CI images),
its processes and the mail files belong to the ``dovecot`` user the package creates, since
dovecot refuses to serve mail as root.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "reader@example.com"
PASSWORD = "app-password-8c1d"
DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)


@dataclass(frozen=True)
class ImapServer:
    port: int
    ca_file: Path
    maildir: Path
    """The user's Maildir: files written to its new/ folder are delivered."""
    owner: tuple[int, int]

    @property
    def url(self) -> str:
        return f"imaps://127.0.0.1:{self.port}"

    def deliver(self, name: str, message: bytes) -> None:
        target = self.maildir / "new" / name
        temporary = self.maildir / "tmp" / name
        temporary.write_bytes(message)
        os.chown(temporary, *self.owner)
        temporary.replace(target)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _certificate(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert = folder / "cert.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert


def _config(folder: Path, port: int, user: str, uid: int, gid: int) -> str:
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
ssl_min_protocol = TLSv1.2
default_internal_user = {user}
default_internal_group = {user}
default_login_user = {user}
first_valid_uid = {uid}
first_valid_gid = {gid}
auth_mechanisms = plain
mail_location = maildir:{folder}/mail/%u
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={folder}/mail/%u
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("dovecot did not start listening within 15 s")


@contextmanager
def running_imap_server() -> Iterator[ImapServer]:
    """Dovecot serving ``USER`` over IMAPS on loopback until the block ends. Its folder is
    made directly in the system's temporary folder: dovecot's own processes must be able
    to reach it, and pytest's folders are private to the user running the tests."""
    if DOVECOT is None:
        raise FileNotFoundError("dovecot is not installed (Debian package dovecot-imapd)")
    with tempfile.TemporaryDirectory(prefix="prosora-dovecot-") as name:
        folder = Path(name)
        folder.chmod(0o755)
        yield from _serve(folder)


def _serve(folder: Path) -> Iterator[ImapServer]:
    assert DOVECOT is not None
    account = pwd.getpwnam("dovecot") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    uid, gid = account.pw_uid, account.pw_gid
    port = _free_port()
    ca_file = _certificate(folder)
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    maildir = folder / "mail" / USER
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for path in [folder / "mail", maildir, *(maildir / sub for sub in ("cur", "new", "tmp"))]:
        os.chown(path, uid, gid)
    config = folder / "dovecot.conf"
    config.write_text(_config(folder, port, account.pw_name, uid, gid))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for(port, process, folder / "dovecot.log")
        yield ImapServer(port=port, ca_file=ca_file, maildir=maildir, owner=(uid, gid))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
