"""The mail model: plain dataclasses shared by the domain, the store and the adapters.

Times are integers: microseconds since the Unix epoch, UTC (`Timestamp`). Graph renders them at the
edge with second precision; keeping microseconds gives a stable order for items made in one second.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from mailgraph.odata.ast import Expr, OrderBy, Property, Search

if TYPE_CHECKING:
    from mailgraph.domain.extended import StoredProperty

Timestamp = int
"""Microseconds since 1970-01-01T00:00:00Z."""
SECOND: Final = 1_000_000
"""Timestamp units per second: the one definition of the time scale (µs)."""


def now() -> Timestamp:
    """The wall clock as a `Timestamp` (the composition root's clock; services take a clock instead)."""
    return time.time_ns() // 1000


BodyType = Literal["text", "html"]
Importance = Literal["low", "normal", "high"]
Inference = Literal["focused", "other"]
FlagStatus = Literal["notFlagged", "flagged", "complete"]


class Unset(enum.Enum):
    """Marks a field the caller did not send (as opposed to sending null)."""

    UNSET = enum.auto()


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class EmailAddress:
    """Graph `emailAddress` (the `recipient` wrapper is added at the edge)."""

    address: str
    name: str = ""

    @property
    def key(self) -> str:
        """The address as compared: case-insensitively (RFC 5321 §2.4 allows no more for us)."""
        return self.address.casefold()


@dataclass(frozen=True, slots=True)
class ItemBody:
    """Graph `itemBody`."""

    content_type: BodyType
    content: str


@dataclass(frozen=True, slots=True)
class DateTimeTimeZone:
    """Graph `dateTimeTimeZone`."""

    date_time: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class FollowupFlag:
    """Graph `followupFlag`."""

    flag_status: FlagStatus = "notFlagged"
    start: DateTimeTimeZone | None = None
    due: DateTimeTimeZone | None = None
    completed: DateTimeTimeZone | None = None


@dataclass(frozen=True, slots=True)
class InternetMessageHeader:
    """Graph `internetMessageHeader`: one header name and value."""

    name: str
    value: str


@dataclass(slots=True)
class Message:
    """One item in one folder of one mailbox.

    `id` is the immutable key of the item; `rest_id` is the id Graph shows by default, which changes
    whenever the item changes folder (spec §3.5: "moves change ids").
    """

    id: str
    rest_id: str
    mailbox_id: str
    folder_id: str
    change_key: str
    created_at: Timestamp
    modified_at: Timestamp
    received_at: Timestamp
    sent_at: Timestamp
    is_draft: bool
    is_read: bool
    internet_message_id: str
    conversation_id: str
    conversation_index: str
    subject: str = ""
    body: ItemBody = field(default_factory=lambda: ItemBody("text", ""))
    body_preview: str = ""
    importance: Importance = "normal"
    inference_classification: Inference = "focused"
    from_: EmailAddress | None = None
    sender: EmailAddress | None = None
    to: list[EmailAddress] = field(default_factory=list)
    cc: list[EmailAddress] = field(default_factory=list)
    bcc: list[EmailAddress] = field(default_factory=list)
    reply_to: list[EmailAddress] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    flag: FollowupFlag = field(default_factory=FollowupFlag)
    headers: list[InternetMessageHeader] = field(default_factory=list)
    has_attachments: bool = False
    is_delivery_receipt_requested: bool = False
    is_read_receipt_requested: bool = False
    in_reply_to: str = ""
    """RFC 5322 In-Reply-To (a msg-id), empty when none."""
    references: str = ""
    """RFC 5322 References (space-separated msg-ids), empty when none."""

    @property
    def recipients(self) -> list[EmailAddress]:
        """To, Cc and Bcc in that order."""
        return [*self.to, *self.cc, *self.bcc]


@dataclass(slots=True)
class MessageChanges:
    """The writable properties a caller sent, typed; `UNSET` for the ones it did not send.

    Built at the edge from JSON (create, PATCH, sendMail); the domain decides what may change.
    """

    subject: str | Unset = UNSET
    body: ItemBody | Unset = UNSET
    importance: Importance | Unset = UNSET
    inference_classification: Inference | Unset = UNSET
    from_: EmailAddress | Unset | None = UNSET
    sender: EmailAddress | Unset | None = UNSET
    to: list[EmailAddress] | Unset = UNSET
    cc: list[EmailAddress] | Unset = UNSET
    bcc: list[EmailAddress] | Unset = UNSET
    reply_to: list[EmailAddress] | Unset = UNSET
    categories: list[str] | Unset = UNSET
    flag: FollowupFlag | Unset = UNSET
    headers: list[InternetMessageHeader] | Unset = UNSET
    internet_message_id: str | Unset = UNSET
    is_read: bool | Unset = UNSET
    is_delivery_receipt_requested: bool | Unset = UNSET
    is_read_receipt_requested: bool | Unset = UNSET
    attachments: list[NewAttachment] | Unset = UNSET
    """Attachments given inline at creation (create, sendMail); staged by domain/attachments.py."""
    extended_properties: list[StoredProperty] | Unset = UNSET
    """single/multiValueExtendedProperties of create and PATCH (domain/extended.py); added or replaced."""


AttachmentKind = Literal["file", "item", "reference"]


@dataclass(frozen=True, slots=True)
class ReferenceInfo:
    """referenceAttachment's beta properties (spec §7); v1.0 has none of them."""

    source_url: str | None = None
    provider_type: str | None = None
    permission: str | None = None
    is_folder: bool | None = None
    preview_url: str | None = None
    thumbnail_url: str | None = None


@dataclass(slots=True)
class NewAttachment:
    """An attachment as a caller sent it (spec §2.11, §3.4), before its bytes are stored.

    `data` holds the decoded bytes (file content, or an item attachment's MIME); staging writes them to
    the blob store and replaces them with `blob_hash`/`size`.
    """

    kind: AttachmentKind
    name: str
    content_type: str | None = None
    is_inline: bool = False
    content_id: str | None = None
    content_location: str | None = None
    data: bytes | None = None
    reference: ReferenceInfo | None = None
    blob_hash: str | None = None
    size: int = 0


@dataclass(slots=True)
class Attachment:
    """One attachment of one item (`item_id`: a message's immutable id, or an outbound snapshot's id).

    The bytes live once in the blob store under `blob_hash` (sha256); each attachment row holds one
    reference to them, so copies made on send share the bytes.
    """

    id: str
    item_id: str
    position: int
    kind: AttachmentKind
    name: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    content_location: str | None
    modified_at: Timestamp
    blob_hash: str | None
    reference: ReferenceInfo | None = None


@dataclass(slots=True)
class UploadSession:
    """A large-attachment upload in progress (spec §2.12); its bytes so far are a partial file on disk.

    `token_hash` is the sha256 of the URL's capability token (the token itself is never stored).
    """

    id: str
    token_hash: str
    mailbox_id: str
    item_id: str
    name: str
    content_type: str | None
    size: int
    is_inline: bool
    content_id: str | None
    received: int
    expires_at: Timestamp
    created_at: Timestamp


@dataclass(frozen=True, slots=True)
class Folder:
    """A mail folder; counts are computed by the store when the folder is read."""

    id: str
    mailbox_id: str
    parent_id: str | None
    well_known_name: str | None
    display_name: str
    is_hidden: bool
    child_folder_count: int = 0
    total_item_count: int = 0
    unread_item_count: int = 0


@dataclass(frozen=True, slots=True)
class Tenant:
    """A directory tenant this server hosts; `domains[0]` is the default domain.

    A verified domain belongs to exactly one tenant (as in Entra), so an address names one tenant.
    """

    id: str
    display_name: str
    domains: tuple[str, ...]
    lockout_threshold: int = 10
    """Failed sign-ins in a row that lock a user or client (smart lockout, domain/lockout.py)."""
    lockout_duration_s: int = 60
    """How long the first lock lasts; each further lock in a row lasts twice as long."""
    smtp_password_auth: bool = False
    """AUTH LOGIN/PLAIN on the submission port (Exchange's SMTP AUTH switch; off by default, issue 16)."""
    spoofed_mail: str = "junk"
    """Anonymous mail claiming a hosted domain: `junk`, `inbox` or `reject` (domain/spoofing.py)."""


@dataclass(frozen=True, slots=True)
class UserProfile:
    """The Graph `user` properties beyond the mailbox identity (tenant file; migration 0021)."""

    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    business_phones: tuple[str, ...] = ()
    mobile_phone: str | None = None
    office_location: str | None = None
    preferred_language: str | None = None


NO_PROFILE = UserProfile()


@dataclass(frozen=True, slots=True)
class User:
    """A directory user; every user has a mailbox whose id is the user's id."""

    id: str
    tenant_id: str
    user_principal_name: str
    mail: str
    display_name: str
    password_hash: str | None
    account_enabled: bool = True
    profile: UserProfile = NO_PROFILE

    @property
    def address(self) -> EmailAddress:
        """The user's primary SMTP address with display name."""
        return EmailAddress(self.mail, self.display_name)


@dataclass(frozen=True, slots=True)
class App:
    """An app registration and its service principal (`object_id`, the `oid` of app tokens)."""

    client_id: str
    tenant_id: str
    object_id: str
    display_name: str
    secret_hash: str | None
    allow_public_client: bool
    application_permissions: tuple[str, ...]
    delegated_permissions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One token signing key of a tenant as the store keeps it (auth/keyring.py gives it meaning).

    The current key of a tenant has `retire_at` None; a rotated-out key verifies until `retire_at`.
    """

    kid: str
    tenant_id: str
    private_key_pem: str
    certificate_pem: str
    created_at: Timestamp
    retire_at: Timestamp | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who calls: a user through an app (delegated) or an app on its own (application).

    `permissions` are the token's `scp` (delegated) or `roles` (application).
    """

    kind: Literal["user", "app"]
    tenant_id: str
    app_id: str
    user_id: str | None
    permissions: frozenset[str]
    # Whether a `.Shared` permission covers this request's operation, so a delegated caller may use
    # it in another user's mailbox given FullAccess there (spec §4.3; set per request by the API).
    reach_shared: bool = False

    @property
    def is_app(self) -> bool:
        """True for app-only (application permission) callers."""
        return self.kind == "app"


# `captured`: kept for inspection instead of relayed (capture mode, no relay configured).
QueueStatus = Literal["queued", "sending", "delivered", "deferred", "failed", "captured"]


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One external recipient of one sent message, as the outbound queue tracks it."""

    id: str
    outbound_id: str
    mailbox_id: str
    recipient: str
    domain: str
    status: QueueStatus
    attempts: int
    next_attempt_at: Timestamp
    lease_until: Timestamp | None
    last_reply_code: int | None
    last_reply_text: str | None
    expires_at: Timestamp
    created_at: Timestamp
    internet_message_id: str = ""
    subject: str = ""


DEFAULT_ORDER: Final = (OrderBy(Property(("receivedDateTime",)), descending=True),)


@dataclass(frozen=True, slots=True)
class Page:
    """Which messages of a listing: filter, order, and the window (`$skip`, `$top`)."""

    top: int = 10
    skip: int = 0
    order_by: tuple[OrderBy, ...] = DEFAULT_ORDER
    filter: Expr | None = None
    search: Search | None = None
    fields: frozenset[str] | None = None
    """The `Message` attributes the caller reads (a `$select`); None: all of them. The store may leave
    the others at placeholder values (empty, zero, False) to skip their columns; the ids, the folder and
    the change key are always filled."""
