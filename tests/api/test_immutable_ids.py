"""`Prefer: IdType="ImmutableId"`, both id forms everywhere, and `outlook.body-content-type` (spec §0.2, §3.5)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from mailgraph.api.prefer import parse_prefer
from tests.api.helpers import assert_graph_error, create_draft, folder_items, q
from tests.conftest import TokenFor

ROOTS = ["/v1.0", "/beta"]
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
APPLIED = 'IdType="ImmutableId"'


@pytest.mark.parametrize("version", ROOTS)
async def test_immutable_id_survives_send_and_finds_the_sent_copy(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    root = f"{version}/me"
    r = await api.post(
        f"{root}/messages",
        json={"subject": "Kept", "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}]},
        headers={**alice, **IMMUTABLE},
    )
    assert r.status_code == 201, r.text
    assert r.headers["preference-applied"] == APPLIED
    immutable = r.json()["id"]
    assert immutable.startswith("AAkAL")
    assert r.headers["location"].endswith(f"/messages('{q(immutable)}')")
    plain = await create_draft(api, alice, root)  # without the preference: REST ids, no header
    r = await api.get(f"{root}/messages/{q(plain['id'])}", headers=alice)
    assert r.json()["id"] == plain["id"] and "preference-applied" not in r.headers
    # The immutable id is accepted everywhere a message id is taken, with or without the preference.
    r = await api.get(f"{root}/messages/{q(immutable)}", headers=alice)
    assert r.status_code == 200 and r.json()["subject"] == "Kept"
    rest = r.json()["id"]
    assert rest != immutable
    r = await api.patch(f"{root}/messages/{q(immutable)}", json={"subject": "Kept!"}, headers=alice)
    assert r.status_code == 200 and r.json()["id"] == rest
    r = await api.get(f"{root}/mailFolders/drafts/messages/{q(immutable)}", headers=alice)
    assert r.status_code == 200
    assert (await api.post(f"{root}/messages/{q(immutable)}/send", headers=alice)).status_code == 202
    # The draft's REST id is gone; its immutable id now names the Sent Items copy.
    assert_graph_error(await api.get(f"{root}/messages/{q(rest)}", headers=alice), 404, "ErrorItemNotFound")
    r = await api.get(f"{root}/messages/{q(immutable)}", headers={**alice, **IMMUTABLE})
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["id"] == immutable and sent["isDraft"] is False and sent["subject"] == "Kept!"
    assert r.headers["preference-applied"] == APPLIED
    r = await api.get(f"{root}/mailFolders/sentitems/messages", headers={**alice, **IMMUTABLE})
    assert [m["id"] for m in r.json()["value"]] == [immutable]
    assert "AAkAL" in r.json()["value"][0]["webLink"]


async def test_immutable_ids_in_moves_replies_and_deletes(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, to=["bob@fabrikam.test"])
    immutable = (await api.get(f"/v1.0/me/messages/{q(draft['id'])}", headers={**alice, **IMMUTABLE})).json()[
        "id"
    ]
    r = await api.post(
        f"/v1.0/me/messages/{q(immutable)}/move",
        json={"destinationId": "archive"},
        headers={**alice, **IMMUTABLE},
    )
    assert r.status_code == 201 and r.json()["id"] == immutable
    assert r.headers["preference-applied"] == APPLIED
    r = await api.post(f"/v1.0/me/messages/{q(immutable)}/createForward", headers={**alice, **IMMUTABLE})
    assert r.status_code == 201 and r.json()["id"].startswith("AAkAL")
    forward = r.json()["id"]
    r = await api.get(f"/v1.0/me/messages/{q(forward)}", headers=alice)
    assert r.status_code == 200 and r.json()["subject"] == "FW: Hello"
    assert (await api.delete(f"/v1.0/me/messages/{q(forward)}", headers=alice)).status_code == 204
    assert [m["subject"] for m in await folder_items(api, alice, "/v1.0/me", "drafts")] == []


async def test_body_content_type_preference_on_reads(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    html = {
        "contentType": "html",
        "content": "<p>Line <b>one</b></p><p>Line&nbsp;two<br>three &amp; more</p>",
    }
    r = await api.post("/v1.0/me/messages", json={"subject": "B", "body": html}, headers=alice)
    html_id = r.json()["id"]
    text = {"contentType": "text", "content": "a < b\nnext line"}
    r = await api.post(
        "/v1.0/me/messages",
        json={"subject": "T", "body": text},
        headers={**alice, "Prefer": 'outlook.body-content-type="text"'},
    )
    assert "preference-applied" not in r.headers  # the preference governs reads only
    text_id = r.json()["id"]
    as_text = {**alice, "Prefer": 'outlook.body-content-type="text"'}
    r = await api.get(f"/v1.0/me/messages/{q(html_id)}", headers=as_text)
    assert r.headers["preference-applied"] == 'outlook.body-content-type="text"'
    assert r.json()["body"] == {"contentType": "text", "content": "Line one\n\nLine two\nthree & more"}
    r = await api.get(f"/v1.0/me/messages/{q(text_id)}?$select=body,uniqueBody", headers=as_text)
    assert r.json()["body"] == text and r.json()["uniqueBody"] == text
    as_html = {**alice, "Prefer": 'outlook.body-content-type="HTML", IdType="ImmutableId"'}
    r = await api.get(f"/beta/me/messages/{q(text_id)}", headers=as_html)
    converted = r.json()["body"]
    assert converted["contentType"] == "html" and converted["content"].startswith("<html>")
    assert "<body>\r\n<div>a &lt; b<br>\nnext line</div>\r\n</body>" in converted["content"]
    assert r.headers["preference-applied"] == 'IdType="ImmutableId", outlook.body-content-type="html"'
    r = await api.get("/v1.0/me/messages?$orderby=subject", headers=as_text)
    assert [m["body"]["contentType"] for m in r.json()["value"]] == ["text", "text"]
    r = await api.get(
        f"/v1.0/me/messages/{q(html_id)}", headers={**alice, "Prefer": 'outlook.body-content-type="rtf"'}
    )
    assert r.json()["body"]["contentType"] == "html" and "preference-applied" not in r.headers


def test_prefer_parsing() -> None:
    prefs = parse_prefer(
        'odata.maxpagesize=5, idtype="immutableid"; x=1, outlook.timezone="Pacific Standard Time"'
    )
    assert prefs.immutable_ids and prefs.timezone == "Pacific Standard Time" and prefs.body_type is None
    assert str(prefs.zone()) == "America/Los_Angeles"
    assert str(parse_prefer('outlook.timezone="Europe/Berlin"').zone()) == "Europe/Berlin"
    assert str(parse_prefer("").zone()) == "UTC"
    assert parse_prefer('outlook.timezone="a,b", IdType=ImmutableId').timezone == "a,b"
    assert parse_prefer('outlook.body-content-type="te\\xt"').body_type == "text"  # quoted-pair
    assert parse_prefer('IdType="RestId"').immutable_ids is False
