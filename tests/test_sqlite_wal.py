"""SQLite's WAL is checkpointed from its own thread and stays bounded under load."""

import sqlite3
import time
from pathlib import Path

from highway_triggers.db.database import Checkpointer


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
    # every commit adds a page of about 4 KB: without restarts the WAL would hold them all
    assert largest < written * 4096 / 4, f"WAL reached {largest} bytes for {written} commits"
    assert rows == (written,)
