"""Subscription use cases (create with the validation handshake, get, list, renew, delete, reauthorize)
and the before-commit hook that writes the notification outbox in the unit of the change.

The handshake is network I/O, so it runs between units: a read unit checks the caller and the
resource, then `Endpoints.validate` POSTs the validation token to each URL (delivery/webhook_http.py),
then a write unit re-checks the per-mailbox limit and stores the subscription. A failed handshake
creates nothing.

`NotificationHook` is registered on `ObservedUnitOfWork.before_commit` (domain/changes.py): at the end of
every unit that recorded message changes it reads the version of each changed mailbox's
subscription set (one short row; the set itself is kept in memory per version, so a subscription made
or removed by another process is seen at once) and adds one `fanout` outbox row per change naming all
the subscriptions it is for, in the same transaction: a rolled-back change notifies nobody, a committed one cannot be lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from mailgraph.domain import ids
from mailgraph.domain.changes import ChangeRecorder
from mailgraph.domain.errors import AccessDeniedError
from mailgraph.domain.mailboxes import folder as find_folder
from mailgraph.domain.mailboxes import resolve
from mailgraph.domain.model import SECOND, Actor, Timestamp
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.subscriptions import (
    MAX_PER_MAILBOX,
    Notification,
    Subscription,
    SubscriptionError,
    SubscriptionNotFoundError,
    Watch,
    check_client_state,
    check_expiration,
    check_rich,
    events_for,
    fanout_ref,
    match_class,
    parse_change_types,
    parse_resource,
)

# Delegated callers subscribe with these on their own mailbox only; the .Shared ones cannot (spec §2.15).
_DELEGATED_READ = frozenset({"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"})


class Endpoints(Protocol):
    """The network side of a subscription request (implemented in delivery/webhook_http.py)."""

    def check_url(self, url: str) -> None:
        """Refuse a URL the policy forbids (scheme, link-local addresses). Raises SubscriptionError."""
        ...

    def check_certificate(self, text: str) -> None:
        """An encryptionCertificate usable for rich notifications. Raises SubscriptionError."""
        ...

    async def validate(self, url: str) -> None:
        """The validation handshake. Raises ValidationFailedError."""
        ...


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """A create request as the API read it from the JSON body."""

    change_type: object
    notification_url: object
    resource: object
    expiration: Timestamp | None
    client_state: object = None
    lifecycle_url: object = None
    include_resource_data: bool = False
    encryption_certificate: object = None
    encryption_certificate_id: object = None
    immutable_ids: bool = False
    version: str = "v1.0"


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Timing of reauthorization reminders."""

    reauth_lead_s: float = 600.0
    """`reauthorizationRequired` goes out this long before the creating token (or the subscription)
    expires, and again every `reauth_lead_s` until the app reauthorizes or renews."""


