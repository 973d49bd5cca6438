"""Routing a message the server sends: which recipients are local users, unknown addresses of hosted
domains, or external; and the outbox rows for the external ones (the relay sends after commit).

Shared by sending (domain/sending.py) and by what delivery itself sends: rule forwards and automatic
replies (domain/ingest.py, domain/automatic_mail.py).
"""

from __future__ import annotations

from mailgraph.domain import attachments, ids
from mailgraph.domain.addresses import domain_of
from mailgraph.domain.model import SECOND, EmailAddress, Message, QueueEntry, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx

QUEUE_EXPIRY_S = 2 * 24 * 3600
"""How long an external recipient may stay undelivered (SendPolicy's default)."""


async def route(
    tx: Tx, tenant: Tenant, recipients: list[EmailAddress]
) -> tuple[list[User], list[str], list[str]]:
    """Split recipients: local users (each once), unknown addresses of hosted domains, external addresses.

    Recipients in the sender's tenant are looked up in it. A recipient in a domain of another tenant
    hosted here is delivered as inbound mail to that tenant would be (docs/identity.md): looked up in
    *its* tenant, an Inbox copy if found, a non-delivery report (5.1.1) if not; never relayed out.
    """
    domains = {d.casefold() for d in tenant.domains}
    by_tenant: dict[str, list[str]] = {tenant.id: []}
    hosted = set(domains)
    for recipient in recipients:
        domain = domain_of(recipient.address).casefold()
        if domain in domains:
            by_tenant[tenant.id].append(recipient.address)
        elif (other := await tx.directory.tenant_for_domain(domain)) is not None:
            by_tenant.setdefault(other.id, []).append(recipient.address)
            hosted.add(domain)
    users: dict[str, User] = {}
    for tenant_id, addresses in by_tenant.items():
        if addresses:
            users.update(await tx.directory.find_users_by_address(tenant_id, addresses))
    local: dict[str, User] = {}
    unknown: dict[str, str] = {}
    external: dict[str, str] = {}
    for recipient in recipients:
        user = users.get(recipient.key)
        if user is not None:
            local.setdefault(user.id, user)
        elif domain_of(recipient.address).casefold() in hosted:
            unknown.setdefault(recipient.key, recipient.address)
        else:
            external.setdefault(recipient.key, recipient.address)
    return list(local.values()), list(unknown.values()), list(external.values())


async def enqueue(
    tx: Tx, owner: User, sent: Message, external: list[str], now: Timestamp, expiry_s: int = QUEUE_EXPIRY_S
) -> None:
    """One outbound queue entry per external recipient of `sent`, with its snapshot and attachments."""
    outbound_id = ids.queue_id()
    expires = now + expiry_s * SECOND
    entries = [
        QueueEntry(
            id=ids.queue_id(),
            outbound_id=outbound_id,
            mailbox_id=owner.id,
            recipient=address,
            domain=domain_of(address),
            status="queued",
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            last_reply_code=None,
            last_reply_text=None,
            expires_at=expires,
            created_at=now,
        )
        for address in external
    ]
    await tx.outbox.add(outbound_id, sent, entries)
    tx.changes.outbound(len(entries))  # after commit, AfterCommit subscribers wake the delivery worker
    # The snapshot keeps its own attachment references: the relay composes MIME from them even if
    # the Sent Items copy is deleted meanwhile (domain.attachments.attachment_parts(tx, outbound_id)).
    await attachments.copy_all(tx, sent.id, outbound_id, now)
