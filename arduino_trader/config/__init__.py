"""Typed settings: schema, defaults, ranges, loading. Imports nothing of the project."""
