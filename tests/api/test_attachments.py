"""Attachments through the real app (spec §2.11, §3.4, §6): add, list, get, $value, delete, send."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.domain.attachments import AttachmentService
from mailgraph.wiring import Runtime, clock
from tests.api.helpers import assert_graph_error, create_draft, draft_body, folder_items, q
from tests.conftest import TokenFor

ROOTS = ["/v1.0", "/beta"]
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def file_attachment(name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """A fileAttachment body as Kiota sends it."""
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentBytes": base64.b64encode(data).decode(),
    }
    body.update(extra)
    return body


async def add(api: AsyncClient, headers: dict[str, str], url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"{url}/attachments", json=body, headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def blob_usage(runtime: Runtime) -> tuple[int, int]:
    return await runtime.app.services.attachments.blobs.usage()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("version", ROOTS)
async def test_add_list_get_value_delete(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice, f"{version}/me")
    url = f"{version}/me/messages/{q(draft['id'])}"
    created = await add(api, alice, url, file_attachment("pixel", GIF))  # no extension: sniffed
    assert created["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert created["contentType"] == "image/gif"
    assert created["size"] == len(GIF) and created["isInline"] is False
    assert created["lastModifiedDateTime"].endswith("Z") and created["id"]
    text = await add(api, alice, url, file_attachment("notes.txt", b"hello"))
    assert text["contentType"] == "text/plain"

    message = (await api.get(url, headers=alice)).json()
    assert message["hasAttachments"] is True
    assert message["changeKey"] != draft["changeKey"]

    r = await api.get(f"{url}/attachments", headers=alice)
    assert r.status_code == 200
    listed = r.json()["value"]
    assert [a["name"] for a in listed] == ["pixel", "notes.txt"]
    assert base64.b64decode(listed[0]["contentBytes"]) == GIF

    r = await api.get(f"{url}/attachments/{q(created['id'])}", headers=alice)
    assert r.status_code == 200 and base64.b64decode(r.json()["contentBytes"]) == GIF
    r = await api.get(f"{url}/attachments/{q(created['id'])}/$value", headers=alice)
    assert r.status_code == 200 and r.content == GIF
    assert r.headers["content-type"] == "image/gif"

    r = await api.delete(f"{url}/attachments/{q(created['id'])}", headers=alice)
    assert r.status_code == 204
    r = await api.get(f"{url}/attachments/{q(created['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    await api.delete(f"{url}/attachments/{q(text['id'])}", headers=alice)
    message = (await api.get(url, headers=alice)).json()
    assert message["hasAttachments"] is False


async def test_inline_attachment_does_not_count(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    body = {"contentType": "HTML", "content": '<p>logo <img src="cid:logo1"></p>'}
    draft = await create_draft(api, alice, body=body)
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    inline = await add(api, alice, url, file_attachment("logo.gif", GIF, isInline=True, contentId="logo1"))
    assert inline["isInline"] is True and inline["contentId"] == "logo1"
    assert (await api.get(url, headers=alice)).json()["hasAttachments"] is False


@pytest.mark.parametrize("version", ROOTS)
async def test_item_and_reference_attachments(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice, f"{version}/me")
    url = f"{version}/me/messages/{q(draft['id'])}"
    item = {
        "@odata.type": "#microsoft.graph.itemAttachment",
        "name": "Forwarded",
        "item": {
            "@odata.type": "microsoft.graph.message",
            "subject": "Inner subject",
            "body": {"contentType": "Text", "content": "inner body"},
            "toRecipients": [{"emailAddress": {"address": "x@example.test"}}],
        },
    }
    created = await add(api, alice, url, item)
    assert created["@odata.type"] == "#microsoft.graph.itemAttachment"
    assert "contentBytes" not in created
    r = await api.get(f"{url}/attachments/{q(created['id'])}/$value", headers=alice)
    assert r.status_code == 200
    assert b"Subject: Inner subject" in r.content and b"inner body" in r.content
    assert b"To: x@example.test" in r.content

    reference: dict[str, Any] = {"@odata.type": "#microsoft.graph.referenceAttachment", "name": "Spec"}
    extra = {"sourceUrl": "https://files.example.test/spec", "providerType": "OneDriveBusiness"}
    if version == "/v1.0":
        r = await api.post(f"{url}/attachments", json={**reference, **extra}, headers=alice)
        assert_graph_error(r, 400, "RequestBodyRead")  # spec §7: beta-only properties
        ref = await add(api, alice, url, reference)
        assert "sourceUrl" not in ref
    else:
        ref = await add(api, alice, url, {**reference, **extra})
        assert ref["sourceUrl"] == extra["sourceUrl"] and ref["providerType"] == "oneDriveBusiness"
    r = await api.get(f"{url}/attachments/{q(ref['id'])}/$value", headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRequest")


@pytest.mark.parametrize("version", ROOTS)
async def test_inline_in_create_and_expand(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    body = draft_body(attachments=[file_attachment("a.txt", b"one"), file_attachment("b.bin", b"\x00two")])
    r = await api.post(f"{version}/me/messages", json=body, headers=alice)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["hasAttachments"] is True
    r = await api.get(f"{version}/me/messages/{q(draft['id'])}?$expand=attachments", headers=alice)
    assert r.status_code == 200
    expanded = r.json()["attachments"]
    assert [base64.b64decode(a["contentBytes"]) for a in expanded] == [b"one", b"\x00two"]
    assert expanded[1]["contentType"] == "application/octet-stream"
    r = await api.get(f"{version}/me/mailFolders/drafts/messages?$expand=attachments", headers=alice)
    assert [a["name"] for a in r.json()["value"][0]["attachments"]] == ["a.txt", "b.bin"]
    r = await api.get(f"{version}/me/messages?$expand=extensions", headers=alice)  # supported since issue 15
    assert r.status_code == 200 and r.json()["value"][0]["extensions"] == []
    r = await api.get(f"{version}/me/messages?$expand=mentions", headers=alice)
    assert r.status_code == 400


async def test_send_shares_bytes_with_every_copy(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    bob = token_for("bob", "Mail.Read")
    data = b"quarterly numbers " * 1000
    draft = await create_draft(api, alice, to=["bob@fabrikam.test", "carol@fabrikam-mail.test", "x@ext.test"])
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    await add(api, alice, url, file_attachment("q3.txt", data))
    assert await blob_usage(runtime) == (1, len(data))
    r = await api.post(f"{url}/send", headers=alice)
    assert r.status_code == 202, r.text
    inbox = await folder_items(api, bob, "/v1.0/me", "inbox")
    assert inbox[0]["hasAttachments"] is True
    listed = (await api.get(f"/v1.0/me/messages/{q(inbox[0]['id'])}/attachments", headers=bob)).json()[
        "value"
    ]
    assert base64.b64decode(listed[0]["contentBytes"]) == data
    sent = await folder_items(api, alice, "/v1.0/me", "sentitems")
    r = await api.get(f"/v1.0/me/messages/{q(sent[0]['id'])}/attachments/{q(listed[0]['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")  # attachment ids are per item
    # Stored once: 1 blob, referenced by Sent Items, 2 Inbox copies and the outbound snapshot.
    assert await blob_usage(runtime) == (1, len(data))
    refs = await runtime.engine.read(
        lambda tx: tx.attachments.known_blobs([hashlib.sha256(data).hexdigest()])
    )
    assert refs == {hashlib.sha256(data).hexdigest()}
    # Attachments on a sent message are refused (spec §5: draft-only change).
    r = await api.post(
        f"/v1.0/me/messages/{q(sent[0]['id'])}/attachments", json=file_attachment("x", b"x"), headers=alice
    )
    assert_graph_error(r, 400, "ErrorInvalidPropertySet")


async def test_send_mail_with_attachments_without_saving(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Send")
    bob = token_for("bob", "Mail.Read")
    message = draft_body(to=["bob@fabrikam.test"], attachments=[file_attachment("r.csv", b"a,b\n1,2\n")])
    r = await api.post(
        "/v1.0/me/sendMail", json={"message": message, "saveToSentItems": False}, headers=alice
    )
    assert r.status_code == 202, r.text
    inbox = await folder_items(api, bob, "/v1.0/me", "inbox")
    listed = (await api.get(f"/v1.0/me/messages/{q(inbox[0]['id'])}/attachments", headers=bob)).json()[
        "value"
    ]
    assert listed[0]["name"] == "r.csv" and listed[0]["contentType"] == "text/csv"
    assert base64.b64decode(listed[0]["contentBytes"]) == b"a,b\n1,2\n"
    alice_rw = token_for("alice", "Mail.Read")
    assert await folder_items(api, alice_rw, "/v1.0/me", "sentitems") == []
    assert await folder_items(api, alice_rw, "/v1.0/me", "drafts") == []


async def test_purge_releases_blob_and_collector_removes_it(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    alice = {**token_for("alice", "Mail.ReadWrite"), "Prefer": 'IdType="ImmutableId"'}
    draft = await create_draft(api, alice)  # an immutable id survives the soft delete's move
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    await add(api, alice, url, file_attachment("gone.txt", b"bye"))
    service = runtime.app.services.attachments
    assert await blob_usage(runtime) == (1, 3)
    assert (await api.delete(url, headers=alice)).status_code == 204  # to Recoverable Items
    assert (await api.delete(url, headers=alice)).status_code == 204  # purged
    assert await service.collect() == 0  # released just now: within the grace period
    later = AttachmentService(runtime.engine, service.blobs, lambda: clock() + 3600 * 1_000_000)
    await service.blobs.backdate(hashlib.sha256(b"bye").hexdigest(), 3600)  # type: ignore[attr-defined]
    assert await later.collect() == 1
    assert await blob_usage(runtime) == (0, 0)


async def test_startup_collects_strays_and_reconciles(runtime: Runtime) -> None:
    service = runtime.app.services.attachments
    stray = await service.blobs.put(b"written before a unit that failed")
    await service.blobs.backdate(stray, 3600)  # type: ignore[attr-defined]
    assert await service.collect(reconcile=True) == 1
    with pytest.raises(FileNotFoundError):
        await service.blobs.read(stray)


@pytest.mark.parametrize("version", ROOTS)
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a"},
            400,
            "ErrorRequiredPropertyMissing",
        ),
        (
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a", "contentBytes": "@@@"},
            400,
            "BadRequest",
        ),
        (
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a", "contentBytes": 5},
            400,
            "BadRequest",
        ),
        ({"@odata.type": "#microsoft.graph.eventAttachment", "name": "a"}, 400, "RequestBodyRead"),
        ({"name": "a", "contentBytes": "aGk="}, 400, "ErrorInvalidRequest"),
        ({**file_attachment("a", b"x"), "colour": "red"}, 400, "RequestBodyRead"),
        ({**file_attachment("a", b"x"), "id": "AAA="}, 400, "ErrorInvalidPropertySet"),
        ({**file_attachment("a", b"x"), "size": 99}, 400, "BadRequest"),
        (file_attachment("a\r\nX-Evil: 1", b"x"), 400, "ErrorInvalidValueForProperty"),
        (
            file_attachment("a", b"x", contentType="text/plain\r\nX-Evil: 1"),
            400,
            "ErrorInvalidValueForProperty",
        ),
        (
            {"@odata.type": "#microsoft.graph.itemAttachment", "name": "i"},
            400,
            "ErrorRequiredPropertyMissing",
        ),
        (
            {"@odata.type": "#microsoft.graph.itemAttachment", "item": {"subject": "a\r\nBcc: x@y.test"}},
            400,
            "ErrorInvalidValueForProperty",
        ),
        (
            {
                "@odata.type": "#microsoft.graph.itemAttachment",
                "item": {"@odata.type": "#microsoft.graph.event"},
            },
            400,
            "ErrorInvalidRequest",
        ),
    ],
)
async def test_bad_attachment_bodies(
    api: AsyncClient, token_for: TokenFor, version: str, body: dict[str, Any], status: int, code: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice, f"{version}/me")
    url = f"{version}/me/messages/{q(draft['id'])}"
    r = await api.post(f"{url}/attachments", json=body, headers=alice)
    assert_graph_error(r, status, code)
    assert (await api.get(f"{url}/attachments", headers=alice)).json()["value"] == []  # nothing half written
    assert (await api.get(url, headers=alice)).json()["changeKey"] == draft["changeKey"]


async def test_limits_and_routes(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    near = b"\x01" * (2_900_000)  # under 3 MB: fits the 4 MB request once base64-encoded
    created = await add(api, alice, url, file_attachment("big.bin", near))
    assert created["size"] == len(near)
    r = await api.post(
        f"{url}/attachments", json=file_attachment("huge.bin", b"\x01" * 3_200_000), headers=alice
    )
    assert_graph_error(r, 413, "RequestEntityTooLarge")
    many = draft_body(attachments=[file_attachment(f"{i}.txt", b"x") for i in range(251)])
    r = await api.post("/v1.0/me/messages", json=many, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRequest")
    r = await api.patch(url, json={"attachments": [file_attachment("p.txt", b"p")]}, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRequest")
    r = await api.get(f"/v1.0/me/messages/{q('AAMkAGI=')}/attachments", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.get(f"{url}/attachments/{q('AAMkAGI=')}/$value", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.delete(f"{url}/attachments/{q('AAMkAGI=')}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.get(f"/v1.0/me/mailFolders/inbox/messages/{q(draft['id'])}/attachments", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")  # not in that folder
    r = await api.get(f"/v1.0/me/mailFolders/drafts/messages/{q(draft['id'])}/attachments", headers=alice)
    assert r.status_code == 200 and len(r.json()["value"]) == 1
    reader = token_for("alice", "Mail.Read")
    r = await api.post(f"{url}/attachments", json=file_attachment("r.txt", b"r"), headers=reader)
    assert_graph_error(r, 403, "ErrorAccessDenied")


async def test_large_get_streams_content_bytes(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    """Above 4 MB a GET streams contentBytes (here via an upload session's 5 MB file)."""
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    data = os.urandom(5 * 1024 * 1024 + 7)
    r = await api.post(
        f"{url}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": len(data)}},
        headers=alice,
    )
    upload = r.json()["uploadUrl"]
    step = 4 * 1024 * 1024
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        headers = {"Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{len(data)}"}
        r = await api.put(upload, content=chunk, headers=headers)
    assert r.status_code == 201, r.text
    aid = r.headers["location"].rsplit("('", 1)[1].rstrip("')")
    r = await api.get(f"{url}/attachments/{aid}", headers=alice)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    assert base64.b64decode(r.json()["contentBytes"]) == data
    r = await api.get(f"{url}/attachments/{aid}/$value", headers=alice)
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert r.headers["content-type"] == "application/octet-stream"
