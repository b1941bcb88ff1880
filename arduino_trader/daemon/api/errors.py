"""API errors: a stable ``error`` code, a message, an HTTP status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by handlers; rendered as ``{"error": code, "message": text, ...details}``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.code, "message": self.message, **self.details}


def bad_request(message: str, code: str = "bad_request", **details: Any) -> ApiError:
    """400 with a clear message."""
    return ApiError(400, code, message, **details)


def not_found(message: str, code: str = "not_found", **details: Any) -> ApiError:
    """404 with a clear message."""
    return ApiError(404, code, message, **details)


def conflict(message: str, code: str = "conflict", **details: Any) -> ApiError:
    """409 with a clear message."""
    return ApiError(409, code, message, **details)
