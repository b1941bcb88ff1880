"""The broker port's failures: a typed tree under :class:`BrokerError`. Every broker
failure reaches the caller as one of these; an answer the adapter cannot read is
:class:`BrokerProtocolError`, never an empty list."""

from __future__ import annotations


class BrokerError(RuntimeError):
    """Any broker failure. ``code`` is the broker's numeric code when it sent one."""

    kind = "broker_error"

    def __init__(self, message: str, *, code: int | None = None, command: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.command = command


class BrokerUnavailable(BrokerError):
    """Network failure, timeout, 5xx, broker code 14, or the circuit breaker is open."""

    kind = "broker_unavailable"


class BrokerRateLimited(BrokerUnavailable):
    """HTTP 429: throttled; the request was not processed."""

    kind = "broker_rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None = None,
                 code: int | None = None, command: str = "") -> None:
        super().__init__(message, code=code, command=command)
        self.retry_after_s = retry_after_s


class BrokerAuthError(BrokerError):
    """Keys missing or refused (bad signature, unknown key, stale timestamp)."""

    kind = "broker_auth_error"


class BrokerRejected(BrokerError):
    """The broker understood the request and refused it (``error``/``errMsg``)."""

    kind = "broker_rejected"


class BrokerProtocolError(BrokerError):
    """An answer that cannot be read: not JSON, wrong shape, unparsable numbers."""

    kind = "broker_protocol_error"


class BrokerUnsupported(BrokerError):
    """This adapter cannot answer that question (e.g. history from the paper broker)."""

    kind = "broker_unsupported"


class OrdersDisabled(BrokerError):
    """The adapter refuses orders: trading mode is not ``live``."""

    kind = "orders_disabled"


class OrderNotPlaced(BrokerUnavailable):
    """The placement failed in transit and lookups by client id did not find the order.

    Not final: the request may still be in flight and be accepted later, so the journal
    keeps the order unresolved until the broker has had its grace."""

    kind = "order_not_placed"


class OrderOutcomeUnknown(BrokerError):
    """The placement failed in transit and the lookup failed too: reconcile before any order."""

    kind = "order_outcome_unknown"

    def __init__(self, message: str, *, user_order_id: int, command: str = "") -> None:
        super().__init__(message, command=command)
        self.user_order_id = user_order_id


BROKER_CALL_FAILURES: tuple[type[Exception], ...] = (BrokerError, TimeoutError)
"""What a broker call through the I/O loop raises when the broker gives no usable
answer: a typed broker failure, or the bridge's ``TimeoutError``. An actor reporting a
broker outage and carrying on catches exactly these; anything else is a fault that
restarts the actor."""
