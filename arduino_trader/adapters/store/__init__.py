"""SQLite store (sqlite3, synchronous), repositories, migrations and backups."""
