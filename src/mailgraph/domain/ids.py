"""Graph-shaped identifiers and server-set values (ids, change keys, Message-IDs, conversation ids).

Real Graph ids are URL-safe base64 with `-`, `_` and a trailing `=` (spec §3.5); ours have the same
alphabet and shape, so the percent-encoding paths of every client are exercised (client-wire fact 4).
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid


def _b64(prefix: bytes, size: int) -> str:
    # size % 3 == 2 gives exactly one '=' of padding, like real Graph ids.
    return base64.urlsafe_b64encode(prefix + secrets.token_bytes(size)).decode("ascii")


def message_id() -> str:
    """A REST id for a message item (`AAMk…=`); a new one on every move."""
    return _b64(b"\x00\x03\x24", 41)


def immutable_id() -> str:
    """The immutable id of a message item (`AAkALg…`): it never changes within the mailbox."""
    return _b64(b"\x00\x09\x00\x2e", 40)


def folder_id() -> str:
    """A mail folder id (`AQMk…`); folder ids do not change on move (spec §3.3)."""
    return _b64(b"\x01\x03\x24", 41)


def conversation_id() -> str:
    """A conversation id (`AAQk…`)."""
    return _b64(b"\x00\x04\x24", 29)


def change_key() -> str:
    """A new change key: every change to an item gets one (`@odata.etag` is derived from it)."""
    return base64.b64encode(b"\x10\x00\x00\x00" + secrets.token_bytes(17)).decode("ascii")


def conversation_index(now_us: int) -> str:
    """A 22-byte conversation index header block (MS-OXOMSG 2.2.1.3): reserved byte, FILETIME, GUID."""
    # 100 ns ticks since 1601; the block keeps FILETIME's high 40 bits (dwHighDateTime + top byte of dwLow).
    filetime = (now_us * 10 + 116444736000000000) >> 24
    head = b"\x01" + filetime.to_bytes(8, "big")[3:]
    return base64.b64encode(head + uuid.uuid4().bytes).decode("ascii")


def internet_message_id(domain: str) -> str:
    """An RFC 5322 §3.6.4 msg-id, assigned when the draft is created (spec §2.2)."""
    return f"<{secrets.token_hex(16).upper()}@{domain}>"


_VARIANT = "89ab"  # the hex digit of a variant-10 byte's high nibble (RFC 9562 §4.1), by its low 2 bits


def guid() -> str:
    """A random GUID in lower case (version 4, RFC 9562 §5.4): directory object ids, outbox rows,
    request ids. Spelled from 16 random bytes: `str(uuid.uuid4())` builds and checks a UUID object
    first, 2.5x the cost, and a create+send cycle makes several (docs/performance.md)."""
    h = os.urandom(16).hex()  # what uuid.uuid4() draws too
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def queue_id() -> str:
    """An outbound queue entry id."""
    return uuid.uuid4().hex


def rule_id() -> str:
    """An Inbox rule id, shaped like Exchange's (`AQAAAJ5dZqA=`: 8 bytes, base64)."""
    return base64.urlsafe_b64encode(b"\x01\x00\x00\x00" + secrets.token_bytes(4)).decode("ascii")
