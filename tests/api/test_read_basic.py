"""Mail.ReadBasic: metadata only — no body, no MIME, no attachments (spec §2.4, §4.3)."""

from __future__ import annotations

import base64

from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft, q
from tests.conftest import TokenFor


async def test_read_basic_sees_no_attachment_content(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    file = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "secret.txt",
        "contentBytes": base64.b64encode(b"top secret").decode(),
    }
    r = await api.post(f"/v1.0/me/messages/{q(draft['id'])}/attachments", json=file, headers=alice)
    assert r.status_code == 201, r.text
    attachment_id = r.json()["id"]
    basic = token_for("alice", "Mail.ReadBasic")
    base = f"/v1.0/me/messages/{q(draft['id'])}"
    for path in (
        f"{base}/attachments",
        f"{base}/attachments/{q(attachment_id)}",
        f"{base}/attachments/{q(attachment_id)}/$value",
        f"{base}/$value",
    ):
        r = await api.get(path, headers=basic)
        assert b"top secret" not in r.content and b"dG9wIHNlY3JldA" not in r.content
        assert_graph_error(r, 403, "ErrorAccessDenied")
    assert_graph_error(await api.get(f"{base}?$expand=attachments", headers=basic), 403, "ErrorAccessDenied")
    item = (await api.get(base, headers=basic)).json()
    assert item["hasAttachments"] is True and "body" not in item
    full = token_for("alice", "Mail.Read")
    r = await api.get(f"{base}/attachments/{q(attachment_id)}/$value", headers=full)
    assert r.status_code == 200 and r.content == b"top secret"
