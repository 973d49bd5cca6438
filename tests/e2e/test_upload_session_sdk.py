"""End to end with the official msgraph-sdk: a 10 MB attachment through an upload session, sent, intact.

The SDK creates the draft and the upload session, sends, and reads the recipient's copy back; the
chunk PUTs go out with plain httpx and no Authorization header (spec §2.12). Why not msgraph-core's
`LargeFileUploadTask` (1.5.2): its `upload()` calls `last_chunk()` with the range `next_chunk()` has
just sent, so it always re-sends its final range, which any server enforcing §2.12's in-order rules
answers with 404 (session finished) or 416 fragmentOverlap; it also swallows chunk errors in a log.
"""

from __future__ import annotations

import hashlib
import os

import asyncpg
import httpx
import pytest
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.attachment_item import AttachmentItem
from msgraph.generated.models.attachment_type import AttachmentType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.attachments.create_upload_session.create_upload_session_post_request_body import (
    CreateUploadSessionPostRequestBody,
)

from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client, _user_form

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

SIZE = 10 * 1024 * 1024
CHUNK = 4 * 1024 * 1024  # spec §2.12: chunks ≤ 4 MB, in order


async def test_ten_megabytes_through_an_upload_session(server: Server, database: str | None) -> None:
    data = os.urandom(SIZE)
    digest = hashlib.sha256(data).hexdigest()
    async with (
        _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice,
        _client(server, _user_form("bob@fabrikam.test", "bob-Passw0rd")) as bob,
    ):
        draft = await alice.me.messages.post(
            Message(
                subject="Big file",
                to_recipients=[Recipient(email_address=EmailAddress(address="bob@fabrikam.test"))],
            )
        )
        assert draft is not None and draft.id
        item = AttachmentItem(attachment_type=AttachmentType.File, name="big.bin", size=SIZE)
        session = await alice.me.messages.by_message_id(draft.id).attachments.create_upload_session.post(
            CreateUploadSessionPostRequestBody(attachment_item=item)
        )
        assert session is not None and session.upload_url and session.upload_url.startswith(server.url)
        assert session.next_expected_ranges == ["0-"]

        async with httpx.AsyncClient(timeout=60) as raw:  # no Authorization: the URL carries its token
            for start in range(0, SIZE, CHUNK):
                chunk = data[start : start + CHUNK]
                headers = {
                    "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{SIZE}",
                    "Content-Type": "application/octet-stream",
                }
                r = await raw.put(session.upload_url, content=chunk, headers=headers)
                final = start + len(chunk) == SIZE
                assert r.status_code == (201 if final else 200), r.text
            assert "/attachments('" in r.headers["location"]

        await alice.me.messages.by_message_id(draft.id).send.post()

        inbox = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
        assert inbox is not None and inbox.value is not None and len(inbox.value) == 1
        received = inbox.value[0]
        assert received.subject == "Big file" and received.has_attachments is True and received.id
        listed = await bob.me.messages.by_message_id(received.id).attachments.get()
        assert listed is not None and listed.value is not None and len(listed.value) == 1
        attachment = listed.value[0]
        assert isinstance(attachment, FileAttachment) and attachment.id
        assert attachment.name == "big.bin" and attachment.size == SIZE

        one = (
            await bob.me.messages.by_message_id(received.id).attachments.by_attachment_id(attachment.id).get()
        )
        assert isinstance(one, FileAttachment) and one.content_bytes is not None
        assert hashlib.sha256(one.content_bytes).hexdigest() == digest

        # `$value` has no typed builder in msgraph-sdk; the SDK's own adapter sends it (with its token).
        info = RequestInformation(Method.GET)
        info.url = f"{server.url}/v1.0/me/messages/{received.id}/attachments/{attachment.id}/$value"
        raw_bytes = await bob.request_adapter.send_primitive_async(info, "bytes", {})
        assert isinstance(raw_bytes, bytes) and hashlib.sha256(raw_bytes).hexdigest() == digest

    # Stored once: Alice's Sent Items copy, Bob's Inbox copy share one blob (a file in the data dir;
    # on PostgreSQL, `--blobs auto`, rows in the database: docs/scaling.md).
    if database is None:
        blobs = [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 1 and blobs[0].stat().st_size == SIZE
    else:
        con = await asyncpg.connect(database)
        try:
            assert [tuple(r) for r in await con.fetch("SELECT size, refcount FROM blobs")] == [(SIZE, 2)]
            assert await con.fetchval("SELECT SUM(length(data)) FROM blob_chunks") == SIZE
        finally:
            await con.close()
        assert not [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
