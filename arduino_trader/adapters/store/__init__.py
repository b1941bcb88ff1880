"""SQLite store (aiosqlite), migrations and backups."""
