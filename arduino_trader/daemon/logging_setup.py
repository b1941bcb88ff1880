"""Structured logging: JSON lines on stdout, secrets masked, stdlib loggers routed through.

Every line has ``ts`` (UTC ISO-8601), ``level`` and ``event``, plus the bound context
(``actor``, ``job``, ``component``, ...). Exceptions are rendered as a plain traceback
string, never with local variables (they may hold credentials).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from . import log_buffer

MASK = "***"
_SENSITIVE_KEY_PARTS = ("secret", "password", "token", "api_key", "authorization")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}
# Third-party loggers that are noisy below WARNING.
_QUIET = ("pykka", "asyncio", "numba", "urllib3", "yfinance", "peewee")


class SecretMasker:
    """A structlog processor replacing secret values (and values of secret-named keys)."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        self._secrets = secrets

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        values = sorted({s for s in self._secrets() if s and len(s) >= 4}, key=len, reverse=True)
        return {key: self._clean(key, value, values) for key, value in event_dict.items()}

    def _clean(self, key: str, value: Any, secrets: list[str]) -> Any:
        lowered = key.lower()
        if any(part in lowered for part in _SENSITIVE_KEY_PARTS) and value not in ("", None):
            return MASK
        if isinstance(value, str):
            return _mask_text(value, secrets)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v, secrets) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(key, v, secrets) for v in value]
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        return _mask_text(str(value), secrets)


def _mask_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _rename_level(logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
    level = event_dict.get("level")
    if isinstance(level, str):
        event_dict["level"] = level.lower()
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _rename_level,
    ]


def _drop_empty_logger(logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
    if not event_dict.get("logger"):
        event_dict.pop("logger", None)
    return event_dict


def _lead_with_ts_level_event(logger: WrappedLogger, name: str,
                              event_dict: EventDict) -> EventDict:
    """``ts``, ``level`` and ``event`` first: lines read well in ``journalctl``."""
    head = {k: event_dict.pop(k) for k in ("ts", "level", "event") if k in event_dict}
    return {**head, **event_dict}


def configure_logging(level: str, secrets: Callable[[], Iterable[str]],
                      stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to JSON lines on ``stream`` (stdout)."""
    masker = SecretMasker(secrets)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _drop_empty_logger, masker, _lead_with_ts_level_event,
                    structlog.processors.JSONRenderer(sort_keys=False)],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    log_buffer.install(root, formatter)  # the last lines for GET /api/system/logs
    logging.captureWarnings(True)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_shared_processors(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    set_level(level)


def set_level(level: str) -> None:
    """Change the minimum level at runtime (``log.level`` setting)."""
    numeric = _LEVELS.get(level.lower(), logging.INFO)
    logging.getLogger().setLevel(numeric)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

