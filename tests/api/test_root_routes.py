"""The route table holds root-level Graph routes beside the mailbox routes (api/router.py).

The tests build a router of the mailbox routes with stand-in root routes (the real `/subscriptions`
routes of issue 12 are left out): each path reaches its route with its keys,
the mailbox routes still match as before, and every path no route claims keeps today's 404 segment.
"""

from __future__ import annotations

import orjson
import pytest

from mailgraph.api.context import Ctx, json_response
from mailgraph.api.handler import GraphHandler
from mailgraph.api.http import Request, Response
from mailgraph.api.router import KEY, Match, PathError, Route, Router
from mailgraph.api.routes import ROUTES as ALL_ROUTES
from mailgraph.wiring import Runtime
from tests.conftest import TokenFor


async def _echo(req: Request, ctx: Ctx, m: Match) -> Response:
    return json_response(
        {"version": m.version, "user": m.user_key, "keys": m.keys, "caller": ctx.actor.user_id}
    )


# The mailbox routes only: the real root routes (`/subscriptions`, issue 12) would shadow the stand-ins.
ROUTES = [r for r in ALL_ROUTES if not r.root]

ROOT = [
    Route(("subscriptions",), {"GET": (_echo, "read"), "POST": (_echo, "write")}, root=True),
    Route(("subscriptions", KEY), {"GET": (_echo, "read")}, root=True),
    Route(("$batch",), {"POST": (_echo, "read")}, root=True),
    Route(("users",), {"GET": (_echo, "read")}, root=True),
    Route(("users", KEY), {"GET": (_echo, "read")}, root=True),
    Route(("me",), {"GET": (_echo, "read")}, root=True),
]


def _segment(router: Router, path: str) -> str:
    with pytest.raises(PathError) as caught:
        router.match(path.encode())
    return caught.value.segment


def test_root_routes_match_beside_the_mailbox_routes() -> None:
    router = Router([*ROUTES, *ROOT])
    cases = {
        "/v1.0/subscriptions": (("subscriptions",), []),
        "/beta/Subscriptions/abc%3D": (("subscriptions", KEY), ["abc="]),
        "/v1.0/$batch": (("$batch",), []),
        "/v1.0/users": (("users",), []),
        "/v1.0/users/alice%40contoso.com": (("users", KEY), ["alice@contoso.com"]),
        "/v1.0/users('it''s')": (("users", KEY), ["it's"]),
        "/v1.0/ME": (("me",), []),
    }
    for path, (pattern, keys) in cases.items():
        match, route = router.match(path.encode())
        assert (route.pattern, route.root, match.keys, match.user_key) == (pattern, True, keys, None), path
    match, route = router.match(b"/v1.0/users/bob%40contoso.com/messages")
    assert (route.pattern, route.root, match.user_key) == (("messages",), False, "bob@contoso.com")
    match, route = router.match(b"/v1.0/me/mailFolders/inbox")
    assert (route.pattern, match.user_key, match.keys) == (("mailfolders", KEY), None, ["inbox"])


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("/", ""), ("/v2.0/me", "v2.0"), ("/v1.0/contacts", "contacts"), ("/v1.0/me/nope", "nope"),
        ("/v1.0/me/messages/x/y/z", "y"), ("/v1.0/subscriptions/a/b", "b"), ("/v1.0/users/x/nope", "nope"),
        ("/v1.0/users/x/messages/y/nope", "nope"), ("/v1.0/$batch/x", "x"),
        ("/v1.0/me/mailFolders/inbox/bogus", "bogus"), ("/v1.0/me/messages/a/attachments/b/c", "c"),
    ],
)  # fmt: skip
def test_unknown_paths_name_the_first_segment_no_route_continues_with(path: str, segment: str) -> None:
    """Graph names the first segment that leads nowhere (an id in a key position is never it)."""
    assert _segment(Router([*ROUTES, *ROOT]), path) == segment


def test_without_root_routes_the_entities_are_404_as_before() -> None:
    router = Router(ROUTES)
    assert _segment(router, "/v1.0/me") == "v1.0"
    assert _segment(router, "/v1.0/users") == "users"
    assert _segment(router, "/v1.0/users/alice@contoso.com") == "v1.0"
    assert _segment(router, "/v1.0/subscriptions") == "subscriptions"
    assert Router(ALL_ROUTES).match(b"/v1.0/$batch")[1].root  # issue 13: `$batch` is a root route


def _request(method: str, path: str) -> Request:
    return Request(method, path.encode(), "", {"host": "graph.test"}, b"", "https", "graph.test")


async def test_root_routes_go_through_the_handler_s_checks(runtime: Runtime, token_for: TokenFor) -> None:
    graph = GraphHandler(runtime.app.services, [*ROUTES, *ROOT])
    token = token_for("alice", "Mail.Read")["Authorization"].split(" ", 1)[1]
    actor = runtime.app.services.tokens.verify(token).actor()
    ok = await graph.handle(_request("GET", "/v1.0/users/carol%40contoso.com"), actor)
    assert ok.status == 200
    assert orjson.loads(ok.body) == {
        "version": "v1.0",
        "user": None,
        "keys": ["carol@contoso.com"],
        "caller": actor.user_id,
    }
    denied = await graph.handle(_request("POST", "/v1.0/subscriptions"), actor)  # "write" with Mail.Read
    assert denied.status == 403
    wrong = await graph.handle(_request("DELETE", "/v1.0/subscriptions"), actor)
    assert wrong.status == 405 and (b"allow", b"GET, POST") in wrong.headers
