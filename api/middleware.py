"""ASGI middleware: what every request and response goes through.

Pure ASGI rather than BaseHTTPMiddleware: they neither buffer bodies nor add a task per request.
"""

from fastapi import HTTPException, status
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every answer unless it says otherwise: not sniffed as another type, and not stored by a browser or proxy
# (payouts are money, most answers are someone's own data; the studio's stylesheet says it may be cached).
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))


def body_too_large(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes"


class BodySizeLimit:
    """Refuses request bodies over max_bytes with 413: by their Content-Length before a byte is read,
    and a body sent without one (chunked) as soon as it grows past the limit. Paths in by_path have
    their own limit (a batch of playback events is larger than any other body)."""

    def __init__(self, app: ASGIApp, max_bytes: int, by_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = by_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.by_path.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            response = JSONResponse({"detail": body_too_large(max_bytes)}, status.HTTP_413_CONTENT_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # An HTTPException passes through FastAPI's body parsing to the error handlers.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, body_too_large(max_bytes))
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
