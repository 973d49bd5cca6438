"""`translateExchangeIds` (spec §2.16, user-translateexchangeids.md): one id in five formats.

Our ids are URL-safe base64 of a few bytes (domain/ids.py): a message has a REST id (new on every
move) and an immutable id; a folder has one id that never changes. The formats are spellings of
those bytes:

- `restId`: the REST id as Graph shows it (URL-safe base64 with `=` padding);
- `ewsId`: the same bytes in standard base64 (`+`, `/`), as EWS writes item ids;
- `entryId`: the same bytes in the binary-id form of spec §2.16: URL-safe base64 without padding and a
  trailing digit counting the `=` removed. Like a MAPI EntryID it changes on move [unconfirmed: a real
  EntryID is another byte layout; clients treat both as opaque];
- `restImmutableEntryId` / `immutableEntryId`: the immutable id in the REST and binary-id forms.

Between the REST and immutable families a message is looked up in the mailbox (the REST id is the
item's current one). Folder ids have no second family: both map to the one folder id. Per id, a
failure is a `convertIdResult` with `errorDetails` (`ErrorInvalidIdMalformed`, `ErrorItemNotFound`),
not an error of the whole request. Graph allows it for delegated callers only (application: not
supported), so app-only tokens are refused.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final, Literal

from mailgraph.domain.errors import AccessDeniedError
from mailgraph.domain.mailboxes import resolve
from mailgraph.domain.model import Actor, User
from mailgraph.domain.ports import Tx, UnitOfWork

IdFormat = Literal["entryId", "ewsId", "immutableEntryId", "restId", "restImmutableEntryId"]
FORMATS: Final[tuple[IdFormat, ...]] = (
    "entryId",
    "ewsId",
    "immutableEntryId",
    "restId",
    "restImmutableEntryId",
)
MAX_IDS: Final = 1000
_IMMUTABLE: Final = frozenset({"immutableEntryId", "restImmutableEntryId"})
# Leading bytes of our ids (domain/ids.py): message REST ids, immutable ids, folder ids.
_REST, _IMMUTABLE_ID, _FOLDER = b"\x00\x03\x24", b"\x00\x09\x00\x2e", b"\x01\x03\x24"


@dataclass(frozen=True, slots=True)
class ConvertIdResult:
    """Graph `convertIdResult`: `target_id`, or an error code and message."""

    source_id: str
    target_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class _Malformed(Exception):
    pass


def _decode(value: str, fmt: IdFormat) -> bytes:
    try:
        if fmt == "ewsId":
            return base64.b64decode(value, validate=True)
        if fmt in ("entryId", "immutableEntryId"):
            if not value or value[-1] not in "012":
                raise _Malformed
            value = value[:-1] + "=" * int(value[-1])
        if any(c in value for c in "+/") or len(value) % 4:
            raise _Malformed
        return base64.urlsafe_b64decode(value)
    except (binascii.Error, ValueError):
        raise _Malformed from None


def _encode(raw: bytes, fmt: IdFormat) -> str:
    if fmt == "ewsId":
        return base64.b64encode(raw).decode("ascii")
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    if fmt in ("entryId", "immutableEntryId"):
        stripped = text.rstrip("=")
        return stripped + str(len(text) - len(stripped))
    return text


class ExchangeIdService:
    """The one use case: translate up to 1000 ids of one mailbox between formats (one read unit)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def translate(
        self, actor: Actor, user_key: str | None, input_ids: list[str], source: IdFormat, target: IdFormat
    ) -> tuple[User, list[ConvertIdResult]]:
        """Each input id in `target` format, in input order.

        Raises:
            AccessDeniedError: an app-only token (Graph: "Application: Not supported").
        """
        if actor.is_app:
            raise AccessDeniedError("translateExchangeIds is not supported with application permissions.")

        async def unit(tx: Tx) -> tuple[User, list[ConvertIdResult]]:
            owner = await resolve(tx, actor, user_key)
            return owner, [await _one(tx, owner, value, source, target) for value in input_ids]

        return await self._uow.read(unit)


async def _one(tx: Tx, owner: User, value: str, source: IdFormat, target: IdFormat) -> ConvertIdResult:
    try:
        raw = _decode(value, source)
    except _Malformed:
        return ConvertIdResult(value, error_code="ErrorInvalidIdMalformed", error_message="Id is malformed.")
    canonical = base64.urlsafe_b64encode(raw).decode("ascii")
    immutable_in, immutable_out = source in _IMMUTABLE, target in _IMMUTABLE
    if raw.startswith(_FOLDER):
        found = await tx.folders.get(owner.id, canonical)
        out = None if found is None else raw
    elif raw.startswith(_IMMUTABLE_ID if immutable_in else _REST):
        message = await (
            tx.messages.get_immutable(owner.id, canonical)
            if immutable_in
            else tx.messages.get(owner.id, canonical)
        )
        if message is None:
            out = None
        else:
            wanted = message.id if immutable_out else message.rest_id
            out = base64.urlsafe_b64decode(wanted)
    else:
        return ConvertIdResult(value, error_code="ErrorInvalidIdMalformed", error_message="Id is malformed.")
    if out is None:
        return ConvertIdResult(
            value,
            error_code="ErrorItemNotFound",
            error_message="The specified object was not found in the store.",
        )
    return ConvertIdResult(value, _encode(out, target))
