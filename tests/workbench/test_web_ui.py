"""The web UI in a real headless browser: Playwright for Python driving Debian's chromium.

A real `mailgraph serve` process (the UI needs HTTP); one browser per module. Screenshots of every
page go to `MAILGRAPH_UI_SHOTS` when set (docs/ui.png was made that way).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]
TOKEN = "ui-test-admin-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("ui") / "data", "--admin-token", TOKEN)
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def _control(server: Server, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, server.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30, **kw
    )


def _tenant(server: Server) -> dict[str, Any]:
    r = _control(server, "POST", "/_mailgraph/tenants", json={"displayName": "UI test"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _send(server: Server, tenant: dict[str, Any], message: dict[str, Any]) -> None:
    app = tenant["apps"][0]
    form = {"grant_type": "client_credentials", "client_id": app["clientId"], "client_secret": app["clientSecret"],
            "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
    token = httpx.post(tenant["tokenUrl"], data=form, timeout=30).json()["access_token"]
    alice = tenant["users"][0]["userPrincipalName"]
    r = httpx.post(f"{server.url}/v1.0/users/{alice}/sendMail", json={"message": message},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text


def _shot(page: Any, name: str) -> None:
    target = os.environ.get("MAILGRAPH_UI_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def _signed_in(browser: Any, server: Server) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(server.url + "/")
    assert page.url.endswith("/ui/login")
    _shot(page, "login")
    page.fill("input[name=token]", "wrong")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "That is not the admin token."
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")
    return page


def test_live_mailbox_message_view_and_attachment_download(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    tenant = _tenant(server)
    bob = tenant["users"][1]
    page = _signed_in(browser, server)
    page.get_by_role("link", name="UI test").click()
    _shot(page, "tenant")
    page.get_by_role("link", name=bob["displayName"]).click()
    page.wait_for_selector("body[data-live='1']")  # the event stream is open
    assert "No messages." in page.inner_text("#messages")
    _send(server, tenant, {
        "subject": "Arrives live",
        "body": {"contentType": "html", "content": "<p>Hello <b>Bob</b></p>"},
        "toRecipients": [{"emailAddress": {"address": bob["mail"]}}, {"emailAddress": {"address": "far@example.net"}}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "notes.txt",
                         "contentType": "text/plain", "contentBytes": base64.b64encode(b"attached bytes").decode()}],
    })  # fmt: skip
    page.get_by_role("link", name="Arrives live").wait_for(timeout=10_000)  # no reload: the event stream
    _shot(page, "mailbox")
    page.get_by_role("link", name="Arrives live").click()
    assert page.frame_locator("iframe.body").locator("b").inner_text() == "Bob"
    _shot(page, "message")
    with page.expect_download() as download:
        page.get_by_role("link", name="notes.txt").click()
    saved = tmp_path / "notes.txt"
    download.value.save_as(saved)
    assert saved.read_bytes() == b"attached bytes" and download.value.suggested_filename == "notes.txt"
    page.goto(f"{server.url}/ui/tenants/{tenant['id']}/outbound")
    assert "far@example.net" in page.inner_text("table")  # captured (no relay configured), or on its way
    _shot(page, "outbound")
    page.goto(f"{server.url}/ui/")
    _shot(page, "tenants")
    page.close()


def test_hostile_html_executes_nothing(browser: Any, server: Server) -> None:
    tenant = _tenant(server)
    bob = tenant["users"][1]
    hostile = (
        '<p id="x">Hi</p><script>window.parent.pwned = 1; alert("script")</script>'
        '<img src="x.png" onerror="window.parent.pwned = 2; alert(\'onerror\')">'
        '<a href="javascript:alert(3)">link</a><img src="https://tracker.example/pixel.gif">'
    )
    _send(server, tenant, {"subject": "Hostile", "body": {"contentType": "html", "content": hostile},
                           "toRecipients": [{"emailAddress": {"address": bob["mail"]}}]})  # fmt: skip
    page = _signed_in(browser, server)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{server.url}/ui/tenants/{tenant['id']}/mailboxes/{bob['id']}")
    page.get_by_role("link", name="Hostile").click()
    body = page.frame_locator("iframe.body")
    assert body.locator("p").first.inner_text() == "Hi"
    page.wait_for_timeout(300)
    assert body.locator("script").count() == 0
    assert body.locator("img[onerror]").count() == 0
    assert body.locator("a[href^='javascript']").count() == 0
    assert dialogs == [] and page.evaluate("window.pwned") is None
    assert not any("tracker.example" in url for url in requested)  # remote images blocked by default
    src = page.locator("iframe.body").get_attribute("src") or ""
    assert page.locator("iframe.body").get_attribute("sandbox") == ""  # no allow-scripts
    served = page.request.get(server.url + src)
    assert served.headers["content-security-policy"].startswith("default-src 'none'")
    assert "data-blocked-src" in served.text() and "<script" not in served.text()
    assert httpx.get(server.url + src).status_code == 303  # without the session: to the sign-in page
    page.close()


def test_ui_needs_a_session_and_posts_need_the_csrf_token(server: Server) -> None:
    tenant = _tenant(server)
    anonymous = httpx.get(f"{server.url}/ui/tenants/{tenant['id']}")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/ui/login"
    with httpx.Client(base_url=server.url) as client:
        login = client.get("/ui/login")
        pre = login.cookies["mg_login"]
        r = client.post("/ui/login", data={"token": TOKEN, "csrf": "forged"})
        assert r.status_code == 403
        r = client.post("/ui/login", data={"token": TOKEN, "csrf": pre})
        assert r.status_code == 303 and "mg_session" in r.cookies
        forged = client.post(f"/ui/tenants/{tenant['id']}/delete", data={"csrf": "nope"})
        assert forged.status_code == 403
        assert _control(server, "GET", f"/_mailgraph/tenants/{tenant['id']}").status_code == 200
