"""Two `mailgraph serve` processes on one SQLite data directory behave as one server (issue 10).

A sign-in started at one process is finished at the other, an authorization code is redeemed exactly
once when both are asked at the same moment, a device code approved at one is polled at the other,
and an upload session takes its chunks from both (one chunk raced at both: exactly one is accepted)
and its attachment reads back byte for byte from either.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

T = "/fabrikam.test/oauth2/v2.0"
REDIRECT = "http://localhost:8400/callback"
VERIFIER = "a-verifier-of-at-least-43-characters-0123456789abcdef"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
ALICE = {"username": "alice@fabrikam.test", "password": "alice-Passw0rd"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CHUNK = 320 * 1024  # Graph's chunk unit
SIZE = 3 * CHUNK + 1000


@pytest.fixture
def pair(template_dir: Path, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two server processes on one copy of the test tenant's data directory (one worker between them)."""
    data = tmp_path / "data"
    shutil.copytree(template_dir, data)
    a = start_server(data)
    try:
        b = start_server(data, "--no-worker")
        try:
            yield a, b
        finally:
            stop_server(b)
    finally:
        stop_server(a)


async def _code(client: httpx.AsyncClient, base: str) -> str:
    """Sign Alice in on `base`'s sign-in page (PKCE S256); the code from the redirect."""
    params = {
        "client_id": "public-app",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "https://graph.microsoft.com/Mail.ReadWrite offline_access",
        "state": "s1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    page = await client.get(f"{base}{T}/authorize", params=params)
    assert page.status_code == 200, page.text
    r = await client.post(f"{base}{T}/authorize", data=params | ALICE | {"consent": "accept"})
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


async def _redeem(client: httpx.AsyncClient, base: str, code: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": "public-app",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    return await client.post(f"{base}{T}/token", data=form)


async def test_authorization_code_started_on_one_process_redeemed_on_the_other(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as client:
        code = await _code(client, a.url)
        r = await _redeem(client, b.url, code)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        mail = await client.get(f"{a.url}/v1.0/me/messages", headers={"Authorization": f"Bearer {token}"})
        assert mail.status_code == 200, mail.text
        again = await _redeem(client, a.url, code)  # single use, whichever process is asked
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

        # The same code redeemed at both processes at once: exactly one wins.
        for _ in range(3):
            code = await _code(client, b.url)
            both = await asyncio.gather(_redeem(client, a.url, code), _redeem(client, b.url, code))
            assert sorted(r.status_code for r in both) == [200, 400], [r.text for r in both]


async def test_device_code_started_on_a_approved_on_b_polled_on_a(pair: tuple[Server, Server]) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as client:
        start = await client.post(
            f"{a.url}{T}/devicecode", data={"client_id": "public-app", "scope": "Mail.ReadWrite"}
        )
        assert start.status_code == 200, start.text
        device = start.json()
        poll = {"grant_type": DEVICE_GRANT, "client_id": "public-app", "device_code": device["device_code"]}
        pending = await client.post(f"{a.url}{T}/token", data=poll)
        assert pending.json()["error"] == "authorization_pending"
        form = {"user_code": device["user_code"], "consent": "accept"} | ALICE
        approved = await client.post(f"{b.url}/devicelogin", data=form)
        assert approved.status_code == 200 and "AADSTS" not in approved.text, approved.text
        r = await client.post(f"{a.url}{T}/token", data=poll)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        mail = await client.get(f"{b.url}/v1.0/me/messages", headers={"Authorization": f"Bearer {token}"})
        assert mail.status_code == 200
        replay = await client.post(f"{b.url}{T}/token", data=poll)  # redeemed once, at any process
        assert replay.status_code == 400


async def test_upload_session_across_two_processes(pair: tuple[Server, Server]) -> None:
    a, b = pair
    data = os.urandom(SIZE)
    async with httpx.AsyncClient(timeout=60) as client:
        token = (await _redeem(client, a.url, await _code(client, a.url))).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        draft = await client.post(f"{a.url}/v1.0/me/messages", headers=auth, json={"subject": "two"})
        assert draft.status_code == 201, draft.text
        message = f"/v1.0/me/messages/{quote(draft.json()['id'], safe='')}"
        item = {"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": SIZE}}
        created = await client.post(
            f"{a.url}{message}/attachments/createUploadSession", headers=auth, json=item
        )
        assert created.status_code == 201, created.text
        url_a = created.json()["uploadUrl"]
        assert url_a.startswith(a.url)
        url_b = b.url + url_a[len(a.url) :]

        def put(url: str, start: int, end: int) -> asyncio.Task[httpx.Response]:
            headers = {"Content-Range": f"bytes {start}-{end - 1}/{SIZE}"}
            return asyncio.ensure_future(client.put(url, content=data[start:end], headers=headers))

        r = await put(url_a, 0, CHUNK)
        assert r.status_code == 200 and r.json()["nextExpectedRanges"] == [f"{CHUNK}-{SIZE - 1}"], r.text
        # The second chunk at both processes at once: one is accepted, the other overlaps.
        raced = await asyncio.gather(put(url_a, CHUNK, 2 * CHUNK), put(url_b, CHUNK, 2 * CHUNK))
        assert sorted(r.status_code for r in raced) == [200, 416], [r.text for r in raced]
        r = await put(url_a, 2 * CHUNK, 3 * CHUNK)
        assert r.status_code == 200, r.text
        stale = await put(url_b, CHUNK, 2 * CHUNK)  # the offset moved at A: B knows it
        assert stale.status_code == 416 and stale.json()["error"]["code"] == "fragmentOverlap"
        r = await put(url_b, 3 * CHUNK, SIZE)
        assert r.status_code == 201, r.text
        attachment = r.headers["location"].rsplit("/attachments('", 1)[1].rstrip("')")

        for base in (a.url, b.url):
            value = await client.get(
                f"{base}{message}/attachments/{quote(attachment, safe='')}/$value", headers=auth
            )
            assert value.status_code == 200 and value.content == data
        assert not list((a.data_dir / "uploads").rglob("*.part"))  # the parts went into the blob
