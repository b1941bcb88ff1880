"""The admin HTTP API (aiohttp)."""
