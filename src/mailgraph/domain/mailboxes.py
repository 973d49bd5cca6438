"""Whose mailbox a request addresses, whether the caller may reach it, and its well-known folders.

Spec §4.2/§4.6: `/me` is the token's user and needs a delegated token; `/users/{id|upn}` resolves the
object id or the UPN case-insensitively, always inside the caller's tenant (the token's `tid`): a user of
another tenant answers exactly as an unknown user does. A delegated caller reaches another user's mailbox only
through delegation (domain/delegation.py).
"""

from __future__ import annotations

import re

from mailgraph.domain import ids
from mailgraph.domain.delegation import check_mailbox_access
from mailgraph.domain.errors import BadRequestError, ItemNotFoundError, UserNotFoundError
from mailgraph.domain.model import Actor, Folder, Message, User
from mailgraph.domain.ports import Tx

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# (well-known name, display name, hidden). Spec §2.10 lists what to provision at least; all are
# children of msgfolderroot here, with Recoverable Items' Deletions hidden from default listings.
WELL_KNOWN_FOLDERS: tuple[tuple[str, str, bool], ...] = (
    ("inbox", "Inbox", False),
    ("drafts", "Drafts", False),
    ("sentitems", "Sent Items", False),
    ("deleteditems", "Deleted Items", False),
    ("outbox", "Outbox", False),
    ("junkemail", "Junk Email", False),
    ("archive", "Archive", False),
    ("conversationhistory", "Conversation History", False),
    ("recoverableitemsdeletions", "Deletions", True),
)
ROOT = "msgfolderroot"
WELL_KNOWN_NAMES = frozenset({ROOT, *(name for name, _, _ in WELL_KNOWN_FOLDERS)})

ME_NEEDS_DELEGATED = "/me request is only valid with delegated authentication flow."


async def resolve(tx: Tx, actor: Actor, user_key: str | None) -> User:
    """The mailbox owner addressed by `/me` (None) or `/users/{user_key}`, checked against the caller.

    Raises:
        BadRequestError: `/me` with an app-only token.
        UserNotFoundError: no such user.
        AccessDeniedError: a delegated caller addressing another user's mailbox without FullAccess and
            a `.Shared` permission, or an app outside its access policy.
    """
    if user_key is None:
        if actor.user_id is None:
            raise BadRequestError(ME_NEEDS_DELEGATED)
        user = await tx.directory.get_user(actor.user_id)
        if user is None:
            raise UserNotFoundError(actor.user_id)
    else:
        user = await (
            tx.directory.get_user(user_key.lower())
            if _GUID.match(user_key)
            else tx.directory.find_user(actor.tenant_id, user_key)
        )
        if user is None:
            raise UserNotFoundError(user_key)
    if user.tenant_id != actor.tenant_id or not user.account_enabled:
        raise UserNotFoundError(user_key or user.id)
    # Delegation (FullAccess + .Shared scope) and application access policies (spec §4.3-§4.5).
    await check_mailbox_access(tx, actor, user)
    return user


async def folder(tx: Tx, owner: User, key: str) -> Folder:
    """A folder of the owner's mailbox by id or by well-known name (case-insensitive, spec §0.1).

    Raises:
        ItemNotFoundError: neither an id nor a well-known name of this mailbox.
    """
    lowered = key.lower()
    if lowered in WELL_KNOWN_NAMES:
        found = await tx.folders.get_well_known(owner.id, lowered)
    else:
        found = await tx.folders.get(owner.id, key)
    if found is None:
        raise ItemNotFoundError()
    return found


async def find_item(tx: Tx, owner: User, message_id: str, folder_key: str | None = None) -> Message:
    """An item of the owner's mailbox by REST id or immutable id, optionally only in one folder.

    Both id forms are accepted everywhere a message id is taken (spec §3.5); the REST id is tried
    first because it is the common case.

    Raises:
        ItemNotFoundError: neither form names an item here (or it is not in the named folder).
    """
    message = await tx.messages.get(owner.id, message_id)
    if message is None:
        message = await tx.messages.get_immutable(owner.id, message_id)
    if message is None:
        raise ItemNotFoundError()
    if folder_key is not None and (await folder(tx, owner, folder_key)).id != message.folder_id:
        raise ItemNotFoundError()
    return message


async def well_known_id(tx: Tx, owner: User, name: str) -> str:
    """The id of one of the owner's well-known folders (provisioned with the mailbox).

    Reads ids only: the folder read with item counts costs O(items) and sits on the send path.
    """
    found = (await tx.folders.well_known_ids(owner.id)).get(name)
    if found is None:  # pragma: no cover - provision() creates them all with the user
        raise ItemNotFoundError()
    return found


async def provision(tx: Tx, user: User) -> None:
    """Create the mailbox's well-known folders that do not exist yet (idempotent)."""
    existing = await tx.folders.well_known_ids(user.id)
    root_id = existing.get(ROOT)
    if root_id is None:
        root_id = ids.folder_id()
        root = Folder(root_id, user.id, None, ROOT, "Top of Information Store", False)
        await tx.folders.insert(root)
        tx.changes.folder("created", root)
    for name, display, hidden in WELL_KNOWN_FOLDERS:
        if name not in existing:
            created = Folder(ids.folder_id(), user.id, root_id, name, display, hidden)
            await tx.folders.insert(created)
            tx.changes.folder("created", created)
