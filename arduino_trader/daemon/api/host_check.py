"""The ``Host`` header check: the admin API answers only to the names it is reached by.

A page on any web site can point its own DNS name at 127.0.0.1 ("DNS rebinding") and
have the owner's browser read the unauthenticated routes (account, logs). Its requests
carry that site's name in ``Host``, so only loopback names, the configured bind address
and the names in ``api.allowed_hosts`` are served; anything else answers 403. A request
without ``Host`` (HTTP/1.0; no browser sends one) is served.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler

from .context import CONTEXT
from .errors import ApiError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (compared, not bound)


def host_name(header: str) -> str:
    """The name of a ``Host`` header without its port, lower-case (IPv6 unbracketed)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    name, _, port = value.rpartition(":")
    return name if name and port.isdigit() else value.rstrip(".")


def is_allowed(name: str, bind_host: str, extra: str) -> bool:
    """Whether the API serves requests addressed to ``name``."""
    if name in LOOPBACK_NAMES:
        return True
    try:
        if ipaddress.ip_address(name).is_loopback:
            return True
    except ValueError:
        pass
    allowed = {h.strip().lower() for h in extra.split(",") if h.strip()}
    if bind_host.strip().lower() not in ANY_ADDRESS:
        allowed.add(host_name(bind_host))
    return name in allowed


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 ``host_not_allowed`` for a ``Host`` the API is not known by."""
    header = request.headers.get("Host")
    if header is not None:
        settings = request.app[CONTEXT].settings.current()
        name = host_name(header)
        if not is_allowed(name, settings.typed.api.host,
                          settings.typed.api.allowed_hosts):
            raise ApiError(403, "host_not_allowed",
                           f"this API does not answer to host {name!r}; add it to "
                           "api.allowed_hosts to reach it by that name")
    return await handler(request)
