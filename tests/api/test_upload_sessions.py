"""Upload sessions through the real app (spec §2.12): create, chunked PUTs without Authorization, cancel."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgraph.config import Settings
from mailgraph.store.blobs import BlobStore
from mailgraph.wiring import Runtime, build
from tests.api.helpers import assert_graph_error, create_draft, folder_items, q
from tests.conftest import TokenFor

ROOTS = ["/v1.0", "/beta"]
SEVEN_DIGITS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


async def start(
    api: AsyncClient, headers: dict[str, str], url: str, size: int, name: str = "big.bin", **extra: Any
) -> dict[str, Any]:
    item = {"attachmentType": "file", "name": name, "size": size, **extra}
    r = await api.post(
        f"{url}/attachments/createUploadSession", json={"AttachmentItem": item}, headers=headers
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def span(start_at: int, chunk: bytes, total: int) -> dict[str, str]:
    return {"Content-Range": f"bytes {start_at}-{start_at + len(chunk) - 1}/{total}"}


@pytest.mark.parametrize("version", ROOTS)
async def test_chunked_upload_creates_attachment(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice, f"{version}/me")
    url = f"{version}/me/messages/{q(draft['id'])}"
    data = os.urandom(3_500_000)
    session = await start(api, alice, url, len(data), name="flower.jpg", isInline=False)
    assert session["nextExpectedRanges"] == ["0-"]
    assert SEVEN_DIGITS.match(session["expirationDateTime"])
    upload = session["uploadUrl"]
    assert upload.startswith(f"https://graph.test/upload/{version[1:]}/attachmentSessions/")
    assert "authtoken=" in upload
    first, second = data[:2_000_000], data[2_000_000:]
    r = await api.put(upload, content=first, headers=span(0, first, len(data)))  # no Authorization
    assert r.status_code == 200, r.text
    assert r.json()["nextExpectedRanges"] == [f"2000000-{len(data) - 1}"]
    assert SEVEN_DIGITS.match(r.json()["expirationDateTime"])
    r = await api.put(upload, content=second, headers=span(2_000_000, second, len(data)))
    assert r.status_code == 201, r.text
    assert r.content == b""
    location = r.headers["location"]
    assert location.startswith(f"https://graph.test/{version[1:]}/users(")
    aid = location.rsplit("('", 1)[1].rstrip("')")
    r = await api.get(f"{url}/attachments/{aid}", headers=alice)
    assert r.status_code == 200
    meta = r.json()
    assert meta["name"] == "flower.jpg" and meta["contentType"] == "image/jpeg" and meta["size"] == len(data)
    r = await api.get(f"{url}/attachments/{aid}/$value", headers=alice)
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
    assert (await api.get(url, headers=alice)).json()["hasAttachments"] is True
    # The session is finished: its URL is gone, and no partial file is left behind.
    r = await api.put(upload, content=b"x", headers=span(0, b"x", len(data)))
    assert_graph_error(r, 404, "uploadSessionNotFound")
    assert await runtime.app.services.attachments.blobs.parts_stored() == 0  # type: ignore[attr-defined]


async def test_range_errors_and_cancel(api: AsyncClient, token_for: TokenFor, runtime: Runtime) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    url = f"/me/messages/{q(draft['id'])}"
    size = 1000
    upload = (await start(api, alice, f"/v1.0{url}", size))["uploadUrl"]
    chunk = b"a" * 400
    r = await api.put(upload, content=chunk, headers=span(100, chunk, size))
    assert_graph_error(r, 416, "fragmentOutOfOrder")
    r = await api.put(upload, content=chunk, headers={"Content-Range": "bytes 0-399/999"})
    assert_graph_error(r, 416, "invalidRange")  # total differs from the declared size
    r = await api.put(upload, content=chunk, headers={"Content-Range": "bytes 0-499/1000"})
    assert_graph_error(r, 416, "invalidRange")  # body length differs from the range
    r = await api.put(upload, content=chunk, headers={})
    assert_graph_error(r, 416, "invalidRange")
    r = await api.put(upload, content=b"a" * 1001, headers={"Content-Range": "bytes 0-1000/1000"})
    assert_graph_error(r, 416, "invalidRange")  # past the end
    r = await api.put(upload, content=chunk, headers=span(0, chunk, size))
    assert r.status_code == 200
    r = await api.put(upload, content=chunk, headers=span(200, chunk, size))
    assert_graph_error(r, 416, "fragmentOverlap")
    bad_token = re.sub(r"authtoken=[^&]+", "authtoken=forged", upload)
    assert_graph_error(
        await api.put(bad_token, content=chunk, headers=span(400, chunk, size)),
        401,
        "InvalidAuthenticationToken",
    )
    assert_graph_error(await api.delete(bad_token), 401, "InvalidAuthenticationToken")
    # Sending the draft while its upload is unfinished is refused.
    sender = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    r = await api.post(f"/v1.0{url}/send", headers=sender)
    assert_graph_error(r, 400, "uploadSessionIncomplete")
    r = await api.delete(upload)
    assert r.status_code == 204
    assert_graph_error(
        await api.put(upload, content=chunk, headers=span(400, chunk, size)), 404, "uploadSessionNotFound"
    )
    assert_graph_error(await api.delete(upload), 404, "uploadSessionNotFound")
    assert await runtime.app.services.attachments.blobs.parts_stored() == 0  # type: ignore[attr-defined]
    assert (await api.get(f"/v1.0{url}/attachments", headers=alice)).json()["value"] == []
    r = await api.post(f"/v1.0{url}/send", headers=sender)
    assert r.status_code == 202


async def test_expired_session(api: AsyncClient, token_for: TokenFor, runtime: Runtime) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    upload = (await start(api, alice, f"/v1.0/me/messages/{q(draft['id'])}", 10))["uploadUrl"]
    session_id = upload.split("/attachmentSessions/")[1].split("?")[0]

    async def expire(tx: Any) -> None:
        session = await tx.attachments.get_session(session_id)
        session.expires_at = 0
        await tx.attachments.put_session(session)

    await runtime.engine.write(expire)
    r = await api.put(upload, content=b"0123456789", headers={"Content-Range": "bytes 0-9/10"})
    error = assert_graph_error(r, 404, "uploadSessionNotFound")
    assert "expired" in error["message"]
    assert await runtime.app.services.attachments.collect() == 0  # the sweep drops the expired session
    assert await runtime.engine.read(lambda tx: tx.attachments.get_session(session_id)) is None


@pytest.mark.parametrize("version", ROOTS)
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "ErrorInvalidRequest"),
        ({"attachmentItem": {"attachmentType": "file", "name": "x"}}, 400, "ErrorInvalidRequest"),
        ({"attachmentItem": {"attachmentType": "file", "size": 5}}, 400, "ErrorInvalidRequest"),
        (
            {"attachmentItem": {"attachmentType": "file", "name": "x", "size": 151 * 1024 * 1024}},
            400,
            "ErrorAttachmentSizeLimitExceeded",
        ),
        (
            {"attachmentItem": {"attachmentType": "file", "name": "x", "size": 0}},
            400,
            "ErrorAttachmentSizeLimitExceeded",
        ),
        (
            {"attachmentItem": {"attachmentType": "item", "name": "x", "size": 5}},
            400,
            "ErrorAttachmentSizeLimitExceeded",
        ),
        ({"attachmentItem": {"attachmentType": "folder", "name": "x", "size": 5}}, 400, "BadRequest"),
        ({"attachmentItem": {"name": "x", "size": 5, "colour": 1}}, 400, "RequestBodyRead"),
        ({"attachmentItem": {"name": "x", "size": 5}, "extra": 1}, 400, "RequestBodyRead"),
    ],
)
async def test_bad_create_requests(
    api: AsyncClient, token_for: TokenFor, version: str, body: dict[str, Any], status: int, code: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice, f"{version}/me")
    url = f"{version}/me/messages/{q(draft['id'])}/attachments/createUploadSession"
    assert_graph_error(await api.post(url, json=body, headers=alice), status, code)


async def test_sessions_only_on_drafts_and_with_permission(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, to=["alice@fabrikam.test"])
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    inbox = await folder_items(api, alice, "/v1.0/me", "inbox")
    item = {"AttachmentItem": {"attachmentType": "file", "name": "x", "size": 5}}
    r = await api.post(
        f"/v1.0/me/messages/{q(inbox[0]['id'])}/attachments/createUploadSession", json=item, headers=alice
    )
    assert_graph_error(r, 400, "ErrorInvalidPropertySet")
    other = await create_draft(api, alice)
    reader = token_for("alice", "Mail.Read")
    r = await api.post(
        f"/v1.0/me/messages/{q(other['id'])}/attachments/createUploadSession", json=item, headers=reader
    )
    assert_graph_error(r, 403, "ErrorAccessDenied")
    r = await api.get("/upload/v1.0/attachmentSessions/nope?authtoken=x")
    assert_graph_error(r, 405, "BadRequest")
    r = await api.put("/upload/v9/whatever", content=b"x")
    assert_graph_error(r, 404, "ResourceNotFound")


async def test_chunk_limit_allows_msgraph_core_default(api: AsyncClient, token_for: TokenFor) -> None:
    """msgraph-core's LargeFileUploadTask sends 5 MiB + 1 byte chunks: above 4 MB, under the upload limit."""
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    size = 5 * 1024 * 1024 + 1
    upload = (await start(api, alice, f"/v1.0/me/messages/{q(draft['id'])}", size))["uploadUrl"]
    chunk = b"z" * size
    r = await api.put(upload, content=chunk, headers=span(0, chunk, size))
    assert r.status_code == 201, r.text
    too_big = b"z" * (8 * 1024 * 1024 + 1)
    r = await api.put(upload, content=too_big, headers=span(0, too_big, len(too_big)))
    assert_graph_error(r, 413, "RequestEntityTooLarge")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=49_999), max_size=6, unique=True),
    probes=st.lists(
        st.tuples(st.integers(-5, 60_000), st.integers(-5, 60_000), st.integers(0, 60_000)), max_size=3
    ),
)
async def test_any_chunking_reassembles_and_bad_ranges_are_graph_errors(
    api: AsyncClient, token_for: TokenFor, cuts: list[int], probes: list[tuple[int, int, int]]
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    data = os.urandom(50_000)
    upload = (await start(api, alice, url, len(data)))["uploadUrl"]
    for s, e, total in probes:  # arbitrary ranges: a Graph 4xx or an accepted chunk, never a 500
        r = await api.put(
            upload,
            content=data[max(s, 0) : max(e, 0) + 1],
            headers={"Content-Range": f"bytes {s}-{e}/{total}"},
        )
        assert r.status_code in (200, 201, 416), r.text
        if r.status_code != 416:
            upload = (await start(api, alice, url, len(data)))["uploadUrl"]  # start clean
    bounds = [0, *sorted(cuts), len(data)]
    for a, b in itertools.pairwise(bounds):
        r = await api.put(upload, content=data[a:b], headers=span(a, data[a:b], len(data)))
    assert r.status_code == 201, r.text
    aid = r.headers["location"].rsplit("('", 1)[1].rstrip("')")
    assert (await api.get(f"{url}/attachments/{aid}/$value", headers=alice)).content == data


async def test_blobs_dir_works_on_either_engine(
    data_dir: Path, database: str | None, token_for: TokenFor, runtime: Runtime
) -> None:
    """`--blobs dir`: SQLite's default, and a real choice on PostgreSQL (one host): upload, `$value`."""
    second = await build(Settings(data_dir=data_dir, database=database, blobs="dir"))
    try:
        blobs = second.app.services.attachments.blobs
        assert isinstance(blobs, BlobStore)
        transport = httpx.ASGITransport(app=second.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://graph.test") as api:
            alice = token_for("alice", "Mail.ReadWrite")
            draft = await create_draft(api, alice)
            url = f"/v1.0/me/messages/{q(draft['id'])}"
            data = os.urandom(3_000_001)
            upload = (await start(api, alice, url, len(data)))["uploadUrl"]
            for at, end in ((0, 2_000_000), (2_000_000, len(data))):
                r = await api.put(upload, content=data[at:end], headers=span(at, data[at:end], len(data)))
                assert r.status_code in (200, 201), r.text
            aid = r.headers["location"].rsplit("('", 1)[1].rstrip("')")
            r = await api.get(f"{url}/attachments/{aid}/$value", headers=alice)
            assert r.status_code == 200 and r.content == data
        assert await blobs.usage() == (1, len(data))  # a file in the data dir, whatever the engine
        assert blobs.path(hashlib.sha256(data).hexdigest()).is_file()
    finally:
        await second.engine.close()
