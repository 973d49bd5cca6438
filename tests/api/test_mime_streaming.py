"""`GET …/messages/{id}/$value` of items with large attachments: streamed, byte-identical, bounded memory.

Issue 4: a large attachment never sits whole in memory. The streamed MIME must equal what `compose`
writes in memory for the same item (the in-memory path is forced by raising the thresholds).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import random
import tracemalloc
from collections.abc import MutableMapping
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.domain import mime_items
from mailgraph.domain.model import ItemBody
from mailgraph.mime.compose import MimeAttachment, compose
from mailgraph.mime.stream import StreamedFile, compose_streamed, encoded_length
from mailgraph.store.blobs import BlobStore
from mailgraph.wiring import Runtime
from tests.api.helpers import create_draft, q
from tests.conftest import TokenFor
from tests.unit.test_mime import item

MiB = 1024 * 1024
STEP = 4 * MiB


async def upload(api: AsyncClient, headers: dict[str, str], url: str, size: int, **item: Any) -> str:
    """An attachment of `size` random bytes through an upload session; returns the bytes' sha256."""
    spec = {"attachmentType": "file", "name": "big.bin", "size": size, **item}
    r = await api.post(
        f"{url}/attachments/createUploadSession", json={"AttachmentItem": spec}, headers=headers
    )
    assert r.status_code == 201, r.text
    session = r.json()["uploadUrl"]
    digest = hashlib.sha256()
    for start in range(0, size, STEP):
        chunk = os.urandom(min(STEP, size - start))
        digest.update(chunk)
        ranged = {"Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{size}"}
        r = await api.put(session, content=chunk, headers=ranged)
    assert r.status_code == 201, r.text
    return digest.hexdigest()


async def test_streamed_value_equals_in_memory_compose(
    api: AsyncClient, token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 MiB + a 1.5 MiB inline file, a small file and an HTML body: streamed bytes == compose's bytes."""
    alice = token_for("alice", "Mail.ReadWrite")
    html = {"contentType": "HTML", "content": '<p>Hi <img src="cid:pic"></p>'}
    draft = await create_draft(api, alice, body=html)
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    big = await upload(api, alice, url, 5 * MiB + 7)
    pic = await upload(api, alice, url, MiB + MiB // 2 + 1, name="pic.png", isInline=True, contentId="pic")
    small = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGk="}
    assert (await api.post(f"{url}/attachments", json=small, headers=alice)).status_code == 201

    calls: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return compose_streamed(*args, **kwargs)

    monkeypatch.setattr(mime_items, "compose_streamed", spy)
    random.seed(4)  # the stdlib draws MIME boundaries from `random`: the same seed, the same boundaries
    streamed = await api.get(f"{url}/$value", headers=alice)
    assert streamed.status_code == 200
    assert int(streamed.headers["content-length"]) == len(streamed.content)
    assert "chunked" not in streamed.headers.get("transfer-encoding", "")
    assert calls == [1]  # the streamed path answered
    monkeypatch.setattr(mime_items, "_STREAM_FILE", 1 << 62)
    monkeypatch.setattr(mime_items, "_STREAM_TOTAL", 1 << 62)
    random.seed(4)
    in_memory = await api.get(f"{url}/$value", headers=alice)
    assert in_memory.status_code == 200
    assert streamed.content == in_memory.content

    mail = message_from_bytes(streamed.content, policy=policy.default)
    files: dict[Any, Any] = {
        p.get_filename(): p.get_payload(decode=True) for p in mail.walk() if p.get_filename()
    }
    assert hashlib.sha256(files["big.bin"]).hexdigest() == big
    assert hashlib.sha256(files["pic.png"]).hexdigest() == pic
    assert files["a.txt"] == b"hi"


@pytest.mark.parametrize("size", [1, 2, 3, 56, 57, 58, 113, 114, 115, 57 * 2048 + 1])
async def test_compose_streamed_matches_compose_at_line_edges(tmp_path: Path, size: int) -> None:
    """Every remainder of the 57-byte base64 line, and a file longer than one read: same bytes."""
    data = os.urandom(size)
    blobs = BlobStore(tmp_path)
    source = functools.partial(blobs.stream, await blobs.put(data))
    message = item(body=ItemBody("html", '<p>Hi <img src="cid:i"></p>'))
    part = MimeAttachment("f.bin", "application/pdf", data)
    inline = MimeAttachment("i.png", "image/png", data, is_inline=True, content_id="i")
    random.seed(size)  # MIME boundaries come from `random`
    expected = compose(message, [part, inline])
    random.seed(size)
    streamed = compose_streamed(
        message, [StreamedFile(part, source, size), StreamedFile(inline, source, size)]
    )
    got = b"".join([piece async for piece in streamed.pieces()])
    assert got == expected
    assert streamed.length == len(expected)
    assert encoded_length(size) == len(base64.encodebytes(data).replace(b"\n", b"\r\n"))


async def test_value_memory_stays_bounded(api: AsyncClient, token_for: TokenFor, runtime: Runtime) -> None:
    """`$value` of a 40 MiB attachment through the ASGI app: the traced peak stays under 16 MiB."""
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    url = f"/v1.0/me/messages/{q(draft['id'])}"
    size = 40 * MiB
    await upload(api, alice, url, size)
    path = f"{url}/$value"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"graph.test"), *((k.lower().encode(), v.encode()) for k, v in alice.items())],
        "client": ("127.0.0.1", 1),
        "server": ("graph.test", 443),
    }
    seen: dict[str, Any] = {"bytes": 0, "pieces": 0, "largest": 0}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(event: MutableMapping[str, Any]) -> None:
        if event["type"] == "http.response.start":
            seen["status"] = event["status"]
            seen["headers"] = dict(event["headers"])
        else:
            body = event.get("body", b"")
            seen["bytes"] += len(body)
            seen["pieces"] += 1
            seen["largest"] = max(seen["largest"], len(body))

    tracemalloc.start()
    try:
        await runtime.app(scope, receive, send)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen["status"] == 200
    assert int(seen["headers"][b"content-length"]) == seen["bytes"] > encoded_length(size)
    assert seen["pieces"] > 100 and seen["largest"] < MiB
    assert peak < 16 * MiB, f"peak traced allocation {peak / MiB:.1f} MiB"