def _url(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise SubscriptionError(f"{name} is a required property for subscription creation.")
    return value


def visible(sub: Subscription, actor: Actor) -> bool:
    """Whether `actor` may see/manage `sub`: the same app in the same tenant, and for delegated
    callers only the subscriptions that user created."""
    if sub.tenant_id != actor.tenant_id or sub.app_id != actor.app_id:
        return False
    return actor.is_app or sub.creator_id == actor.user_id


class SubscriptionService:
    """Subscriptions as Graph clients manage them."""

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Callable[[], Timestamp],
        endpoints: Endpoints,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._endpoints = endpoints
        self.policy = policy or WebhookPolicy()

    def reauth_at(self, token_expires_at: Timestamp, expires_at: Timestamp, now: Timestamp) -> Timestamp:
        """When the first reauthorizationRequired of a subscription is due."""
        return max(now, min(token_expires_at, expires_at) - round(self.policy.reauth_lead_s * SECOND))

    async def create(self, actor: Actor, token_expires_at: Timestamp, req: NewSubscription) -> Subscription:
        """Check, handshake, store. Raises SubscriptionError, ValidationFailedError, AccessDeniedError."""
        if req.expiration is None:
            raise SubscriptionError("expirationDateTime is a required property for subscription creation.")
        change_types = parse_change_types(req.change_type)
        url = _url(req.notification_url, "notificationUrl")
        lifecycle = None if req.lifecycle_url is None else _url(req.lifecycle_url, "lifecycleNotificationUrl")
        client_state = check_client_state(req.client_state)
        resource = parse_resource(_url(req.resource, "resource"))
        if resource.filter is not None:
            raise SubscriptionError("$filter in a subscription resource is not supported by this server.")
        now = self._clock()
        check_expiration(req.expiration, now, req.include_resource_data)
        if req.include_resource_data:
            check_rich(resource, req.encryption_certificate, req.encryption_certificate_id)
            self._endpoints.check_certificate(str(req.encryption_certificate))
        if not actor.is_app and _DELEGATED_READ.isdisjoint(actor.permissions):
            raise AccessDeniedError()  # only .Shared scopes: they cannot subscribe (spec §2.15)
        for checked in (url, lifecycle):
            if checked is not None:
                self._endpoints.check_url(checked)

        async def target(tx: Tx) -> tuple[str, str, str | None]:
            owner = await resolve(tx, actor, resource.user_key)
            if not actor.is_app and owner.id != actor.user_id:
                raise AccessDeniedError()  # delegated: the caller's own mailbox only
            folder_id = None
            if resource.folder_key is not None:
                folder_id = (await find_folder(tx, owner, resource.folder_key)).id
            if await tx.subscriptions.count_live(owner.id, now) >= MAX_PER_MAILBOX:
                raise SubscriptionError(f"Maximum number of subscriptions ({MAX_PER_MAILBOX}) reached.")
            return owner.id, owner.tenant_id, folder_id

        mailbox_id, tenant_id, folder_id = await self._uow.read(target)
        await self._endpoints.validate(url)  # between units: the handshake is network I/O
        if lifecycle is not None:
            await self._endpoints.validate(lifecycle)
        expires_at = req.expiration
        sub = Subscription(
            id=ids.guid(),
            tenant_id=tenant_id,
            mailbox_id=mailbox_id,
            app_id=actor.app_id,
            creator_id=actor.user_id or actor.app_id,
            resource=str(req.resource),
            folder_id=folder_id,
            change_types=change_types,
            notification_url=url,
            lifecycle_url=lifecycle,
            client_state=client_state,
            expires_at=expires_at,
            token_expires_at=token_expires_at,
            include_resource_data=req.include_resource_data,
            encryption_certificate=str(req.encryption_certificate) if req.include_resource_data else None,
            encryption_certificate_id=str(req.encryption_certificate_id)
            if req.include_resource_data
            else None,
            select=resource.select,
            immutable_ids=req.immutable_ids,
            version=req.version,
            created_at=now,
            reauth_at=self.reauth_at(token_expires_at, expires_at, now),
        )

        async def store(tx: Tx) -> None:
            if await tx.subscriptions.count_live(mailbox_id, self._clock()) >= MAX_PER_MAILBOX:
                raise SubscriptionError(f"Maximum number of subscriptions ({MAX_PER_MAILBOX}) reached.")
            await tx.subscriptions.insert(sub)

        await self._uow.write(store)
        return sub

    async def get(self, actor: Actor, sub_id: str) -> Subscription:
        """One of the caller's subscriptions. Raises SubscriptionNotFoundError."""
        sub = await self._uow.read(lambda tx: tx.subscriptions.get(sub_id))
        if sub is None or not visible(sub, actor):
            raise SubscriptionNotFoundError()
        return sub

    async def list_visible(self, actor: Actor) -> list[Subscription]:
        """The caller's live subscriptions (an app sees all of its own in the tenant)."""
        subs = await self._uow.read(
            lambda tx: tx.subscriptions.list_subscriptions(actor.tenant_id, actor.app_id)
        )
        now = self._clock()
        return [s for s in subs if visible(s, actor) and s.expires_at > now]

    async def renew(
        self, actor: Actor, sub_id: str, expiration: Timestamp | None, token_expires_at: Timestamp
    ) -> Subscription:
        """PATCH: a new expiration (renewing also reauthorizes). Raises SubscriptionError, …NotFound."""
        sub = await self.get(actor, sub_id)
        now = self._clock()
        expires_at = sub.expires_at if expiration is None else expiration
        check_expiration(expires_at, now, sub.include_resource_data)
        return await self._renew(sub, expires_at, token_expires_at)

    async def reauthorize(self, actor: Actor, sub_id: str, token_expires_at: Timestamp) -> None:
        """POST …/reauthorize: the subscription now rides on the caller's current token."""
        sub = await self.get(actor, sub_id)
        if sub.expires_at <= self._clock():
            raise SubscriptionNotFoundError()
        await self._renew(sub, sub.expires_at, token_expires_at)

    async def _renew(
        self, sub: Subscription, expires_at: Timestamp, token_expires_at: Timestamp
    ) -> Subscription:
        async def unit(tx: Tx) -> bool:
            if not await tx.subscriptions.renew(sub.id, expires_at, token_expires_at):
                return False
            reauth = self.reauth_at(token_expires_at, expires_at, self._clock())
            await tx.subscriptions.set_reauth(sub.id, reauth)
            return True

        if not await self._uow.write(unit):
            raise SubscriptionNotFoundError()
        return replace(sub, expires_at=expires_at, token_expires_at=token_expires_at)

    async def delete(self, actor: Actor, sub_id: str) -> None:
        """DELETE: gone, with its pending notifications. Raises SubscriptionNotFoundError."""
        sub = await self.get(actor, sub_id)
        if not await self._uow.write(lambda tx: tx.subscriptions.delete(sub.id)):
            raise SubscriptionNotFoundError()


def expand(row: Notification, subs: Sequence[Subscription]) -> list[Notification]:
    """`change` rows of a `fanout` row for some of its subscriptions (same time and event; the id says
    which: `{row id}.{subscription id}`, so an expansion cannot happen twice)."""
    return [
        Notification(
            f"{row.id}.{sub.id}",
            sub.id,
            "change",
            row.event,
            sub.notification_url,
            row.tenant_id,
            row.mailbox_id,
            row.item_id,
            row.resource_id,
            sub.client_state,
            sub.expires_at,
            "pending",
            0,
            row.created_at,
            row.next_attempt_at,
        )
        for sub in subs
    ]


def lifecycle(sub: Subscription, event: str, now: Timestamp) -> Notification | None:
    """A lifecycle notification for `sub` (None when it has no lifecycle URL)."""
    if sub.lifecycle_url is None:
        return None
    return Notification(
        ids.guid(),
        sub.id,
        "lifecycle",
        event,
        sub.lifecycle_url,
        sub.tenant_id,
        sub.mailbox_id,
        "",
        "",
        sub.client_state,
        sub.expires_at,
        "pending",
        0,
        now,
        now,
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """The live subscriptions of one mailbox at one version of its set, grouped into match classes."""

    version: int
    valid_until: Timestamp
    """The first expiry among them: from then on the set is reread (an expired subscription stops)."""
    classes: list[tuple[Watch, str]]
    """(a representative, the class key: `match_class`) per class of subscriptions that raise the
    same notifications."""


class NotificationHook:
    """`BeforeCommit` hook: match a unit's message changes against the subscriptions of their mailboxes.

    Per unit it reads one short row per changed mailbox: the version of its subscription set
    (migration 0027; bumped in the store by every subscription insert, renew and delete, by any
    process or host). The set itself, grouped into *classes* of subscriptions that raise the same
    notifications, is kept per mailbox and reread only when that version moved or its first expiry
    passed: a send to a mailbox with 100 like subscriptions reads one row and runs the match once.
    """

    _MAILBOXES = 1024  # plans remembered (one per subscribed mailbox in use, bounded)

    def __init__(self, clock: Callable[[], Timestamp]) -> None:
        self._clock = clock
        self._plans: dict[str, _Plan] = {}

    async def _plan(self, tx: Tx, mailbox_id: str, version: int, now: Timestamp) -> _Plan:
        plan = self._plans.get(mailbox_id)
        if plan is not None and plan.version == version and now < plan.valid_until:
            return plan
        watches = await tx.subscriptions.live_watches(mailbox_id, now)
        classes: dict[str, Watch] = {}
        for watch in watches:
            classes.setdefault(match_class(watch.folder_id, watch.change_types, watch.immutable_ids), watch)
        plan = _Plan(
            version,
            min((w.expires_at for w in watches), default=now + 3600 * SECOND),
            [(watch, key) for key, watch in classes.items()],
        )
        if len(self._plans) >= self._MAILBOXES:
            self._plans.clear()
        self._plans[mailbox_id] = plan
        return plan

    async def __call__(self, tx: Tx, recorder: ChangeRecorder) -> None:
        """Add the outbox rows of this unit's changes (same transaction); count them for the wake-up."""
        changes = recorder.changes
        mailboxes = sorted({c.mailbox_id for c in changes if c.entity == "message"})
        if not mailboxes:
            return
        versions = await tx.subscriptions.versions(mailboxes)
        if not versions:
            return  # no subscription was ever made on these mailboxes
        now = self._clock()
        plans = {m: await self._plan(tx, m, v, now) for m, v in versions.items()}
        # One outbox row per (change, event, id), naming every subscription it is for by the set's
        # version and their match classes (`fanout_ref`, a few dozen bytes): a send to a mailbox with
        # 100 subscriptions writes 1 short row here, not 100 (the worker delivers from it).
        groups: dict[tuple[str, str, str], tuple[Watch, list[str]]] = {}
        for change in changes:
            plan = plans.get(change.mailbox_id)
            if plan is None:
                continue
            for watch, key in plan.classes:
                for event, resource_id in events_for(watch, change):
                    groups.setdefault((change.item_id, event, resource_id), (watch, []))[1].append(key)
        if not groups:
            return
        rows = [
            Notification(
                ids.guid(),
                fanout_ref(plans[watch.mailbox_id].version, keys),
                "fanout",
                event,
                "",
                watch.tenant_id,
                watch.mailbox_id,
                item_id,
                resource_id,
                None,
                0,
                "pending",
                0,
                now,
                now,
            )
            for (item_id, event, resource_id), (watch, keys) in groups.items()
        ]
        await tx.subscriptions.enqueue(rows)
        recorder.notified += len(rows)
