"""Security headers for the project's web apps (console, alerts): one middleware, each app its own policy."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What every page needs whatever its content: no sniffing, no referrer leaking a link, no framing.
BASE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """Plain ASGI middleware (streamed responses, such as server-sent events, pass through untouched)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the start of every HTTP response, keeping any a route set itself."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(app: Starlette, csp: str) -> None:
    """Every response of `app` carries the base headers and this Content-Security-Policy, unless a route set its own."""
    app.add_middleware(SecurityHeaders, headers={"Content-Security-Policy": csp, **BASE_HEADERS})
