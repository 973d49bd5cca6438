"""Graph permission names and which mail operations they allow (spec §4.3).

Delegated permissions arrive in the token's `scp`, application permissions in `roles`. Read is ordered
Mail.ReadBasic < Mail.Read < Mail.ReadWrite; write needs Mail.ReadWrite; send needs Mail.Send, which
Mail.ReadWrite does not include. The `.Shared` delegated variants also cover the user's own mailbox
and are the only ones that reach other users' mailboxes.

Directory reads (issue 15: `GET /me`, `/users`) are the operation "directory": User.Read (delegated:
the signed-in user's own profile), User.ReadBasic.All (basic properties of every user) and
User.Read.All (every property of every user; delegated or application). `user_reach` says which.

Exchange Online's SMTP permissions (issue 16, docs/smtp-submission.md) belong to another resource,
`https://outlook.office.com`: `SMTP.Send` (delegated) and `SMTP.SendAsApp` (application). Tokens for
Graph never carry them and tokens for Outlook carry nothing else (`for_resource`); no Graph operation
is allowed by them.
"""

from __future__ import annotations

from typing import Final, Literal

# "read_content" is a read that reveals message content (attachments, MIME): Mail.ReadBasic does not
# grant it (spec §2.4: ReadBasic hides body and attachments).
# "none": any valid token (the `$batch` envelope; each of its items is checked on its own).
# "directory": reading user objects (`/me`, `/users`); how far a token reaches: `user_reach`.
# "settings_read"/"settings_write": mailbox settings and Inbox rules (MailboxSettings.Read/ReadWrite; Graph
# has no .Shared variant, so a delegated caller reaches only its own).
Operation = Literal[
    "read", "read_content", "write", "send", "settings_read", "settings_write", "none", "directory"
]
UserReach = Literal["own", "basic", "all"]
ActorKind = Literal["user", "app"]

# Names as Graph spells them; tenant files are validated against these (case-insensitively).
DELEGATED_PERMISSIONS: Final = frozenset(
    {
        "Mail.Read",
        "Mail.ReadBasic",
        "Mail.ReadWrite",
        "Mail.Send",
        "Mail.Read.Shared",
        "Mail.ReadWrite.Shared",
        "Mail.Send.Shared",
        "User.Read",
        "User.ReadBasic.All",
        "User.Read.All",
        "MailboxSettings.Read",
        "MailboxSettings.ReadWrite",
        "offline_access",
        "openid",
        "profile",
        "email",
        "SMTP.Send",
    }
)
APPLICATION_PERMISSIONS: Final = frozenset(
    {
        "Mail.Read",
        "Mail.ReadBasic",
        "Mail.ReadBasic.All",
        "Mail.ReadWrite",
        "Mail.Send",
        "User.ReadBasic.All",
        "User.Read.All",
        "MailboxSettings.Read",
        "MailboxSettings.ReadWrite",
        "SMTP.SendAsApp",
    }
)
# Exchange Online's resource (the SMTP AUTH permissions); its tokens' `aud` (Entra issues
# `https://outlook.office.com` for both of Exchange's identifier URIs).
OUTLOOK_RESOURCE: Final = "https://outlook.office.com"
OUTLOOK_PERMISSIONS: Final = frozenset({"SMTP.Send", "SMTP.SendAsApp"})
SMTP_DELEGATED: Final = "SMTP.Send"
SMTP_APPLICATION: Final = "SMTP.SendAsApp"
KNOWN_PERMISSIONS: Final = DELEGATED_PERMISSIONS | APPLICATION_PERMISSIONS
_CANONICAL: Final = {p.casefold(): p for p in KNOWN_PERMISSIONS}
_OUTLOOK_KEYS: Final = frozenset(p.casefold() for p in OUTLOOK_PERMISSIONS)

# Per operation and actor kind: (permissions valid on the caller's own mailbox or, for apps, any
# mailbox; delegated permissions that also reach other users' mailboxes).
_BASIC_READ: Final = {
    "user": frozenset({"Mail.ReadBasic"}),
    "app": frozenset({"Mail.ReadBasic", "Mail.ReadBasic.All"}),
}
_FULL_READ_OWN: Final = frozenset(
    {"Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared", "Mail.ReadWrite.Shared"}
)
_FULL_READ_APP: Final = frozenset({"Mail.Read", "Mail.ReadWrite"})
_SHARED: Final[dict[Operation, frozenset[str]]] = {
    "read": frozenset({"Mail.Read.Shared", "Mail.ReadWrite.Shared"}),
    "read_content": frozenset({"Mail.Read.Shared", "Mail.ReadWrite.Shared"}),
    "write": frozenset({"Mail.ReadWrite.Shared"}),
    "send": frozenset({"Mail.Send.Shared"}),
    "settings_read": frozenset(),
    "settings_write": frozenset(),
}
_SETTINGS: Final[dict[Operation, frozenset[str]]] = {
    "settings_read": frozenset({"MailboxSettings.Read", "MailboxSettings.ReadWrite"}),
    "settings_write": frozenset({"MailboxSettings.ReadWrite"}),
}
_OWN: Final[dict[Operation, frozenset[str]]] = {
    "read": _BASIC_READ["user"] | _FULL_READ_OWN,
    "read_content": _FULL_READ_OWN,
    "write": frozenset({"Mail.ReadWrite", "Mail.ReadWrite.Shared"}),
    "send": frozenset({"Mail.Send", "Mail.Send.Shared"}),
    **_SETTINGS,
}
_APP: Final[dict[Operation, frozenset[str]]] = {
    "read": _BASIC_READ["app"] | _FULL_READ_APP,
    "read_content": _FULL_READ_APP,
    "write": frozenset({"Mail.ReadWrite"}),
    "send": frozenset({"Mail.Send"}),
    **_SETTINGS,
}


