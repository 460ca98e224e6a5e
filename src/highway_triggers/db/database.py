"""The database handle: one SQLAlchemy engine, a serial writer thread, sessions."""

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event

from highway_triggers.datadir import create_parent

P = ParamSpec("P")
T = TypeVar("T")

Synchronous = Literal["FULL", "NORMAL"]
"""SQLite's ``PRAGMA synchronous`` in WAL mode: ``FULL`` fsyncs the WAL at every commit, so
a commit survives power loss; ``NORMAL`` only at checkpoints, so a commit survives a
process crash, but the last ones may be lost on an OS crash or power loss."""


PAGE_SIZE = 4_096
"""SQLite's page size for a new database file (an existing one keeps its own).

Every page a transaction dirties goes whole into the WAL at commit, and again into the
database at the next checkpoint: each index a row touches costs a page per commit. With
16 KiB pages a GitHub push (an 8 KB body stored, a dispatch of ~9 KB) cost ~80 KB of disk
writes; 4 KiB pages gave bench/github.py 9% more deliveries per second (2,510 -> 2,750,
8 KiB pages 2,740), although a row of a few KB then takes overflow pages."""


REPORT_ROWCOUNT = {"preserve_rowcount": True}
"""Every statement's ``rowcount``, an INSERT's too: SQLAlchemy drops it on PostgreSQL
unless asked, and "did my ``INSERT … ON CONFLICT DO NOTHING`` take the row" (a claim, a
lease, a used link) reads it."""


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _configure_sqlite(engine: Engine, synchronous: Synchronous) -> None:
    if synchronous not in ("FULL", "NORMAL"):  # it is spliced into the PRAGMA below
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        # set before WAL mode, which fixes the page size of a new database
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer thread does it
        # a WAL that starts over after a burst is cut back to 64 MiB
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction that reads and
        # then writes waits for its turn instead of failing with "database is locked".
        # (straight to the driver: it runs once per write transaction, on the hot path)
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")


class Checkpointer:
    """Copies SQLite's WAL into the database file from its own thread and connection.

    A checkpoint fsyncs; done by the committing connection it would stall every
    request in the batch behind it. Each round is a PASSIVE checkpoint, which copies
    the bulk while the writer goes on, an fsync of the database file, then a RESTART
    checkpoint, which holds the writer back only for the frames written meanwhile and
    lets its next transaction start the WAL over. Without the fsync between them, the
    RESTART flushed all the PASSIVE one had copied while holding the writer back: under
    load 2% of the writer's batches waited 20–65 ms for it (bench/github.py: p99 50–60 ms,
    32 ms with it). PASSIVE alone never catches up under sustained load: the WAL then grows
    without bound (hundreds of MB in minutes) and every page lookup slows down.
    """

    def __init__(self, path: str, interval: float = 0.5) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="highway-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=30
        )
        try:
            database = os.open(self._path, os.O_RDONLY)  # sqlite3.connect made the file
            try:
                while not self._stop.wait(self._interval):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    os.fsync(database)
                    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                os.close(database)
        except (sqlite3.Error, OSError) as exc:
            logging.getLogger(__name__).warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Database:
    """One engine for the process; hot-path writes are serialised through ``write``.

    One writer keeps SQLite free of lock contention and lets a batch of requests share
    one transaction (group commit). On PostgreSQL it is a thread, as commits wait on
    the network. ``synchronous`` applies to SQLite only (see :data:`Synchronous`).
    """

    def __init__(self, url: str, *, synchronous: Synchronous = "FULL") -> None:
        self.url = normalize_url(url)
        if self.url.startswith("sqlite"):
            self.engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                execution_options=REPORT_ROWCOUNT,
            )
            _configure_sqlite(self.engine, synchronous)
            database = self.engine.url.database
            in_memory = not database or database == ":memory:"
            if database and not in_memory and not database.startswith("file:"):
                create_parent(database)
            self._checkpointer = None if in_memory or database is None else Checkpointer(database)
        else:
            self.engine = create_engine(
                self.url,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                execution_options=REPORT_ROWCOUNT,
            )
            self._checkpointer = None
        self.dialect = self.engine.dialect.name
        self.inline_writes = self.dialect == "sqlite"
        """SQLite writes run on the event loop: a commit takes well under a millisecond,
        and a writer thread would wait for the GIL behind every request being served."""
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="highway-db-writer")

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` serialised with every other hot-path write (see ``inline_writes``)."""
        if self.inline_writes:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self.engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.stop()
