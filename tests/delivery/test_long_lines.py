"""Issue 17, defect 1: every accepted draft composes to lines of at most 998 octets (RFC 5322 §2.1.1).

Before: a 999-character display name without spaces, or a 1,500-character custom header name, was
written as one over-long line; the relay answered `500 Line too long` after the sender's 202. The sink
here is aiosmtpd, which refuses such lines exactly as that relay did.
"""

from __future__ import annotations

import base64

import httpx

from mailgraph.wiring import Runtime
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries, mail, send
from tests.delivery.sink import Sink


def _longest_line(data: bytes) -> int:
    return max(len(line) for line in data.split(b"\r\n"))


async def test_long_names_subjects_and_headers_reach_the_relay(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    name, utf8_name = "N" * 999, "é" * 999
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "a" * 251 + ".txt",
        "contentBytes": base64.b64encode(b"x").decode(),
    }
    body = mail(["far@example.net"], subject="S" * 2000)
    message = body["message"]
    message["toRecipients"] = [
        {"emailAddress": {"address": "far@example.net", "name": name}},
        {"emailAddress": {"address": "wide@example.net", "name": utf8_name}},
        {"emailAddress": {"address": "quoted@example.net", "name": '"(,' * 400}},
    ]
    message["internetMessageHeaders"] = [
        {"name": "x-" + "h" * 253, "value": "v" * 3000},
        {"name": "x-spaces", "value": "word " * 600},
    ]
    message["attachments"] = [attachment]
    await send(api, token_for(), body)
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 3
    (entry,) = {(e.status, e.last_reply_code) for e in await entries(runtime)}
    assert entry == ("delivered", 250)
    (received,) = sink.received
    assert _longest_line(received.data) <= 998
    got = received.message
    # RFC 2047 §6.2: the space between adjacent encoded words is not part of the text; the stdlib's
    # address parser keeps it anyway (names are compared without it; none of them has a space).
    names = ["".join(a.display_name.split()) for a in got["To"].addresses]
    assert names == [name, utf8_name, '"(,' * 400]
    assert got["Subject"] == "S" * 2000
    assert got["x-" + "h" * 253].strip() == "v" * 3000  # folded before the value: FWS, not text
    (part,) = [p for p in got.iter_attachments()]
    assert part.get_filename() == "a" * 251 + ".txt"
    # The sender's copy in Sent Items, as `$value`, is just as short-lined.
    sent = await api.get("/v1.0/me/mailFolders/sentitems/messages", headers=token_for("alice", "Mail.Read"))
    (item,) = sent.json()["value"]
    raw = await api.get(f"/v1.0/me/messages/{item['id']}/$value", headers=token_for("alice", "Mail.Read"))
    assert raw.status_code == 200 and _longest_line(raw.content) <= 998


async def test_what_cannot_be_folded_is_refused_at_create(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    headers = token_for("alice", "Mail.ReadWrite")
    cases = [
        (
            {"internetMessageHeaders": [{"name": "x-" + "h" * 1500, "value": "v"}]},
            "InvalidInternetMessageHeader",
        ),
        (
            {"toRecipients": [{"emailAddress": {"address": "b" * 400 + "@example.net"}}]},
            "ErrorInvalidRecipients",
        ),
        ({"internetMessageId": "<" + "i" * 1000 + "@example.net>"}, "ErrorInvalidValueForProperty"),
    ]
    for body, code in cases:
        r = await api.post("/v1.0/me/messages", json=body, headers=headers)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == code, r.text
    # At the limits, the same properties are accepted.
    ok = {
        "internetMessageHeaders": [{"name": "x-" + "h" * 253, "value": "v"}],
        "toRecipients": [{"emailAddress": {"address": "b" * 64 + "@" + "d" * 251 + ".net"}}],
        "internetMessageId": "<" + "i" * 880 + "@example.net>",
    }
    r = await api.post("/v1.0/me/messages", json=ok, headers=headers)
    assert r.status_code == 201, r.text
    raw = await api.get(f"/v1.0/me/messages/{r.json()['id']}/$value", headers=headers)
    assert max(len(line) for line in raw.content.split(b"\r\n")) <= 998