_DIRECTORY: Final[dict[ActorKind, frozenset[str]]] = {
    "user": frozenset({"User.Read", "User.ReadBasic.All", "User.Read.All"}),
    "app": frozenset({"User.ReadBasic.All", "User.Read.All"}),
}


def user_reach(actor_kind: ActorKind, permissions: frozenset[str]) -> UserReach:
    """Which user objects a token with the "directory" operation reads, and how much of them.

    "all": every property of every user (User.Read.All); "basic": the basic properties of every user
    (User.ReadBasic.All; a delegated caller still reads all of its own with User.Read); "own": only
    the signed-in user (User.Read).
    """
    if "User.Read.All" in permissions:
        return "all"
    if "User.ReadBasic.All" in permissions:
        return "basic"
    return "own" if actor_kind == "user" else "basic"


def canonical_permission(name: str) -> str | None:
    """The permission name as Graph spells it, matched case-insensitively, or None if unknown."""
    return _CANONICAL.get(name.casefold())


def for_resource(permissions: tuple[str, ...] | list[str], outlook: bool) -> list[str]:
    """The permissions a token for Graph (`outlook` False) or for Exchange Online may carry."""
    return [p for p in permissions if (p.casefold() in _OUTLOOK_KEYS) == outlook]


def is_outlook_only(permissions: tuple[str, ...] | list[str]) -> bool:
    """Whether granted scopes name Exchange Online's resource (a redeemed grant keeps no resource)."""
    return bool(permissions) and all(p.casefold() in _OUTLOOK_KEYS for p in permissions)


def allows_smtp_send(actor_kind: ActorKind, permissions: frozenset[str]) -> bool:
    """Whether a token may submit over SMTP: `SMTP.Send` delegated, `SMTP.SendAsApp` as an app."""
    return (SMTP_APPLICATION if actor_kind == "app" else SMTP_DELEGATED) in permissions


def allows(
    actor_kind: ActorKind, permissions: frozenset[str], op: Operation, *, other_mailbox: bool = False
) -> bool:
    """Whether a token's permissions allow an operation.

    Args:
        actor_kind: "user" for delegated tokens (`scp`), "app" for application tokens (`roles`).
        permissions: The token's permissions, as issued (exact names).
        op: "read" (list/get messages, folders, delta), "write" (create/update/delete/move/copy,
            drafts, attachments, folders) or "send" (send draft, sendMail, reply/forward).
        other_mailbox: A delegated caller addressing a mailbox other than its own; only the `.Shared`
            permissions reach those (the mailbox rights are checked elsewhere). Ignored for apps,
            whose roles cover every mailbox of the tenant (spec §4.3).

    Returns:
        True if at least one of the permissions grants the operation.
    """
    if op == "none":
        return True
    return not granting(actor_kind, op, other_mailbox=other_mailbox).isdisjoint(permissions)


def granting(actor_kind: ActorKind, op: Operation, *, other_mailbox: bool = False) -> frozenset[str]:
    """The permissions any one of which allows `op` (what `allows` checks; `/openapi.json` lists them)."""
    if op == "none":
        return frozenset()
    if op == "directory":  # not a mailbox operation: no .Shared variant, never another's "mailbox"
        return frozenset() if other_mailbox else _DIRECTORY[actor_kind]
    return _APP[op] if actor_kind == "app" else _SHARED[op] if other_mailbox else _OWN[op]


def hides_body(actor_kind: ActorKind, permissions: frozenset[str]) -> bool:
    """True when the caller may read only basic properties (Mail.ReadBasic / Mail.ReadBasic.All).

    Graph then omits `body`, `uniqueBody` and `bodyPreview`, and attachments are not readable.
    """
    full = _FULL_READ_APP if actor_kind == "app" else _FULL_READ_OWN
    return not _BASIC_READ[actor_kind].isdisjoint(permissions) and full.isdisjoint(permissions)
