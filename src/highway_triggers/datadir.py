"""The data directory (``HIGHWAY_DATA_DIR``): where the SQLite database and the secret key
file live unless set explicitly, and what relative paths of both are resolved against."""

from __future__ import annotations

import os
from pathlib import Path

APP = "highway-triggers"
DATABASE_FILE = "highway-triggers.db"
KEY_FILE = ".highway-secret-key"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/highway-triggers``, else ``~/.local/share/highway-triggers``."""
    base = os.environ.get("XDG_DATA_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / APP
    try:
        return Path.home() / ".local" / "share" / APP
    except RuntimeError:
        raise ValueError(
            "no home directory for the default data directory: set HIGHWAY_DATA_DIR"
        ) from None


def in_data_dir(data_dir: Path, path: str) -> Path:
    """``path`` (``~`` expanded); a relative one inside ``data_dir``."""
    return data_dir / Path(path).expanduser()


def sqlite_url_in(data_dir: Path, url: str) -> str:
    """``url`` with a relative SQLite file resolved in ``data_dir``; other URLs as given."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:"):  # an SQLite URI filename: left to SQLite
        return url
    resolved = parsed.set(database=str(in_data_dir(data_dir, database)))
    return resolved.render_as_string(hide_password=False)


def create_parent(path: str | Path) -> None:
    """Create the folder a file of the gateway goes in (the data directory, say); a new one
    is the owner's only, as it may hold the secret key."""
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
