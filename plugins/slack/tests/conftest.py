"""One Slack test gateway per module and database (SQLite, PostgreSQL): see slack_hub."""

from slack_hub import serving

from highway_triggers.fixtures import module_hubs

hub, sqlite_hub = module_hubs("slack", serving)
