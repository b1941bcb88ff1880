"""A bound on how deeply a request body's JSON may nest.

Python's JSON parser recurses once per ``[``/``{``: a body of a few thousand brackets
ends in ``RecursionError``. No route takes more than a few levels, so the body is scanned
first (strings skipped) and anything deeper than :data:`MAX_DEPTH` is refused.
"""

from __future__ import annotations

MAX_DEPTH = 32


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of ``text`` outside strings (stops past the limit)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        elif char in "]}":
            depth -= 1
    return deepest
