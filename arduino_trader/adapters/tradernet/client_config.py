"""Where and how the Tradernet client talks to the broker: its settings record."""

from __future__ import annotations

from dataclasses import dataclass

USER_AGENT = ("Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "arduino-trader/0.1")


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to talk to Tradernet."""

    base_url: str
    public_key: str
    private_key: str
    timeout_s: float = 15.0
    order_timeout_s: float = 20.0
    read_retries: int = 2
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    requests_per_minute: float = 60.0
    burst: int = 5
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0
    lookup_delay_s: float = 2.0
    lookup_attempts: int = 3
    user_agent: str = USER_AGENT
