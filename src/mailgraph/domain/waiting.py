"""Find, wait for and inspect a tenant's mail: the test workbench's read side.

**Wait-for** answers as soon as a message matching a query exists. It is woken by the after-commit
signal (domain/changes.py) of a unit that changed a message in one of the tenant's mailboxes (or
queued outbound mail), then re-checks the store; it never polls the database in a loop. A unit
committed by *another process* on the same database (a second `serve`, `mailgraph worker`) publishes
nothing here, so the waiter also re-checks the store every `recheck_s` (bounded, default 0.5 s): an
in-process commit wakes it at once, a foreign one within `recheck_s`.

The subscription is taken *before* the first look at the store, so a commit between the look and the
wait is not lost (the event stays set).

**Inspect** tells what became of a send, by draft id, Sent Items id or internetMessageId: the Sent
Items copy, every local delivery, every outbound recipient with its queue status and last SMTP reply,
and the non-delivery reports the send caused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from mailgraph.domain.changes import AfterCommit, Commit
from mailgraph.domain.errors import ItemNotFoundError
from mailgraph.domain.inspection import MessageQuery, Outbound
from mailgraph.domain.model import Message, Tenant, User
from mailgraph.domain.ports import Tx, UnitOfWork

T = TypeVar("T")
RECHECK_S = 0.5


@dataclass(frozen=True, slots=True)
class SendReport:
    """What became of one sent message inside and outside the tenant."""

    sent: Message | None
    """The Sent Items copy (None if the key named only a received copy whose sender is elsewhere)."""
    deliveries: list[Message]
    """Every other copy in the tenant's mailboxes with the same internetMessageId (Inbox copies)."""
    outbound: list[Outbound]
    reports: list[Message]
    """Non-delivery reports (and delivery receipts) about it, in the sender's mailbox."""


