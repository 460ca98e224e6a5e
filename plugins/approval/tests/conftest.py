"""One approval test gateway per module and database (SQLite, PostgreSQL): see approval_hub."""

from approval_hub import serving

from highway_triggers.fixtures import module_hubs

hub, sqlite_hub = module_hubs("approval", serving)
