"""Change-notification subscriptions: the model, Graph's rules for creating one, and which changes it sees.

Pure rules (no storage, no network): `parse_resource` reads the subscribed resource (spec §2.15),
`check_request` applies the limits of spec §6 (lifetime, clientState, change types, rich-notification
prerequisites), and `events_for` turns one recorded change (domain/changes.py) into the notifications a
subscription gets for it. The use cases are in domain/webhooks.py; delivery in delivery/webhooks.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple
from urllib.parse import parse_qsl, unquote

from mailgraph.domain.changes import Change
from mailgraph.domain.errors import DomainError
from mailgraph.domain.model import SECOND, Timestamp

MINUTE: Final = 60 * SECOND
MAX_MINUTES: Final = 10_080
"""Lifetime of a message subscription without resource data (includes/change-notifications-subscription-lifetime.md)."""
MAX_MINUTES_RICH: Final = 1_440
"""Lifetime with `includeResourceData`."""
MAX_PER_MAILBOX: Final = 1_000
MAX_CLIENT_STATE: Final = 128
CHANGE_TYPES: Final = ("created", "updated", "deleted")
LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]
NotificationKind = Literal["change", "lifecycle", "fanout"]
"""`fanout`: one change for several subscriptions (`subscription_id` names them: `fanout_ref`, or, in
rows written before migration 0035, their ids comma-joined); the worker delivers it to each, and only
the subscriptions whose POST failed get a `change` row of their own."""
_NO_RICH_PROPS: Final = frozenset({"body", "uniquebody"})
_SEGMENT = re.compile(r"^([A-Za-z]+)(?:\('?(.*?)'?\))?$", re.DOTALL)


class SubscriptionError(DomainError):
    """A subscription request Graph refuses with 400 `InvalidRequest` (the message says why)."""


class SubscriptionNotFoundError(DomainError):
    """No subscription with this id that the caller may see (404)."""

    def __init__(self) -> None:
        super().__init__("The object was not found.")


class ValidationFailedError(SubscriptionError):
    """The notification (or lifecycle) endpoint failed the validation handshake; nothing was created."""

    def __init__(self, timed_out: bool = False) -> None:
        super().__init__(
            "Subscription validation request timed out."
            if timed_out
            else "Subscription validation request failed. Notification endpoint must respond with 200 OK "
            "to validation request."
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription on the messages of one mailbox (or of one folder of it)."""

    id: str
    tenant_id: str
    mailbox_id: str
    app_id: str
    creator_id: str
    """The signed-in user (delegated) or the app's object id (application)."""
    resource: str
    """As the client wrote it (echoed)."""
    folder_id: str | None
    """None: every folder of the mailbox (`/me/messages`)."""
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires_at: Timestamp
    token_expires_at: Timestamp
    """When the access token that created (or last reauthorized) it expires."""
    include_resource_data: bool
    encryption_certificate: str | None
    encryption_certificate_id: str | None
    select: tuple[str, ...]
    immutable_ids: bool
    version: str
    created_at: Timestamp
    reauth_at: Timestamp
    """When the next `reauthorizationRequired` is due (the worker moves it on)."""
    since_version: int = 0
    """The version of its mailbox's subscription set that its insert made (migration 0035): a `fanout`
    row written at version v is for the subscriptions with `since_version <= v` (`fanout_ref`)."""


def match_class(folder_id: str | None, change_types: Sequence[str], immutable_ids: bool) -> str:
    """What decides which notifications a subscription gets for a change (`events_for`), as a short
    key: subscriptions of one mailbox with the same key get the same notifications. Ids are URL-safe
    base64 (domain/ids.py), so `:` and `;` cannot occur in them."""
    types = "".join(t[0] for t in CHANGE_TYPES if t in change_types)
    return f"{folder_id or ''}:{types}:{'i' if immutable_ids else 'r'}"


def fanout_ref(version: int, classes: Sequence[str]) -> str:
    """The `subscription_id` of a fanout row: the subscriptions of the row's mailbox, created at or
    before `version` of its subscription set, in one of these match classes (migration 0035). A few
    dozen bytes whatever the number of subscriptions (a list of 100 ids was 3.7 kB, in the row and in
    its index entry)."""
    return f"@{version};" + ";".join(classes)


