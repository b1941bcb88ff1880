"""I/O behind the ports: broker clients, market data, SQLite store, clocks."""
