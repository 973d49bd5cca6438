"""Delta state tokens (`$skiptoken`, `$deltatoken`): every option of the round, signed per mailbox.

A token is `base64url(payload) "." base64url(HMAC-SHA256(mailbox secret, payload)[:16])`; the secret is
the mailbox clock's (store, migration 0015), so a token cannot be forged or altered, and a recreated
mailbox voids every old token. The payload is not secret (ids and options) but clients treat it as
opaque, as Graph asks. Fields are joined with U+001F, which no id, option or property name contains.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

ChangeTypeFilter = Literal["created", "updated", "deleted"]
TokenKind = Literal["m", "f"]
_SEP = "\x1f"
_VERSION = "1"
_MAC_BYTES = 16


class BadTokenError(Exception):
    """A token that is malformed, forged, altered, or signed with another mailbox's secret."""


@dataclass(frozen=True, slots=True)
class DeltaOptions:
    """The query options of a delta round, fixed by its first request."""

    select: tuple[str, ...] | None = None
    expand: tuple[str, ...] = ()
    change_type: ChangeTypeFilter | None = None
    received_since: int | None = None
    """`$filter=receivedDateTime ge|gt …` as the lowest `received_at` (µs) that passes."""
    filter_text: str | None = None
    """The `$filter` as the client wrote it (for the reset `Location`)."""
    order_desc: bool = False
    page_size: int | None = None
    """`$top` or `Prefer: odata.maxpagesize` of the first request."""


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where a round stands: decoded from a token, or fresh for an initial request."""

    kind: TokenKind
    mailbox_id: str
    folder_id: str
    options: DeltaOptions
    base: int | None = None
    """The change number the client's copy is at (None: the initial round, nothing synced yet)."""
    horizon: int | None = None
    """The change number this round reports up to (None: the round has not started)."""
    cursor: str = ""
    """Where the next page starts: `received_us:id` (initial round) or an item/folder id."""
    emitted: int = 0
    """Items returned so far in this round (the 5,000 cap with `$filter`)."""
    issued_at: int = field(default=0, compare=False)
    """Seconds since the epoch when the token was issued."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _opt(value: object) -> str:
    return "" if value is None else str(value)


def encode(state: SyncState, secret: str) -> str:
    """The signed token for `state`."""
    o = state.options
    fields = [
        _VERSION,
        state.kind,
        state.mailbox_id,
        state.folder_id,
        _opt(state.base),
        _opt(state.horizon),
        state.cursor,
        str(state.emitted),
        str(state.issued_at),
        "*" if o.select is None else ",".join(o.select),
        ",".join(o.expand),
        _opt(o.change_type),
        _opt(o.received_since),
        _opt(o.filter_text),
        "1" if o.order_desc else "",
        _opt(o.page_size),
    ]
    payload = _SEP.join(fields).encode("utf-8")
    mac = hmac.new(secret.encode("ascii"), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{_b64(payload)}.{_b64(mac)}"


def _int(text: str) -> int | None:
    return None if text == "" else int(text)


def decode(token: str, secret: str) -> SyncState:
    """The state a token carries. Raises BadTokenError unless it is intact and signed with `secret`."""
    try:
        head, _, tail = token.strip().partition(".")
        payload, mac = _unb64(head), _unb64(tail)
        expected = hmac.new(secret.encode("ascii"), payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise BadTokenError("signature")
        f = payload.decode("utf-8").split(_SEP)
        if len(f) != 16 or f[0] != _VERSION or f[1] not in ("m", "f"):
            raise BadTokenError("shape")
        change_type = f[11] or None
        if change_type not in (None, "created", "updated", "deleted"):
            raise BadTokenError("changeType")
        options = DeltaOptions(
            select=None if f[9] == "*" else tuple(x for x in f[9].split(",") if x),
            expand=tuple(x for x in f[10].split(",") if x),
            change_type=change_type,  # type: ignore[arg-type]  # checked above
            received_since=_int(f[12]),
            filter_text=f[13] or None,
            order_desc=f[14] == "1",
            page_size=_int(f[15]),
        )
        return SyncState(
            kind="m" if f[1] == "m" else "f",
            mailbox_id=f[2],
            folder_id=f[3],
            options=options,
            base=_int(f[4]),
            horizon=_int(f[5]),
            cursor=f[6],
            emitted=int(f[7]),
            issued_at=int(f[8]),
        )
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise BadTokenError(str(exc)) from None