def parse_fanout_ref(ref: str) -> tuple[int, frozenset[str]] | None:
    """(version, match classes) of a `fanout_ref`; None for the old form (comma-joined ids)."""
    if not ref.startswith("@"):
        return None
    version, *classes = ref[1:].split(";")
    return int(version), frozenset(classes)


def in_fanout(sub: Subscription, mailbox_id: str, version: int, classes: frozenset[str]) -> bool:
    """Whether a fanout row of `mailbox_id` written at `version` for `classes` is for `sub`."""
    return (
        sub.mailbox_id == mailbox_id
        and sub.since_version <= version
        and match_class(sub.folder_id, sub.change_types, sub.immutable_ids) in classes
    )


class Watch(NamedTuple):
    """What the in-unit match needs of a live subscription (a tuple of 7 columns, not the whole
    subscription: read whenever a mailbox's subscription set changed)."""

    id: str
    tenant_id: str
    mailbox_id: str
    folder_id: str | None
    change_types: tuple[str, ...]
    immutable_ids: bool
    expires_at: Timestamp = 0


class Notification(NamedTuple):
    """One row of the notification outbox: a change of one item, or a lifecycle event (a tuple, in
    the outbox's column order: one is built per notification in the sending unit and again in the
    worker's claim, both on the writer thread, ~5x cheaper than a frozen dataclass)."""

    id: str
    subscription_id: str
    kind: NotificationKind
    event: str
    """created/updated/deleted, or the lifecycle event."""
    url: str
    tenant_id: str
    mailbox_id: str
    item_id: str
    """The item's immutable id (what the worker loads for resource data); "" for lifecycle events."""
    resource_id: str
    """The id the notification names (REST or immutable, as the subscription asked)."""
    client_state: str | None
    subscription_expires_at: Timestamp
    status: Literal["pending", "failed"]
    attempts: int
    created_at: Timestamp
    next_attempt_at: Timestamp


@dataclass(frozen=True, slots=True)
class Resource:
    """A parsed subscription resource."""

    user_key: str | None
    """None for `/me`."""
    folder_key: str | None
    select: tuple[str, ...]
    filter: str | None


def parse_resource(text: str) -> Resource:
    """`/me/messages`, `users/{id}/messages`, `/users('{id}')/mailFolders('{id}')/messages[?$select=…]`.

    Raises:
        SubscriptionError: not a message resource Graph supports for subscriptions, or query options
            other than `$select`/`$filter`.
    """
    path, _, query = text.strip().partition("?")
    segments: list[tuple[str, str | None]] = []
    for raw in (s for s in path.split("/") if s):
        match = _SEGMENT.match(unquote(raw))
        if match is None:  # a bare key (`users/{id}`): the previous name's key
            if not segments or segments[-1][1] is not None:
                raise _bad_resource(text)
            segments[-1] = (segments[-1][0], unquote(raw))
            continue
        name, key = match.group(1).lower(), match.group(2)
        if segments and segments[-1][0] in ("users", "mailfolders") and segments[-1][1] is None:
            segments[-1] = (segments[-1][0], unquote(raw))  # `users/alice@x`, `mailFolders/inbox`
            continue
        segments.append((name, key))
    user_key: str | None
    if segments and segments[0] == ("me", None):
        user_key, rest = None, segments[1:]
    elif segments and segments[0][0] == "users" and segments[0][1]:
        user_key, rest = segments[0][1], segments[1:]
    else:
        raise _bad_resource(text)
    folder_key = None
    if len(rest) == 2 and rest[0][0] == "mailfolders" and rest[0][1] and rest[1] == ("messages", None):
        folder_key = rest[0][1]
    elif rest != [("messages", None)]:
        raise _bad_resource(text)
    select: tuple[str, ...] = ()
    filter_: str | None = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        option = name.lower().lstrip("$")
        if option == "select":
            select = tuple(p.strip() for p in value.split(",") if p.strip())
        elif option == "filter":
            filter_ = value
        else:
            raise SubscriptionError(f"The query option '{name}' is not supported in a subscription resource.")
    return Resource(user_key, folder_key, select, filter_)


