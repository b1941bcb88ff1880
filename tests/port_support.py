"""What the repository-port tests compare: a class's public operations and their
parameter names (a Protocol's and its SQLite implementation's must be the same)."""

from __future__ import annotations

import inspect


def operations(cls: type) -> dict[str, list[str]]:
    """``{name: parameter names}`` of every public function ``cls`` defines itself."""
    return {name: list(inspect.signature(fn).parameters) for name, fn in vars(cls).items()
            if inspect.isfunction(fn) and not name.startswith("_")}
