"""A small thread-safe cache with a time-to-live read from settings at each access."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small thread-safe cache whose entries expire ``ttl()`` seconds after insertion."""

    def __init__(self, name: str, ttl: Callable[[], float], clock: Callable[[], float]) -> None:
        self.name = name
        self._ttl = ttl
        self._clock = clock
        self._data: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value if present and fresh."""
        with self._lock:
            item = self._data.get(key)
            if item is None or self._clock() - item[0] > self._ttl():
                return None
            return item[1]

    def put(self, key: K, value: V) -> None:
        """Store ``value`` now."""
        with self._lock:
            self._data[key] = (self._clock(), value)

    def size(self) -> int:
        """Entries held (fresh or not)."""
        with self._lock:
            return len(self._data)

    def clear(self) -> int:
        """Drop everything; returns how many entries were dropped."""
        with self._lock:
            n = len(self._data)
            self._data.clear()
            return n


@dataclass(frozen=True)
class CacheHandle:
    """How the daemon's cache registry sizes and clears one cache."""

    name: str
    size: Callable[[], int]
    clear: Callable[[], int]
