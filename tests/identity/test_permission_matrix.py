"""The permission matrix of spec §4.3 through the real app: every route × method × single permission,
delegated and application, on the caller's own mailbox and (with FullAccess) on another user's."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from mailgraph.api.router import KEY
from mailgraph.api.routes import ROUTES
from mailgraph.auth.permissions import (
    APPLICATION_PERMISSIONS,
    DELEGATED_PERMISSIONS,
    ActorKind,
    Operation,
    allows,
    hides_body,
)
from mailgraph.domain import delegation
from mailgraph.domain.delegation import PermissionSpec
from mailgraph.wiring import Runtime
from tests.conftest import TokenFor

MAIL = sorted(p for p in DELEGATED_PERMISSIONS | APPLICATION_PERMISSIONS if p.startswith("Mail."))
# A key that names nothing: an authorized request gets past the permission check to a 4xx of its own.
_IDS = {"mailfolders": "inbox"}


def _paths() -> list[tuple[str, str, Operation]]:
    out = []
    for route in ROUTES:
        if route.root:  # below `/{version}`, not a mailbox (`/subscriptions`: tests/webhooks)
            continue
        parts = [
            (_IDS.get(route.pattern[i - 1], "AAMkAGnotthere=") if seg == KEY else seg)
            for i, seg in enumerate(route.pattern)
        ]
        for method, (_, op) in route.methods.items():
            out.append(("/".join(parts), method, op))
    return out


PATHS = _paths()


def _denied(kind: ActorKind, perm: str, op: Operation, path: str, *, other: bool = False) -> bool:
    perms = frozenset({perm})
    if not allows(kind, perms, op, other_mailbox=other):
        return True
    # Mail.ReadBasic reads no body: the MIME of an item ($value) is refused too (spec §4.3).
    return "/attachments" not in path and path.endswith("/$value") and hides_body(kind, perms)


def _check(kind: ActorKind, perm: str, op: Operation, path: str, status: int) -> None:
    if "/attachments" in path and hides_body(kind, frozenset({perm})):
        assert status in (403, 404), (perm, path, status)  # attachments are hidden from Mail.ReadBasic
    else:
        assert (status == 403) == _denied(kind, perm, op, path), (perm, path, status)


async def _statuses(
    api: AsyncClient, root: str, headers: dict[str, str]
) -> list[tuple[str, str, Operation, int]]:
    out = []
    for path, method, op in PATHS:
        r = await api.request(method, f"{root}/{path}", headers=headers, content=b"")
        out.append((path, method, op, r.status_code))
    return out


@pytest.mark.parametrize("perm", MAIL)
async def test_delegated_own_mailbox(api: AsyncClient, token_for: TokenFor, perm: str) -> None:
    for path, method, op, status in await _statuses(api, "/v1.0/me", token_for("alice", perm)):
        assert status != 401, (path, method)
        _check("user", perm, op, f"{method} {path}", status)


@pytest.mark.parametrize("perm", sorted(p for p in APPLICATION_PERMISSIONS if p.startswith("Mail.")))
async def test_application(api: AsyncClient, token_for: TokenFor, perm: str) -> None:
    for path, method, op, status in await _statuses(
        api, "/v1.0/users/bob@fabrikam.test", token_for(app=[perm])
    ):
        _check("app", perm, op, f"{method} {path}", status)


@pytest.mark.parametrize("perm", MAIL)
async def test_delegated_other_mailbox_with_full_access(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor, perm: str
) -> None:
    grant = [PermissionSpec("bob@fabrikam.test", "alice@fabrikam.test", ("FullAccess",))]
    await runtime.engine.write(lambda tx: delegation.apply(tx, runtime.tenant.id, grant, [], []))
    root = "/v1.0/users/bob@fabrikam.test"
    for path, method, op, status in await _statuses(api, root, token_for("alice", perm)):
        if _denied("user", perm, op, path, other=True):
            # 403, or 400 when the handler refused the (empty) body before looking at the mailbox.
            assert status in (400, 403), (perm, method, path, status)
        else:
            assert status != 403, (perm, method, path, status)
