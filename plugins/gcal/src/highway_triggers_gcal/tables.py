"""The plugin's tables (created by its ``migrations``)."""

from sqlalchemy import Column, MetaData, String, Table

from highway_triggers.plugin import UtcDateTime

metadata = MetaData()

SYNC = Table(
    "gcal_sync",
    metadata,
    Column("trigger_id", String, primary_key=True),
    Column("calendar_id", String, nullable=False),
    Column("sync_token", String, nullable=True),  # the last nextSyncToken
    Column("synced_at", UtcDateTime, nullable=False),  # when that sync began
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Each trigger's sync token, advanced in the transaction that dispatches the sync's last
change: it survives a restart and a takeover."""

STARTS = Table(
    "gcal_starts",
    metadata,
    Column("trigger_id", String, primary_key=True),
    Column("event_id", String, primary_key=True),
    Column("start_at", UtcDateTime, primary_key=True),
    Column("claimed_at", UtcDateTime, nullable=False),
)
"""``starting`` fires: one row per event occurrence and start time, inserted by the one
replica that fires it."""

CHANNELS = Table(
    "gcal_channels",
    metadata,
    Column("channel_id", String, primary_key=True),
    Column("trigger_id", String, nullable=False, index=True),
    Column("token_hash", String, nullable=False),  # SHA-256 of X-Goog-Channel-Token
    Column("resource_id", String, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)
"""Open push channels, so that any replica can verify a notification."""
