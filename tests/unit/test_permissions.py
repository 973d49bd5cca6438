"""The permission matrix of spec §4.3."""

from __future__ import annotations

import pytest

from mailgraph.auth.permissions import (
    APPLICATION_PERMISSIONS,
    DELEGATED_PERMISSIONS,
    KNOWN_PERMISSIONS,
    ActorKind,
    Operation,
    allows,
    canonical_permission,
    hides_body,
    user_reach,
)

# (kind, permission, operations it allows on the caller's own mailbox / any mailbox for apps)
MATRIX: list[tuple[ActorKind, str, set[Operation]]] = [
    ("user", "Mail.ReadBasic", {"read"}),
    ("user", "Mail.Read", {"read"}),
    ("user", "Mail.ReadWrite", {"read", "write"}),
    ("user", "Mail.Send", {"send"}),
    ("user", "Mail.Read.Shared", {"read"}),
    ("user", "Mail.ReadWrite.Shared", {"read", "write"}),
    ("user", "Mail.Send.Shared", {"send"}),
    ("user", "User.Read", set()),
    ("user", "openid", set()),
    ("user", "Mail.ReadBasic.All", set()),  # an application permission: no effect in scp
    ("app", "Mail.ReadBasic.All", {"read"}),
    ("app", "Mail.ReadBasic", {"read"}),
    ("app", "Mail.Read", {"read"}),
    ("app", "Mail.ReadWrite", {"read", "write"}),
    ("app", "Mail.Send", {"send"}),
    ("app", "Mail.Read.Shared", set()),  # delegated only
    ("app", "User.Read.All", set()),
]


@pytest.mark.parametrize(("kind", "perm", "ops"), MATRIX)
@pytest.mark.parametrize("op", ["read", "write", "send"])
def test_matrix(kind: ActorKind, perm: str, ops: set[Operation], op: Operation) -> None:
    assert allows(kind, frozenset({perm}), op) is (op in ops)


def test_readwrite_does_not_include_send() -> None:
    assert not allows("user", frozenset({"Mail.ReadWrite"}), "send")
    assert not allows("app", frozenset({"Mail.ReadWrite"}), "send")


def test_no_permissions_allow_nothing() -> None:
    for op in ("read", "write", "send"):
        assert not allows("user", frozenset(), op)
        assert not allows("app", frozenset(), op)


def test_permission_names_are_exact() -> None:
    assert not allows("user", frozenset({"mail.read"}), "read")


@pytest.mark.parametrize(
    ("perm", "op", "expected"),
    [
        ("Mail.Read", "read", False),
        ("Mail.ReadWrite", "write", False),
        ("Mail.Send", "send", False),
        ("Mail.Read.Shared", "read", True),
        ("Mail.ReadWrite.Shared", "read", True),
        ("Mail.ReadWrite.Shared", "write", True),
        ("Mail.Send.Shared", "send", True),
        ("Mail.Read.Shared", "write", False),
    ],
)
def test_other_mailboxes_need_shared_variants(perm: str, op: Operation, expected: bool) -> None:
    assert allows("user", frozenset({perm}), op, other_mailbox=True) is expected


def test_other_mailbox_flag_is_ignored_for_apps() -> None:
    assert allows("app", frozenset({"Mail.Read"}), "read", other_mailbox=True)


@pytest.mark.parametrize(
    ("kind", "perms", "expected"),
    [
        ("user", {"Mail.ReadBasic"}, True),
        ("user", {"Mail.ReadBasic", "Mail.Send"}, True),
        ("user", {"Mail.ReadBasic", "Mail.Read"}, False),
        ("user", {"Mail.ReadBasic", "Mail.ReadWrite.Shared"}, False),
        ("user", {"Mail.Read"}, False),
        ("user", set(), False),
        ("app", {"Mail.ReadBasic.All"}, True),
        ("app", {"Mail.ReadBasic"}, True),
        ("app", {"Mail.ReadBasic.All", "Mail.ReadWrite"}, False),
        ("app", {"Mail.Send"}, False),
    ],
)
def test_hides_body(kind: ActorKind, perms: set[str], expected: bool) -> None:
    assert hides_body(kind, frozenset(perms)) is expected


def test_known_names() -> None:
    assert {
        "Mail.Read",
        "Mail.ReadBasic.All",
        "Mail.Send.Shared",
        "offline_access",
        "email",
    } <= KNOWN_PERMISSIONS
    assert "Mail.ReadBasic.All" not in DELEGATED_PERMISSIONS
    assert "openid" not in APPLICATION_PERMISSIONS
    assert canonical_permission("mail.readwrite") == "Mail.ReadWrite"
    assert canonical_permission("OPENID") == "openid"
    assert canonical_permission("Mail.Everything") is None


def test_directory_reads_need_a_user_permission() -> None:
    """Issue 15: GET /me and /users: User.Read, User.ReadBasic.All, User.Read.All; never a Mail.* scope."""
    for scope in ("User.Read", "User.ReadBasic.All", "User.Read.All"):
        assert allows("user", frozenset({scope}), "directory")
        assert not allows("user", frozenset({scope}), "directory", other_mailbox=True)
    assert not allows("user", frozenset({"Mail.ReadWrite", "Mail.Read.Shared"}), "directory")
    assert allows("app", frozenset({"User.Read.All"}), "directory")
    assert allows("app", frozenset({"User.ReadBasic.All"}), "directory")
    assert not allows("app", frozenset({"User.Read", "Mail.Read"}), "directory")
    assert user_reach("user", frozenset({"User.Read"})) == "own"
    assert user_reach("user", frozenset({"User.Read", "User.ReadBasic.All"})) == "basic"
    assert user_reach("user", frozenset({"User.ReadBasic.All", "User.Read.All"})) == "all"
    assert user_reach("app", frozenset({"User.ReadBasic.All"})) == "basic"
    assert user_reach("app", frozenset({"User.Read.All"})) == "all"
    assert canonical_permission("user.readbasic.all") == "User.ReadBasic.All"


@pytest.mark.parametrize("kind", ["user", "app"])
@pytest.mark.parametrize(
    ("perm", "readable", "writable"),
    [
        ("MailboxSettings.Read", True, False),
        ("MailboxSettings.ReadWrite", True, True),
        ("Mail.ReadWrite", False, False),  # mail permissions do not reach settings or rules
    ],
)
def test_mailbox_settings_permissions(kind: ActorKind, perm: str, readable: bool, writable: bool) -> None:
    assert allows(kind, frozenset({perm}), "settings_read") is readable
    assert allows(kind, frozenset({perm}), "settings_write") is writable
    assert not allows(kind, frozenset({perm}), "read") or perm.startswith("Mail.")
    # No .Shared variant exists: a delegated token never reaches another user's settings.
    assert not allows("user", frozenset({perm}), "settings_read", other_mailbox=True)
