"""A real DBOS application (``dbos_app.py``) on a PostgreSQL database of its own, run
by this environment's Python; a client on its system database to read its workflows;
and a TCP gate in front of PostgreSQL that plays an unreachable database, or one whose
answer to a commit is lost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from dbos import DBOSClient

from highway_triggers.testing import free_port, wait_until

APP = Path(__file__).with_name("dbos_app.py")
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"  # the simple-protocol query ``COMMIT``


class Dbos:
    """The running application's system database, and what its workflows did."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.client = DBOSClient(system_database_url=database_url)

    def result(self, workflow_id: str, timeout: float = 30) -> Any:
        """What the workflow returned, once it has (``SUCCESS``)."""
        handle = self.client.retrieve_workflow(workflow_id)
        wait_until(lambda: handle.get_status().status == "SUCCESS", timeout=timeout, interval=0.05)
        return handle.get_result()

    def runs(self, name: str, marker: str) -> list[str]:
        """The ids of workflow ``name``'s runs whose trigger data carries ``marker``."""
        return [
            w.workflow_id
            for w in self.client.list_workflows(name=name)
            if w.input is not None and w.input["args"][0]["trigger_data"].get("marker") == marker
        ]


@contextmanager
def running_dbos(database_url: str, folder: Path) -> Iterator[Dbos]:
    """Launch ``dbos_app.py`` on ``database_url`` (its system database); stop it after."""
    log_path = folder / "dbos.log"
    env = {**os.environ, "DBOS_SYSTEM_DATABASE_URL": database_url}
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, str(APP)], env=env, stdout=log, stderr=log)

    def ready() -> bool:
        text = log_path.read_text(errors="replace")
        if process.poll() is not None:
            raise RuntimeError(f"the DBOS application exited: {text[-3000:]}")
        return "ready" in text.splitlines()

    dbos: Dbos | None = None
    try:
        wait_until(ready, timeout=60, interval=0.1)
        dbos = Dbos(database_url)
        yield dbos
    finally:
        if dbos is not None:
            dbos.client.destroy()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Gate:
    """A TCP forwarder on a loopback port to ``target``; closed (connections refused)
    until :meth:`open`, like a database that is down. While :attr:`hold_commits` is set,
    a connection that sends ``COMMIT`` gets no answer from then on: PostgreSQL commits,
    its client waits for ever."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.hold_commits = False
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                inbound, _ = listener.accept()
            except OSError:
                return
            outbound = socket.create_connection(self.target)
            self._sockets += [inbound, outbound]
            held = threading.Event()
            threading.Thread(target=self._ask, args=(inbound, outbound, held), daemon=True).start()
            threading.Thread(target=_answer, args=(outbound, inbound, held), daemon=True).start()

    def _ask(self, client: socket.socket, server: socket.socket, held: threading.Event) -> None:
        """The client's bytes to the server; a ``COMMIT`` while holding sets ``held``
        before it is sent, so that its answer is the first one swallowed."""
        with suppress(OSError):
            while data := client.recv(65536):
                if self.hold_commits and COMMIT in data:
                    held.set()
                server.sendall(data)
        with suppress(OSError):
            server.shutdown(socket.SHUT_WR)


def _answer(server: socket.socket, client: socket.socket, held: threading.Event) -> None:
    """The server's bytes to the client, none once ``held`` is set."""
    with suppress(OSError):
        while data := server.recv(65536):
            if not held.is_set():
                client.sendall(data)
    with suppress(OSError):
        client.shutdown(socket.SHUT_WR)
