"""An httpx2 transport that talks to the sandbox app in process, without a port."""

from __future__ import annotations

from typing import Any

import httpx2

from hostup_ipv6_mcp.sandbox.faults import Drop


class InProcessTransport(httpx2.ASGITransport):
    """ASGITransport that turns the sandbox's connection faults into the httpx2 errors a real
    network gives: a drop is RemoteProtocolError, a refusal ConnectError."""

    def __init__(self, app: Any) -> None:
        async def raising_drops(scope: Any, receive: Any, send: Any) -> None:
            # The app returns a Drop (so uvicorn closes the socket); ASGITransport ignores
            # return values, so raise it here to reach handle_async_request.
            if isinstance(drop := await app(scope, receive, send), Drop):
                raise drop

        super().__init__(app=raising_drops)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await super().handle_async_request(request)
        except Drop as drop:
            if drop.kind == "refuse":
                raise httpx2.ConnectError("All connection attempts failed", request=request) from None
            message = "Server disconnected without sending a response."
            raise httpx2.RemoteProtocolError(message, request=request) from None


def in_process_transport(app: Any) -> httpx2.AsyncBaseTransport:
    """Give this to httpx2.AsyncClient(transport=...) to reach the sandbox `app` in process."""
    return InProcessTransport(app)
