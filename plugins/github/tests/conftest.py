"""One GitHub test gateway per module and database (SQLite, PostgreSQL): see github_hub."""

from github_hub import serving

from highway_triggers.fixtures import module_hubs

hub, sqlite_hub = module_hubs("github", serving)
