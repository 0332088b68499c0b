"""ASGI middleware answering only requests that name an allowed host (DNS-rebinding defence).

A page on another site can make a browser send requests to ``127.0.0.1`` under a host name the
attacker controls; refusing every ``Host`` but the loopback names closes that door. The refusal
is ``400`` with ``{"detail": ...}``, the body every other error of the API has.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from restorekit.serve.limits import ASGIApp, Receive, Scope, Send


def host_name(header: str) -> str:
    """The host of a ``Host`` header without its port (``[::1]:8000`` -> ``[::1]``)."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class AllowedHostsMiddleware:
    """Refuse HTTP and WebSocket requests whose ``Host`` is not one of ``hosts``."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = Headers(scope=scope).get("host", "")
            if host_name(header).lower() not in self.hosts:
                response = JSONResponse(
                    {"detail": f"invalid Host header {header!r}: this server answers to "
                               f"{', '.join(sorted(self.hosts))} only"}, status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
