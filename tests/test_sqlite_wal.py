"""SQLite's WAL is checkpointed from its own thread and stays bounded under load."""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import text

from highway_triggers.db.database import PAGE_SIZE, Checkpointer, Database


def test_the_wal_stays_bounded_under_sustained_writes(tmp_path: Path) -> None:
    """Commits that never pause for long (a busy gateway) must still let the WAL start
    over: PASSIVE checkpoints alone never catch up and the file grows without bound."""
    path = tmp_path / "busy.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("PRAGMA busy_timeout=30000")
    writer.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT)")
    checkpointer = Checkpointer(str(path), interval=0.05)
    wal = Path(f"{path}-wal")
    largest, written = 0, 0
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            writer.execute("INSERT INTO rows (body) VALUES (?)", ("x" * 3000,))
            written += 1
            largest = max(largest, wal.stat().st_size)
            time.sleep(0.0005)
    finally:
        checkpointer.stop()
    rows = writer.execute("SELECT count(*) FROM rows").fetchone()
    writer.close()
    assert written > 500, "the writer was not held back for long"
    # every commit adds a page of about 4 KB: without restarts the WAL would hold them all;
    # with them it holds a fraction (a quarter when idle, under half on a loaded CI machine,
    # where the checkpointer's thread gets fewer turns)
    all_commits = written * 4096
    assert largest < all_commits * 0.6, f"WAL reached {largest} bytes for {written} commits"
    assert rows == (written,)


def test_a_new_database_has_the_gateways_page_size_and_an_existing_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    """A new database gets PAGE_SIZE; one made before (with 16 KiB pages, as gateways made
    them for a while) keeps its page size, as WAL mode fixes it."""
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old)) as made_before:
        made_before.execute("PRAGMA page_size=16384")
        made_before.execute("PRAGMA journal_mode=WAL")
        made_before.execute("CREATE TABLE t (x)")
    assert PAGE_SIZE != 16384
    for path, expected in ((tmp_path / "new.db", PAGE_SIZE), (old, 16384)):
        database = Database(f"sqlite:///{path}")
        try:
            with database.engine.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS rows (body TEXT)"))
                conn.execute(text("INSERT INTO rows VALUES (:body)"), {"body": "x" * 8000})
        finally:
            database.close()
        with closing(sqlite3.connect(path)) as check:
            assert check.execute("PRAGMA page_size").fetchone() == (expected,)
