"""The HTTP session the Yahoo adapter hands to yfinance: curl_cffi, impersonating a browser.

It does two things yfinance does not do for us:

* every request is bounded by the configured timeout (yfinance's own timezone and
  ``.info`` lookups pass a fixed 10–30 s of their own);
* the status of every answer is recorded, so the adapter classifies a failed call by what
  Yahoo actually answered (a 503 page yfinance cannot parse as JSON is an outage, not a
  malformed payload; a 429 on the crumb request is a rate limit, not an outage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curl_cffi import requests as curl_requests

CRUMB_PATH = "/v1/test/getcrumb"
COOKIE_HOSTS = ("fc.yahoo.com", "guce.yahoo.com", "consent.yahoo.com")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: the URL asked, the status Yahoo gave, the timeout it ran under."""

    url: str
    status: int
    timeout_s: float

    @property
    def is_handshake(self) -> bool:
        """A cookie or crumb request (not the data asked for)."""
        return CRUMB_PATH in self.url or any(h in self.url for h in COOKIE_HOSTS)


class YahooSession(curl_requests.Session):
    """A curl_cffi session with a ceiling on every request's timeout and a log of the
    statuses of the current call (:meth:`begin` starts a new call)."""

    def __init__(self, timeout_s: float, **kwargs: Any) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout must be positive, got {timeout_s!r}")
        super().__init__(**kwargs)
        self.timeout_s = float(timeout_s)
        self.answers: list[Answer] = []

    def begin(self) -> None:
        """Forget the answers of the previous call."""
        self.answers = []

    def request(self, method: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send with ``timeout = min(asked, configured)`` and record the status."""
        asked = kwargs.get("timeout")
        if not isinstance(asked, int | float) or isinstance(asked, bool) \
                or asked > self.timeout_s:
            kwargs["timeout"] = self.timeout_s
        response = super().request(method, url, *args, **kwargs)
        self.answers.append(Answer(url, int(response.status_code), kwargs["timeout"]))
        return response