class MailFinder:
    """Queries of one tenant's mail, and waiting for them to match."""

    def __init__(self, uow: UnitOfWork, signals: AfterCommit, recheck_s: float = RECHECK_S) -> None:
        self._uow = uow
        self._signals = signals
        self.recheck_s = recheck_s

    async def messages(self, tenant_id: str, query: MessageQuery) -> list[Message]:
        """Matching messages now (newest received first)."""
        return await self._uow.read(lambda tx: tx.workbench.find_messages(tenant_id, query))

    async def outbound(self, tenant_id: str, query: MessageQuery) -> list[Outbound]:
        """Matching outbound messages now (newest first)."""
        return await self._uow.read(lambda tx: tx.workbench.find_outbound(tenant_id, query))

    async def mailboxes(self, tenant_id: str) -> tuple[Tenant, list[User]]:
        """The tenant and its users. Raises ItemNotFoundError for an unknown tenant."""

        async def unit(tx: Tx) -> tuple[Tenant, list[User]]:
            tenant = await tx.directory.get_tenant(tenant_id)
            if tenant is None:
                raise ItemNotFoundError()
            return tenant, await tx.directory.list_users(tenant_id)

        return await self._uow.read(unit)

    async def scope(
        self, tenant_id: str, mailbox: str | None, folder: str | None
    ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """Mailbox and folder ids of a query: `mailbox` a UPN, address or id of the tenant; `folder` a
        well-known name (in every chosen mailbox) or a folder id. Raises ItemNotFoundError."""

        async def unit(tx: Tx) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
            if await tx.directory.get_tenant(tenant_id) is None:
                raise ItemNotFoundError()
            users = await tx.directory.list_users(tenant_id)
            if mailbox:
                key = mailbox.casefold()
                users = [
                    u for u in users if key in (u.id, u.user_principal_name.casefold(), u.mail.casefold())
                ]
                if not users:
                    raise ItemNotFoundError()
            if not folder:
                return (tuple(u.id for u in users) if mailbox else None), None
            folders: list[str] = []
            for user in users:
                known = await tx.folders.well_known_ids(user.id)
                found = known.get(folder.lower()) or (
                    folder if await tx.folders.get(user.id, folder) is not None else None
                )
                if found is not None:
                    folders.append(found)
            if not folders:
                raise ItemNotFoundError()
            return (tuple(u.id for u in users) if mailbox else None), tuple(folders)

        return await self._uow.read(unit)

    async def wait_messages(self, tenant_id: str, query: MessageQuery, timeout_s: float) -> list[Message]:
        """Matching messages as soon as there are some; [] when `timeout_s` passed first."""
        return await self._wait(tenant_id, lambda: self.messages(tenant_id, query), timeout_s, outbound=False)

    async def wait_outbound(self, tenant_id: str, query: MessageQuery, timeout_s: float) -> list[Outbound]:
        """Matching outbound messages as soon as there are some; [] when `timeout_s` passed first."""
        return await self._wait(tenant_id, lambda: self.outbound(tenant_id, query), timeout_s, outbound=True)

    async def _wait(
        self, tenant_id: str, look: Callable[[], Awaitable[list[T]]], timeout_s: float, *, outbound: bool
    ) -> list[T]:
        _, users = await self.mailboxes(tenant_id)
        mine = frozenset(u.id for u in users)
        woken = asyncio.Event()

        def on_commit(commit: Commit) -> None:
            if (outbound and commit.queued) or any(c.mailbox_id in mine for c in commit.changes):
                woken.set()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        unsubscribe = self._signals.subscribe(on_commit)
        try:
            while True:
                woken.clear()
                found = await look()
                left = deadline - loop.time()
                if found or left <= 0:
                    return found
                # The bounded re-check: commits of other processes publish nothing here.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(left, self.recheck_s))
        finally:
            unsubscribe()

    async def inspect(self, tenant_id: str, key: str) -> SendReport:
        """What became of a send named by draft id, Sent Items id or internetMessageId.

        Raises:
            ItemNotFoundError: no message of the tenant has that id or internetMessageId.
        """

        async def unit(tx: Tx) -> SendReport:
            imid = key if key.startswith("<") else await _internet_message_id(tx, tenant_id, key)
            if imid is None:
                raise ItemNotFoundError()
            wide = MessageQuery(internet_message_id=imid, limit=1000)
            copies = await tx.workbench.find_messages(tenant_id, wide)
            outbound = await tx.workbench.find_outbound(tenant_id, wide)
            if not copies and not outbound:
                raise ItemNotFoundError()
            sent = await _sent_copy(tx, copies)
            deliveries = [m for m in copies if sent is None or m.id != sent.id]
            reports: list[Message] = []
            if sent is not None:
                own = MessageQuery(mailbox_ids=(sent.mailbox_id,), limit=1000)
                suffix = imid[1:]
                reports = [
                    m
                    for m in await tx.workbench.find_messages(
                        tenant_id, replace(own, received_after=sent.sent_at)
                    )
                    if m.internet_message_id.startswith(("<ndr-", "<dr-"))
                    and m.internet_message_id.endswith(suffix)
                ]
            return SendReport(sent, deliveries, outbound, reports)

        return await self._uow.read(unit)


async def _internet_message_id(tx: Tx, tenant_id: str, item_id: str) -> str | None:
    """The internetMessageId of a tenant's item by REST or immutable id (a draft's immutable id
    survives its send), or of an outbound message by queue id."""
    for user in await tx.directory.list_users(tenant_id):
        found = await tx.messages.get(user.id, item_id) or await tx.messages.get_immutable(user.id, item_id)
        if found is not None:
            return found.internet_message_id
    for sent in await tx.workbench.find_outbound(tenant_id, MessageQuery(limit=1000)):
        if sent.outbound_id == item_id:
            return sent.message.internet_message_id
    return None


async def _sent_copy(tx: Tx, copies: list[Message]) -> Message | None:
    """The copy in its owner's Sent Items, if there is one."""
    for message in copies:
        ids = await tx.folders.well_known_ids(message.mailbox_id)
        if ids.get("sentitems") == message.folder_id:
            return message
    return None