def _bad_resource(text: str) -> SubscriptionError:
    return SubscriptionError(f"Resource '{text}' is not supported for subscriptions of this kind.")


def parse_change_types(text: object) -> tuple[str, ...]:
    """`"created,updated"` → ("created", "updated"). Raises SubscriptionError."""
    if not isinstance(text, str) or not text.strip():
        raise SubscriptionError("changeType is a required property for subscription creation.")
    parts = tuple(dict.fromkeys(p.strip() for p in text.split(",")))
    for part in parts:
        if part not in CHANGE_TYPES:
            raise SubscriptionError(f"'{part}' is not a valid change type.")
    return parts


def check_expiration(expires_at: Timestamp, now: Timestamp, rich: bool) -> None:
    """Graph's lifetime rule: in the future, at most 10,080 minutes (1,440 with resource data) away."""
    limit = MAX_MINUTES_RICH if rich else MAX_MINUTES
    if expires_at <= now:
        raise SubscriptionError("Subscription expiration can only be in the future.")
    if expires_at > now + limit * MINUTE:
        raise SubscriptionError(f"Subscription expiration can only be {limit} minutes in the future.")


def check_client_state(value: object) -> str | None:
    """clientState: optional, a string of at most 128 characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SubscriptionError("clientState must be a string.")
    if len(value) > MAX_CLIENT_STATE:
        raise SubscriptionError(f"clientState must be at most {MAX_CLIENT_STATE} characters long.")
    return value


def check_rich(resource: Resource, certificate: object, certificate_id: object) -> None:
    """`includeResourceData` needs a certificate, its id, and a resource with `$select` (no Body)."""
    if not certificate or not isinstance(certificate, str):
        raise SubscriptionError(
            "A subscription with includeResourceData requires encryptionCertificate to be set."
        )
    if not certificate_id or not isinstance(certificate_id, str):
        raise SubscriptionError(
            "A subscription with includeResourceData requires encryptionCertificateId to be set."
        )
    if len(certificate_id) > 128:
        raise SubscriptionError("encryptionCertificateId must be at most 128 characters long.")
    if not resource.select:
        raise SubscriptionError(
            "Rich notifications require the resource to use $select to limit the properties returned."
        )
    if any(p.lower() in _NO_RICH_PROPS for p in resource.select):
        raise SubscriptionError("Body and UniqueBody are not supported in rich notifications.")


def events_for(sub: Subscription | Watch, change: Change) -> list[tuple[str, str]]:
    """The (changeType, id) notifications one message change raises for `sub` (docs/change-tracking.md).

    A folder subscription sees a move into its folder as `created` and a move out as `deleted` (the
    item left its set). A mailbox subscription sees a move as `updated` when it names immutable ids;
    with REST ids (which change on a move, spec §3.5) as `deleted` of the old id and `created` of the new.
    """
    if change.entity != "message" or change.mailbox_id != sub.mailbox_id:
        return []
    new_id = change.item_id if sub.immutable_ids else change.rest_id
    old_id = change.item_id if sub.immutable_ids else (change.from_rest_id or change.rest_id)
    folder = sub.folder_id
    raised: list[tuple[str, str]] = []
    if change.kind == "moved":
        if folder is None:
            if sub.immutable_ids:
                raised.append(("updated", new_id))
            else:
                raised += [("deleted", old_id), ("created", new_id)]
        elif change.folder_id == folder:
            raised.append(("created", new_id))
        elif change.from_folder_id == folder:
            raised.append(("deleted", old_id))
    elif folder is None or change.folder_id == folder:
        raised.append((change.kind, new_id))
    return [(kind, item) for kind, item in raised if kind in sub.change_types]


def graph_time(ts: Timestamp) -> str:
    """`2024-05-01T10:11:12.1234560Z`: how Graph writes a subscription's expirationDateTime (7 digits)."""
    whole, micros = divmod(ts, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}0Z"
