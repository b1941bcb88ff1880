"""A registry of in-memory caches, so one admin call can report and clear them all."""

from __future__ import annotations

import threading

from arduino_trader.actors.ttl_cache import CacheHandle


class CacheRegistry:
    """Caches register here; ``clear_all`` empties each and reports what it dropped."""

    def __init__(self) -> None:
        self._caches: dict[str, CacheHandle] = {}
        self._lock = threading.Lock()

    def register(self, handle: CacheHandle) -> None:
        """Add a cache (names are unique)."""
        with self._lock:
            self._caches[handle.name] = handle

    def stats(self) -> dict[str, dict[str, int]]:
        """``{name: {"entries": n}}`` for every cache."""
        with self._lock:
            handles = list(self._caches.values())
        return {h.name: {"entries": h.size()} for h in handles}

    def clear_all(self) -> dict[str, int]:
        """Clear every cache; ``{name: entries_dropped}``."""
        with self._lock:
            handles = list(self._caches.values())
        return {h.name: h.clear() for h in handles}
