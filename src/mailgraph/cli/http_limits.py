"""Per-connection limits uvicorn does not have: a deadline for the request head and one for the body,
and a cap on the head's size (issue 17, resource exhaustion; docs/limits.md).

uvicorn (0.30-0.55, httptools) arms its keep-alive timer only after a response, and cancels it on any
byte received: a client that connects and trickles header bytes (slowloris) holds a connection and a
descriptor forever, and llhttp accepts request heads of any size, buffered in memory. This protocol
wraps uvicorn's `HttpToolsProtocol`:

- **head deadline**: from the connection's start (and again after each response), the request line
  and headers must arrive within `head_timeout_s`, else 408 and close (RFC 9110 §15.5.9);
- **head size**: more than `max_head_bytes` before the head is complete → 431 and close
  (RFC 6585 §5; Graph's front end refuses large heads the same way);
- **body deadline**: once the head is in, the body must arrive within `body_timeout_s`; a stalled
  upload is cut and the application sees a disconnect (api/http.py then drops the request);
- **idle keep-alive**: between a response and the next request's first byte only uvicorn's
  keep-alive timer (`--http-keepalive`) runs; the head deadline starts with that first byte;
- **no close over a request that has arrived**: when a deadline fires but request bytes are already
  in the socket, the connection is not closed. A busy event loop runs its due timers before it reads,
  so a request that arrived just before the keep-alive deadline was closed unread: the kernel resets
  the connection and the client cannot know whether its POST was handled (the soak's `ReadError`s,
  docs/reliability.md).

The figures measured with these limits are in docs/limits.md.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import sys
import termios
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from mailgraph.config import Settings


def _refusal(status: int, reason: str, message: str) -> bytes:
    body = b'{"error":{"code":"' + reason.encode() + b'","message":"' + message.encode() + b'"}}'
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


_TOO_LARGE = _refusal(431, "RequestHeaderFieldsTooLarge", "The request headers are too large.")
_TIMEOUT = _refusal(408, "RequestTimeout", "The request was not received in time.")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head deadline, head size cap and body deadline."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_head_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        """Bytes received since the head began (a head still arriving)."""
        self._head_size = 0
        """The parsed head's size: request target and header fields (a head that arrived at once)."""
        self._rejected = False
        self._deadline: asyncio.TimerHandle | None = None
        self._idle = False
        """Between a response and the next request's first byte (the keep-alive timer's time)."""

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_waiting(self) -> bool:
        """Bytes from the client are in the socket, not read yet (the loop reads them next)."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except (OSError, ValueError):  # closed meanwhile
            return False
        return int.from_bytes(waiting, sys.byteorder) > 0

    def timeout_keep_alive_handler(self) -> None:
        if self._request_waiting():  # a request arrived in time: serve it (the head deadline runs)
            self._arm(self.head_timeout_s)
            return
        super().timeout_keep_alive_handler()

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head and self.cycle is not None and not self.cycle.response_complete:
            return  # a (pipelined) response is being written: the next head's deadline starts after it
        if self._in_head and not self._head_bytes and self._request_waiting():
            self._arm(self.head_timeout_s)  # a first byte came in time; the read callback is next
            return
        if self._in_head and self._head_bytes:  # a started request: say why (an idle one just closes)
            self.transport.write(_TIMEOUT)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _reject(self) -> None:
        self._rejected = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        if self._idle:  # the next request's first byte: its head deadline starts
            self._idle = False
            self._arm(self.head_timeout_s)
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._reject()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_size > self.max_head_bytes:
            self._reject()  # no request cycle is started for it
            return
        self._arm(self.body_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._rejected:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # idle until the next request's first byte (keep-alive)
            self._in_head = True
            self._head_bytes = self._head_size = 0
            self._disarm()
            self._idle = True


def limited_protocol(
    head_timeout_s: float, body_timeout_s: float, max_head_bytes: int
) -> type[HttpToolsProtocol]:
    """A protocol class with these limits, for `uvicorn.Config(http=…)`."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {
            "head_timeout_s": head_timeout_s,
            "body_timeout_s": body_timeout_s,
            "max_head_bytes": max_head_bytes,
        },
    )


_OPTIONS = [
    ("--http-head-timeout", "http_head_timeout_s", float),
    ("--http-body-timeout", "http_body_timeout_s", float),
    ("--http-max-head-bytes", "http_max_head_bytes", int),
    ("--http-keepalive", "http_keepalive_s", int),
    ("--http-max-connections", "http_max_connections", int),
    ("--smtp-timeout", "smtp_timeout_s", float),
    ("--smtp-max-sessions", "smtp_max_sessions", int),
]


def add_limit_options(parser: argparse.ArgumentParser, defaults: Settings) -> None:
    """The per-connection limits of `serve` (HTTP and SMTP), with the Settings' defaults and help."""
    from dataclasses import fields

    helps = {f.name: f.metadata.get("help", "") for f in fields(defaults)}
    for flag, name, kind in _OPTIONS:
        parser.add_argument(flag, type=kind, default=getattr(defaults, name), dest=name, help=helps[name])


def limit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The limits given on the command line, as Settings fields."""
    return {name: getattr(args, name) for _, name, _ in _OPTIONS}
