"""A real Dovecot IMAP server for the tests: its own configuration, users (a passwd-file)
and Maildirs in a temporary folder, on a free loopback port, started in the foreground
(``dovecot -F -c CONF``) and stopped with SIGTERM.

Without Dovecot (``scripts/test-setup`` installs it) the tests that need it skip, except
with ``CI`` set, where they fail.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from highway_triggers.testing import free_port, wait_until

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
NO_IDLE = "imap_capability = IMAP4rev1 SASL-IR LITERAL+ UIDPLUS MOVE"
"""A capability list without IDLE: a server the watcher must poll."""
_users = itertools.count(1)


def dovecot_binary() -> str:
    """The ``dovecot`` executable; skips the test without it (fails it in CI)."""
    found = shutil.which("dovecot", path=SEARCH_PATH)
    if found is None:
        message = "dovecot is not installed (scripts/test-setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass(frozen=True)
class Account:
    """A mailbox user of the server: its login is an address."""

    username: str
    password: str


class Dovecot:
    """One Dovecot server in a folder of its own (short, for its unix sockets; readable by
    its unprivileged processes, which pytest's temporary folders are not); ``extra`` is
    added to its configuration."""

    def __init__(self, extra: str = "") -> None:
        self.folder = folder = Path(tempfile.mkdtemp(prefix="hte-"))
        folder.chmod(0o755)
        self.port = free_port()
        self.binary = dovecot_binary()
        self.process: subprocess.Popen[bytes] | None = None
        self.users_file = folder / "users"
        self.config = folder / "dovecot.conf"
        self.log = folder / "dovecot.log"
        root = os.geteuid() == 0
        self._uid = 65534 if root else os.getuid()  # Dovecot refuses mail as root
        (folder / "mail").mkdir(parents=True, exist_ok=True)
        self.users_file.touch()
        me = pwd.getpwuid(os.getuid()).pw_name
        owner = "" if root else f"default_internal_user = {me}\ndefault_login_user = {me}"
        self.config.write_text(
            f"""base_dir = {folder}/run
state_dir = {folder}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_max_userip_connections = 1000
{owner}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_file}
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{extra}
"""
        )

    def start(self) -> Dovecot:
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._listening, timeout=10, interval=0.02)
        return self

    def stop(self) -> None:
        """SIGTERM, and wait until the port is closed. Dovecot's IMAP processes outlive
        their master (for upgrades): they are ended too, as a restart of the machine would."""
        if self.process is None:
            return
        children = self._children()
        self.process.send_signal(signal.SIGTERM)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        wait_until(lambda: not self._listening(), timeout=10)

    def close(self) -> None:
        """Stop, and remove the run folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _children(self) -> list[int]:
        """The processes the master started (its auth, login and IMAP processes)."""
        assert self.process is not None
        task = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in task.read_text().split()]
        except OSError:
            return []

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {self.log.read_text()[-2000:]}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def account(self) -> Account:
        """A new user with an empty mailbox."""
        n = next(_users)
        account = Account(f"user{n}@example.test", f"secret-{n}")
        home = self.folder / "mail" / f"user{n}"
        for sub in ("new", "cur", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True)
        _chown_tree(home, self._uid)
        with self.users_file.open("a") as users:
            users.write(
                f"{account.username}:{{PLAIN}}{account.password}:{self._uid}:{self._uid}::{home}\n"
            )
        return account

    def client(self, account: Account) -> IMAPClient:
        """A logged-in imapclient connection (the test's own, as a mail client's)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(account.username, account.password)
        return client

    def drop(self, account: Account, *messages: bytes) -> None:
        """Deliver ``messages`` straight into the account's Maildir, as a local delivery
        agent does (each written in ``tmp/``, then all moved to ``new/``); works while the
        server is stopped."""
        maildir = self.folder / "mail" / account.username.split("@")[0] / "Maildir"
        names = []
        for message in messages:
            names.append(name := f"{time.time_ns()}.P{os.getpid()}Q{next(_users)}.test")
            written = maildir / "tmp" / name
            written.write_bytes(message)
            os.chown(written, self._uid, self._uid)
        for name in names:
            (maildir / "tmp" / name).rename(maildir / "new" / name)


def _chown_tree(path: Path, uid: int) -> None:
    for found in [path, *path.rglob("*")]:
        os.chown(found, uid, uid)


def message(
    subject: str = "Hello",
    *,
    sender: str = "alice@example.org",
    to: str = "ops@example.net",
    cc: str | None = None,
    text: str = "Hello there.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    """A message as a mail client sends it (CRLF line ends)."""
    built = EmailMessage()
    built["From"] = sender
    built["To"] = to
    if cc is not None:
        built["Cc"] = cc
    built["Subject"] = subject
    built["Date"] = "Tue, 04 Jun 2024 09:15:00 +0000"
    built["Message-ID"] = message_id or f"<{time.time_ns()}.{next(_users)}@tests.example>"
    if in_reply_to is not None:
        built["In-Reply-To"] = in_reply_to
        built["References"] = in_reply_to
    built.set_content(text)
    if attachment is not None:
        name, content = attachment
        built.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    return built.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
