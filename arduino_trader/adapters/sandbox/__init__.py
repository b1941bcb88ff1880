"""A local Tradernet-compatible server for tests and rehearsals (no real money)."""
