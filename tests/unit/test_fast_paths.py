"""The hot-path shortcuts (docs/performance.md) give exactly the results of the code they shortcut.

Each shortcut was added for CPU per request (measured); these tests pin that it changes nothing a
client or the store can see: `quote_key` is `quote(…, safe="")`, the recipient-list codec writes the
stdlib's text, the header-class cache builds the same headers, and the Graph-path shortcut in the app
still sends the token endpoint of a tenant spelled like a Graph version to the token endpoint.
"""

from __future__ import annotations

import json
from email.headerregistry import HeaderRegistry
from urllib.parse import quote

from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st

from mailgraph.api.router import quote_key
from mailgraph.domain import ids
from mailgraph.domain.model import EmailAddress
from mailgraph.mime.compose import _REGISTRY, _CachingHeaderRegistry
from mailgraph.mime.folding import LineSafe
from mailgraph.store.sql.codec import addresses_from_json, addresses_to_json
from mailgraph.wiring import Runtime

_STDLIB_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@given(st.text())
def test_quote_key_is_urllib_quote(text: str) -> None:
    try:
        expected = quote(text, safe="")
    except UnicodeEncodeError:  # lone surrogates: both refuse
        return
    assert quote_key(text) == expected


def test_quote_key_on_ids_and_keys() -> None:
    for value in (ids.message_id(), ids.immutable_id(), ids.folder_id(), "alice@contoso.com", "a b/c?d#e"):
        assert quote_key(value) == quote(value, safe="")
    assert quote_key("AAMk-_x=") == "AAMk-_x%3D"


_text = st.text(st.characters(blacklist_categories=["Cs"]))  # what a TEXT column can hold


@given(st.lists(st.tuples(_text, _text), max_size=4))
def test_address_codec_writes_the_stdlib_text(pairs: list[tuple[str, str]]) -> None:
    items = [EmailAddress(a, n) for a, n in pairs]
    text = addresses_to_json(items)
    assert text == _STDLIB_DUMPS([[a, n] for a, n in pairs])
    assert addresses_from_json(text) == items


def test_address_codec_lone_surrogate_takes_the_stdlib_path() -> None:
    items = [EmailAddress("x@y.test", "\ud800")]
    assert addresses_to_json(items) == _STDLIB_DUMPS([["x@y.test", "\ud800"]])


def test_header_class_cache_builds_the_same_headers() -> None:
    plain = HeaderRegistry()
    cached = _CachingHeaderRegistry()
    samples = [
        ("To", "Bob <bob@contoso.com>, carol@contoso.com"),
        ("Subject", "=?utf-8?q?caf=C3=A9?= and more"),
        ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
        ("Message-ID", "<abc@contoso.com>"),
        ("X-Custom", "value"),
    ]
    for _ in range(2):  # the second round comes from the cache
        for name, value in samples:
            got, want = cached(name, value), plain(name, value)
            assert str(got) == str(want) and got.name == want.name
            # The same classes, behind the LineSafe folding mixin (mime/folding.py, issue 17).
            assert type(got).__mro__[1] is LineSafe
            assert type(got).__mro__[3:] == type(want).__mro__[1:]
    assert cached["to"] is cached["TO"]
    assert _REGISTRY["disposition-notification-to"] is _REGISTRY["Disposition-Notification-To"]


def test_header_class_cache_follows_remapping() -> None:
    registry = _CachingHeaderRegistry()
    before = registry["x-test"]
    registry.map_to_type("x-test", HeaderRegistry().registry["to"])
    after = registry["x-test"]
    assert after is not before and issubclass(after, HeaderRegistry().registry["to"])


async def test_plainly_graph_only_for_unambiguous_paths(runtime: Runtime) -> None:
    def _plainly_graph(raw_path: bytes) -> bool:  # the mount table's shortcut (api/mounts.py)
        mount = runtime.app.mounts.fast(raw_path)
        return mount is not None and mount.name == "graph"

    assert _plainly_graph(b"/v1.0/users/alice@contoso.com/messages")
    assert _plainly_graph(b"/BETA/me/messages/AAMk%3D/send")
    for path in (
        b"/v1.0/oauth2/v2.0/token",
        b"/v1.0/OAuth2/v2.0/token",
        b"/v1.0/oauth%32/v2.0/token",
        b"/v1.0//oauth2/v2.0/token",
        b"/v1%2E0/me/messages",
        b"/contoso.com/oauth2/v2.0/token",
        b"/upload/abc",
        b"/admin/apps",
        b"/v1.0/",
        b"/",
    ):
        assert not _plainly_graph(path), path


async def test_token_endpoint_of_a_tenant_named_like_a_version(api: AsyncClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret"}
    reference = await api.post("/no-such-tenant.test/oauth2/v2.0/token", data=form)
    assert reference.status_code == 400 and isinstance(reference.json()["error"], str)
    for path in ("/v1.0/oauth2/v2.0/token", "/beta/OAuth2/v2.0/token", "/v1.0/oauth%32/v2.0/token"):
        r = await api.post(path, data=form)
        assert r.status_code == reference.status_code, path
        assert r.json()["error"] == reference.json()["error"], path  # an identity error, not Graph's 404


def test_guid_is_a_random_version_4_guid_in_lower_case() -> None:
    """`ids.guid` spells the GUID itself (no UUID object): what `str(uuid.uuid4())` gives, RFC 9562 §5.4."""
    import uuid

    seen = set()
    for _ in range(2000):
        value = ids.guid()
        parsed = uuid.UUID(value)
        assert str(parsed) == value  # canonical: lower case, 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(value)
    assert len(seen) == 2000
    # Every variant digit occurs (the two random bits of the variant byte are kept, not fixed).
    assert {value[19] for value in seen} == set("89ab")


def test_an_outbox_row_is_a_notification_in_column_order() -> None:
    """The store writes a `Notification` whole (`(*note, lease_until)`) and reads a row with
    `Notification._make`: its fields must be the outbox's columns, in the same order."""
    from mailgraph.domain.subscriptions import Notification
    from mailgraph.store.sql.subscriptions import _NOTE_COLUMNS

    assert Notification._fields == tuple(column.strip() for column in _NOTE_COLUMNS.split(","))
