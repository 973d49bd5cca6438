"""Delta replay equals the folder (issue 12): random interleavings of writes and delta pages over HTTP.

Two clients sync the Inbox page by page (one with REST ids, one with immutable ids, random page
sizes) while items are created, updated (subject, isRead), moved between Inbox and Archive, and
deleted, also between the pages of a round. Whenever a round ends without a write since its first
page, and always after a final round, each client's copy (replaying every entry) must equal the
Inbox's real content; within a round no item may come twice, and no state of an item (its change key)
is ever reported twice, across rounds either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.delta_helpers import replay
from tests.api.helpers import draft_body, q
from tests.conftest import TokenFor

FOLDERS = ("inbox", "archive")
OP = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(FOLDERS), st.integers(0, 0)),
    st.tuples(st.just("subject"), st.integers(0, 30), st.integers(0, 0)),
    st.tuples(st.just("read"), st.integers(0, 30), st.integers(0, 1)),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 1)),
    st.tuples(st.just("delete"), st.integers(0, 30), st.integers(0, 0)),
    st.tuples(st.just("page"), st.integers(0, 1), st.integers(0, 0)),
    st.tuples(st.just("page"), st.integers(0, 1), st.integers(0, 0)),
)


@dataclass
class Client:
    """One syncing client: its copy, where it stands, and what the current round returned."""

    headers: dict[str, str]
    immutable: bool
    copy: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = "/v1.0/me/mailFolders/inbox/messages/delta?$select=subject,isRead"
    round_ids: list[str] = field(default_factory=list)
    delivered: set[tuple[str, str]] = field(default_factory=set)
    """(id, etag) of every item sent so far: a change is reported once, never again in a later round."""
    clean: bool = True
    """No write happened since this round's first page: its end must match the folder exactly."""


async def _items(api: AsyncClient, headers: dict[str, str], folder: str) -> dict[str, tuple[str, bool]]:
    r = await api.get(
        f"/v1.0/me/mailFolders/{folder}/messages?$top=1000&$select=subject,isRead", headers=headers
    )
    assert r.status_code == 200, r.text
    return {m["id"]: (m["subject"], m["isRead"]) for m in r.json()["value"]}


async def _page(api: AsyncClient, client: Client, real: dict[str, tuple[str, bool]] | None) -> bool:
    """One page; True when it ended the round (and then, for a clean round, compare with `real`)."""
    r = await api.get(client.url, headers=client.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    replay(client.copy, body["value"])
    client.round_ids += [e["id"] for e in body["value"] if "@removed" not in e]
    for e in body["value"]:
        if "@removed" not in e:
            assert (e["id"], e["@odata.etag"]) not in client.delivered, "a change reported twice"
            client.delivered.add((e["id"], e["@odata.etag"]))
    if "@odata.nextLink" in body:
        client.url = body["@odata.nextLink"]
        return False
    assert len(client.round_ids) == len(set(client.round_ids)), "an item twice in one round"
    if client.clean and real is not None:
        assert {k: (v["subject"], v["isRead"]) for k, v in client.copy.items()} == real
    client.url, client.round_ids, client.clean = body["@odata.deltaLink"], [], True
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.lists(st.sampled_from(FOLDERS), max_size=6),
    ops=st.lists(OP, max_size=30),
    sizes=st.tuples(st.integers(1, 4), st.integers(1, 4)),
)
async def test_replaying_delta_equals_the_folder(
    api: AsyncClient,
    token_for: TokenFor,
    seed: list[str],
    ops: list[tuple[str, Any, int]],
    sizes: tuple[int, int],
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    for folder in FOLDERS:  # each example starts from empty folders (deleted items leave both)
        for rest_id in await _items(api, alice, folder):
            assert (await api.delete(f"/v1.0/me/messages/{q(rest_id)}", headers=alice)).status_code == 204
    rest = Client({**alice, "Prefer": f"odata.maxpagesize={sizes[0]}"}, immutable=False)
    imm = Client({**alice, "Prefer": f'odata.maxpagesize={sizes[1]}, IdType="ImmutableId"'}, immutable=True)
    clients = (rest, imm)
    counter = 0
    for folder in seed:  # some content, synced once by both clients before the interleaving starts
        counter += 1
        r = await api.post(
            f"/v1.0/me/mailFolders/{folder}/messages", json=draft_body(subject=f"s{counter}"), headers=alice
        )
        assert r.status_code == 201, r.text
    for client in clients:
        real = await _items(api, client.headers, "inbox")
        for _ in range(50):
            if await _page(api, client, real):
                break
    for kind, a, b in ops:
        if kind == "page":
            client = clients[a]
            real = await _items(api, client.headers, "inbox") if client.clean else None
            await _page(api, client, real)
            continue
        for client in clients:
            client.clean = client.url.find("$skiptoken=") < 0 and client.clean  # a write inside a round
        if kind == "create":
            counter += 1
            r = await api.post(
                f"/v1.0/me/mailFolders/{a}/messages", json=draft_body(subject=f"s{counter}"), headers=alice
            )
            assert r.status_code == 201, r.text
            continue
        live = [*(await _items(api, alice, "inbox")), *(await _items(api, alice, "archive"))]
        if not live:
            continue
        target = q(live[a % len(live)])
        if kind == "subject":
            counter += 1
            r = await api.patch(f"/v1.0/me/messages/{target}", json={"subject": f"s{counter}"}, headers=alice)
        elif kind == "read":
            r = await api.patch(f"/v1.0/me/messages/{target}", json={"isRead": bool(b)}, headers=alice)
        elif kind == "move":
            r = await api.post(
                f"/v1.0/me/messages/{target}/move", json={"destinationId": FOLDERS[b]}, headers=alice
            )
        else:
            r = await api.delete(f"/v1.0/me/messages/{target}", headers=alice)
        assert r.status_code < 300, r.text
    for client in clients:  # finish the round in flight, then one more round with no write in it
        for _ in range(500):
            if await _page(api, client, None):
                break
        client.clean = True
        real = await _items(api, client.headers, "inbox")
        for _ in range(500):
            if await _page(api, client, real):
                break
