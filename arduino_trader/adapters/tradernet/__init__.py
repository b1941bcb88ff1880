"""Tradernet / Freedom24 HTTP API client (spec/operations.md §2)."""
