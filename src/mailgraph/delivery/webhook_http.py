"""The HTTP side of change notifications: the URL policy, the validation handshake, and notification POSTs.

Policy (docs/change-tracking.md): Graph requires https; this server also accepts http (the localhost
use case) unless `--webhooks-https-only`. Addresses in link-local space (169.254.0.0/16, fe80::/10 —
cloud metadata endpoints such as 169.254.169.254 and fd00:ec2::254 live there) are refused unless
`--webhooks-allow-link-local`; the check runs on the resolved addresses before every request, so a
name that later resolves there is refused too. https certificates are verified against the system
trust store, or against `--webhooks-ca-file`; `--webhooks-insecure` turns verification off.
Redirects are not followed (Graph does not either).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from mailgraph.delivery.rich import load_certificate
from mailgraph.delivery.webhook_client import HttpError, PostClient
from mailgraph.domain.subscriptions import SubscriptionError, ValidationFailedError

_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"),)
_LINK_LOCAL = (
    "The notificationUrl resolves to a link-local address, which this server refuses "
    "(see --webhooks-allow-link-local)."
)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What notification URLs may be, and how https is verified."""

    https_only: bool = False
    allow_link_local: bool = False
    verify: bool = True
    ca_file: Path | None = None
    validation_timeout_s: float = 10.0  # Graph: the endpoint answers the handshake within 10 s
    delivery_timeout_s: float = 3.0  # Graph: 2xx within 3 s counts as delivered


def _tls_context(policy: UrlPolicy) -> ssl.SSLContext:
    """How notification POSTs verify https receivers (the same rule as the handshake's)."""
    if not policy.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = None if policy.ca_file is None else str(policy.ca_file)
    return ssl.create_default_context(cafile=cafile)


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local or any(ip in net for net in _METADATA)


class WebhookHttp:
    """Implements `domain.webhooks.Endpoints`, and POSTs notification batches."""

    def __init__(self, policy: UrlPolicy | None = None) -> None:
        self.policy = policy or UrlPolicy()
        verify: ssl.SSLContext | bool = self.policy.verify
        if self.policy.verify and self.policy.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.policy.ca_file))
        # The handshake (rare) through httpx; notification POSTs (the hot path) through the lean
        # keep-alive client: notifications to one receiver reuse its connection either way.
        self._client = httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=False)
        self._posts = PostClient(_tls_context(self.policy))
        # URLs whose host is an address literal that passed the check (the usual 127.0.0.1 receiver):
        # the literal cannot change, so it is not parsed again for every POST. Bounded.
        self._literal_ok: set[str] = set()

    async def close(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()
        await self._posts.close()

    def check_url(self, url: str) -> None:
        """Scheme and shape. Raises SubscriptionError."""
        parts = urlsplit(url)
        allowed = ("https",) if self.policy.https_only else ("https", "http")
        if parts.scheme.lower() not in allowed or not parts.hostname:
            raise SubscriptionError(
                "The notificationUrl must be an absolute https URL."
                if self.policy.https_only
                else "The notificationUrl must be an absolute http or https URL."
            )
        if parts.username or parts.password:
            raise SubscriptionError("The notificationUrl must not carry credentials.")

    def check_certificate(self, text: str) -> None:
        """An encryptionCertificate we can encrypt to (RSA 2048–4096). Raises SubscriptionError."""
        load_certificate(text)

    async def check_address(self, url: str) -> None:
        """Refuse link-local/metadata destinations (resolved now). Raises SubscriptionError."""
        if self.policy.allow_link_local or url in self._literal_ok:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:  # an address literal (127.0.0.1, the usual receiver): no resolver round trip
            if _forbidden(str(literal)):
                raise SubscriptionError(_LINK_LOCAL)
            if len(self._literal_ok) >= 1024:
                self._literal_ok.clear()
            self._literal_ok.add(url)
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
        except OSError:
            return  # unresolvable: the request itself fails and is retried/refused as usual
        if any(_forbidden(str(info[4][0])) for info in infos):
            raise SubscriptionError(_LINK_LOCAL)

    async def validate(self, url: str) -> None:
        """POST `?validationToken=…`; the endpoint must answer 200 text/plain with the decoded token."""
        self.check_url(url)
        await self.check_address(url)
        token = f"Validation: Testing client application reachability for subscription Request-Id: {secrets.token_hex(16)}"
        target = url + ("&" if "?" in url else "?") + "validationToken=" + quote(token, safe="")
        try:
            async with asyncio.timeout(self.policy.validation_timeout_s):  # the whole exchange, not per phase
                response = await self._client.post(
                    target, content=b"", headers={"content-type": "text/plain; charset=utf-8"}
                )
        except (TimeoutError, httpx.TimeoutException):
            raise ValidationFailedError(timed_out=True) from None
        except httpx.HTTPError:
            raise ValidationFailedError() from None
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if response.status_code != 200 or media != "text/plain" or response.text != token:
            raise ValidationFailedError()

    async def post(self, url: str, body: bytes) -> str | None:
        """POST one notification batch; None when the receiver answered 2xx in time, else why not."""
        try:
            await self.check_address(url)
        except SubscriptionError as exc:
            return exc.message
        try:
            async with asyncio.timeout(self.policy.delivery_timeout_s):
                status = await self._posts.post(url, body, "application/json; charset=utf-8")
        except TimeoutError:
            return f"no answer within {self.policy.delivery_timeout_s:g} s"
        except HttpError as exc:
            return str(exc)[:500]
        except Exception as exc:  # e.g. a host name the resolver cannot encode: retried like any failure
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"
