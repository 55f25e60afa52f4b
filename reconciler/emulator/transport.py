"""An httpx transport that calls the emulator in-process, with no socket.

An injected connection drop surfaces as ``httpx.RemoteProtocolError`` ("Server
disconnected without sending a response"), for drop-before and drop-after alike: that is
what a real socket gives once the request has been sent, and the client cannot tell the
two apart either way (only the emulator's state and request log can).
"""

from __future__ import annotations

import httpx

from reconciler.emulator.app import ConnectionDropped, EmulatorApp


def with_content_length(request: httpx.Request) -> httpx.Request:
    """A streamed (chunked) body gets a Content-Length, as a server would see it whole:
    without one, a WSGI app that was not told the input is terminated reads nothing."""
    if "content-length" in request.headers:
        return request
    body = request.read()
    headers = [
        (key, value)
        for key, value in request.headers.multi_items()
        if key.lower() != "transfer-encoding"
    ]
    return httpx.Request(
        request.method, request.url, headers=headers, content=body, extensions=request.extensions
    )


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, app: EmulatorApp) -> None:
        self._inner = httpx.WSGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(with_content_length(request))
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc

    def close(self) -> None:
        self._inner.close()
