"""The web UI at `/ui/` (and `/` → `/ui/`): tenants → mailboxes → folders → messages, the outbound queue.

Server-rendered Jinja2 pages with one small script (static/app.js: live updates from the tenant's
event stream, api/control/events.py); no build step. Reads go through the same seams as the rest of
the server: lists through the workbench's tenant-wide queries (domain/waiting.py), a message, its
attachments and its `$value` through `GraphHandler.handle` with a read-only app actor of the tenant,
so the UI shows exactly what Graph would.

**Sign-in**: the admin token, posted once to `/ui/login`, becomes a session cookie
`mg_session = nonce.HMAC(token, nonce)` (HttpOnly, SameSite=Strict): stateless, so it works across
processes and dies with a new admin token. **CSRF**: every POST carries a form field equal to
`HMAC(token, "csrf:" + nonce)` (the login form a double-submit cookie), checked in constant time.

**Message bodies**: HTML is sanitised with nh3 (scripts, event handlers, `javascript:` URLs, forms
removed) and served on its own URL with `Content-Security-Policy: default-src 'none'` (no script can
run even if sanitising missed one) into an `<iframe sandbox>` without `allow-scripts`. Remote images
are blocked by default (their `src` is moved aside and the CSP allows only `data:`); `?images=1`
shows them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import nh3
import orjson
from jinja2 import Environment, PackageLoader, select_autoescape

from mailgraph.api.control import Control, ControlApi
from mailgraph.api.control.events import change_events, sse_response
from mailgraph.api.describe import PathOp
from mailgraph.api.handler import GraphHandler
from mailgraph.api.http import Request, Response
from mailgraph.api.mounts import Mount
from mailgraph.domain.inspection import MessageQuery
from mailgraph.domain.model import Actor

HTML = b"text/html; charset=utf-8"
_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
]
_PAGE_CSP = (
    b"content-security-policy",
    b"default-src 'self'; img-src 'self' data:; frame-src 'self'; style-src 'self'",
)
_BODY_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:{extra}; base-uri 'none'; form-action 'none'"
)
_READER = frozenset({"Mail.Read"})
_REMOTE_SRC = re.compile(r"""(<img\b[^>]*?)\ssrc=(["'])(https?:)?//""", re.IGNORECASE)


class WebUi:
    """Handles `/ui/…` and `/`."""

    def __init__(self, control: Control, graph: GraphHandler, token: str) -> None:
        self._c = control
        self._handler = graph
        self._key = token.encode()
        self._env = Environment(
            loader=PackageLoader("mailgraph.api.ui", "templates"), autoescape=select_autoescape()
        )
        self._env.filters["when"] = _when

    # -- sessions and CSRF ----------------------------------------------------------------------------

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:40]

    def _session(self, req: Request) -> str | None:
        """The session nonce of a valid cookie, else None."""
        nonce, _, mac = _cookies(req).get("mg_session", "").partition(".")
        return nonce if nonce and hmac.compare_digest(mac, self._mac(nonce)) else None

    def _csrf_ok(self, req: Request, nonce: str, form: dict[str, str]) -> bool:
        return hmac.compare_digest(form.get("csrf", ""), self._mac("csrf:" + nonce))

    # -- dispatch ---------------------------------------------------------------------------------------

    async def serve(self, req: Request, parts: Sequence[str]) -> Response | None:
        """A mount handler for `/` and `/ui/…`."""
        if not parts:
            return _redirect("/ui/")
        rest = list(parts[1:])
        if rest[:1] == ["static"] and len(rest) == 2:
            return _static(rest[1])
        if rest == ["login"]:
            return await self._login(req)
        nonce = self._session(req)
        if nonce is None:
            return (
                _redirect("/ui/login")
                if req.method == "GET"
                else Response(403, b"sign in first", b"text/plain")
            )
        form: dict[str, str] = {}
        if req.method == "POST":
            form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
            if not self._csrf_ok(req, nonce, form):
                return Response(403, b"CSRF check failed", b"text/plain")
        elif req.method != "GET":
            return Response(405, b"", None, [(b"allow", b"GET, POST")])
        ctx = {"csrf": self._mac("csrf:" + nonce)}
        return await self._page(req, rest, form, ctx)

    async def _page(
        self, req: Request, rest: list[str], form: dict[str, str], ctx: dict[str, Any]
    ) -> Response | None:
        match rest:
            case []:
                return self._render("tenants.html", ctx, tenants=await self._c.workbench.tenants())
            case ["logout"] if req.method == "POST":
                return _redirect(
                    "/ui/login",
                    [(b"set-cookie", b"mg_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")],
                )
            case ["tenants", t, "delete"] if req.method == "POST":
                await self._c.workbench.delete(t)
                self._c.tokens.forget_tenant(t)
                return _redirect("/ui/")
            case ["tenants", t]:
                tenant, users = await self._c.finder.mailboxes(t)
                return self._render("tenant.html", ctx, tenant=tenant, users=users)
            case ["tenants", t, "events"]:
                _, users = await self._c.finder.mailboxes(t)
                return sse_response(change_events(self._c.events, frozenset(u.id for u in users)))
            case ["tenants", t, "outbound"]:
                tenant, _ = await self._c.finder.mailboxes(t)
                return self._render(
                    "outbound.html",
                    ctx,
                    tenant=tenant,
                    outbound=await self._c.finder.outbound(t, MessageQuery(limit=200)),
                )
            case ["tenants", t, "outbound", oid, "mime"]:
                return await self._outbound_mime(t, oid)
            case ["tenants", t, "mailboxes", u]:
                return await self._mailbox(req, t, u, ctx, fragment=False)
            case ["tenants", t, "mailboxes", u, "list"]:
                return await self._mailbox(req, t, u, ctx, fragment=True)
            case ["tenants", t, "mailboxes", u, "messages", m]:
                return await self._message(t, u, m, ctx)
            case ["tenants", t, "mailboxes", u, "messages", m, "body"]:
                return await self._body(req, t, u, m)
            case ["tenants", t, "mailboxes", u, "messages", m, "source"]:
                return await self._source(t, u, m)
            case ["tenants", t, "mailboxes", u, "messages", m, "attachments", a]:
                return await self._attachment(t, u, m, a)
        return Response(404, b"no such page", b"text/plain")

    # -- pages ------------------------------------------------------------------------------------------

    async def _login(self, req: Request) -> Response:
        if req.method == "POST":
            form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
            pre = _cookies(req).get("mg_login", "")
            if not pre or not hmac.compare_digest(form.get("csrf", ""), pre):
                return Response(403, b"CSRF check failed", b"text/plain")
            if not hmac.compare_digest(form.get("token", "").strip().encode(), self._key):
                return self._render("login.html", {"csrf": pre, "failed": True}, status=401)
            nonce = secrets.token_urlsafe(18)
            cookie = f"mg_session={nonce}.{self._mac(nonce)}; Path=/; HttpOnly; SameSite=Strict"
            return _redirect("/ui/", [(b"set-cookie", cookie.encode())])
        pre = secrets.token_urlsafe(18)
        response = self._render("login.html", {"csrf": pre, "failed": False})
        response.headers.append(
            (b"set-cookie", f"mg_login={pre}; Path=/ui/login; HttpOnly; SameSite=Strict".encode())
        )
        return response

    async def _mailbox(
        self, req: Request, t: str, u: str, ctx: dict[str, Any], *, fragment: bool
    ) -> Response:
        tenant, users = await self._c.finder.mailboxes(t)
        user = next((x for x in users if x.id == u), None)
        if user is None:
            return Response(404, b"no such mailbox", b"text/plain")
        params = dict(parse_qsl(req.query))
        folder, q = params.get("folder") or "inbox", params.get("q", "").strip()
        _, folder_ids = await self._c.finder.scope(t, user.id, folder)
        query = MessageQuery(
            mailbox_ids=(user.id,),
            folder_ids=folder_ids,
            limit=200,
            sender=q if "@" in q else None,
            subject=q if q and "@" not in q else None,
        )
        messages = await self._c.finder.messages(t, query)
        args = dict(
            ctx,
            tenant=tenant,
            user=user,
            folder=folder,
            q=q,
            messages=messages,
            list_url=f"/ui/tenants/{t}/mailboxes/{u}/list?" + urlencode({"folder": folder, "q": q}),
        )
        if fragment:
            return self._render("messages_list.html", args)
        folders = await self._graph_json(t, f"/v1.0/users/{u}/mailFolders?$top=100")
        return self._render("mailbox.html", args, folders=folders.get("value", []))

    async def _message(self, t: str, u: str, m: str, ctx: dict[str, Any]) -> Response:
        tenant, _ = await self._c.finder.mailboxes(t)
        message = await self._graph_json(
            t,
            f"/v1.0/users/{u}/messages/{quote(m, safe='')}?$select=subject,from,sender,toRecipients,ccRecipients,bccRecipients,replyTo,receivedDateTime,sentDateTime,internetMessageId,internetMessageHeaders,body,hasAttachments,isRead,importance",
        )
        if "error" in message:
            return Response(404, b"no such message", b"text/plain")
        listed = await self._graph_json(
            t,
            f"/v1.0/users/{u}/messages/{quote(m, safe='')}/attachments",
        )
        base = f"/ui/tenants/{t}/mailboxes/{u}/messages/{quote(m, safe='')}"
        return self._render(
            "message.html",
            ctx,
            tenant=tenant,
            user_id=u,
            message=message,
            base=base,
            attachments=listed.get("value", []),
        )

    async def _body(self, req: Request, t: str, u: str, m: str) -> Response:
        message = await self._graph_json(t, f"/v1.0/users/{u}/messages/{quote(m, safe='')}?$select=body")
        body = message.get("body") or {}
        images = dict(parse_qsl(req.query)).get("images") == "1"
        if body.get("contentType") == "html":
            html = sanitise(str(body.get("content", "")), remote_images=images)
        else:
            html = (
                "<pre style='white-space:pre-wrap;font-family:sans-serif'>"
                + _escape(str(body.get("content", "")))
                + "</pre>"
            )
        csp = _BODY_CSP.format(extra=" https: http:" if images else "")
        headers = [*_SECURITY, (b"content-security-policy", csp.encode())]
        return Response(200, html.encode(), HTML, headers)

    async def _source(self, t: str, u: str, m: str) -> Response:
        answer = await self._graph(t, f"/v1.0/users/{u}/messages/{quote(m, safe='')}/$value")
        if answer.status != 200:
            return Response(404, b"no such message", b"text/plain")
        answer.content_type = b"text/plain; charset=utf-8"
        answer.headers.extend(_SECURITY)
        return answer

    async def _attachment(self, t: str, u: str, m: str, a: str) -> Response:
        path = f"/v1.0/users/{u}/messages/{quote(m, safe='')}/attachments/{quote(a, safe='')}"
        meta = await self._graph_json(t, path)
        answer = await self._graph(t, path + "/$value")
        if answer.status != 200:
            return Response(404, b"no such attachment", b"text/plain")
        name = str(meta.get("name") or "attachment").replace('"', "")
        # Always a download (never rendered in our origin), under its own name.
        answer.content_type = b"application/octet-stream"
        answer.headers.extend(
            [*_SECURITY, (b"content-disposition", f"attachment; filename*=UTF-8''{quote(name)}".encode())]
        )
        return answer

    async def _outbound_mime(self, t: str, oid: str) -> Response:
        owned = await self._c.finder.outbound(t, MessageQuery(limit=1000))
        mime = await self._c.queue.mime(oid) if any(o.outbound_id == oid for o in owned) else None
        if mime is None:
            return Response(404, b"no such message", b"text/plain")
        return Response(200, mime, b"text/plain; charset=utf-8", list(_SECURITY))

    # -- helpers ----------------------------------------------------------------------------------------

    async def _graph(self, tenant_id: str, path: str) -> Response:
        """A Graph GET on behalf of the tenant's read-only UI actor (below ASGI: api/handler.py)."""
        raw, _, query = path.partition("?")
        req = Request("GET", raw.encode(), query, {}, b"", "https", "mailgraph.ui")
        return await self._handler.handle(req, Actor("app", tenant_id, "mailgraph-ui", None, _READER))

    async def _graph_json(self, tenant_id: str, path: str) -> dict[str, Any]:
        answer = await self._graph(tenant_id, path)
        if answer.stream is not None:
            return {"error": "stream"}
        data = orjson.loads(answer.body) if answer.body else {}
        return data if isinstance(data, dict) else {}

    def _render(self, name: str, ctx: dict[str, Any], status: int = 200, **more: Any) -> Response:
        html = self._env.get_template(name).render(**ctx, **more)
        return Response(status, html.encode(), HTML, [*_SECURITY, _PAGE_CSP, (b"cache-control", b"no-store")])


def sanitise(html: str, *, remote_images: bool = False) -> str:
    """An HTML body safe to show: nh3's allow-list (no script, no event handler, no javascript: URL),
    links opened outside the frame, and remote images moved aside unless `remote_images`."""
    clean = nh3.clean(
        html, link_rel="noopener noreferrer nofollow", url_schemes={"http", "https", "mailto", "cid", "data"}
    )
    if not remote_images:
        clean = _REMOTE_SRC.sub(r"\1 data-blocked-src=\2\3//", clean)
    return clean


def _when(ts: int) -> str:
    """A Timestamp (µs) as `2024-05-01 10:00:00 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts // 1_000_000))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cookies(req: Request) -> dict[str, str]:
    jar: dict[str, str] = {}
    for piece in req.headers.get("cookie", "").split(";"):
        name, _, value = piece.strip().partition("=")
        if name:
            jar[name] = value
    return jar


def _redirect(to: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(303, b"", None, [(b"location", to.encode()), *(headers or [])])


_STATIC = {"app.js": b"text/javascript; charset=utf-8", "app.css": b"text/css; charset=utf-8"}


def _static(name: str) -> Response:
    kind = _STATIC.get(name)
    if kind is None:
        return Response(404, b"", b"text/plain")
    data = resources.files("mailgraph.api.ui").joinpath("static", name).read_bytes()
    return Response(200, data, kind, [(b"cache-control", b"max-age=300"), *_SECURITY])


def ui_mount(control: ControlApi, graph: GraphHandler, token: str) -> list[Mount]:
    """The mounts of `/ui/…` and of `/` (exactly: every other path keeps its owner)."""
    ui = WebUi(control.control, graph, token)
    root = [PathOp("GET", "/", "Redirect to the web UI", responses=(303,), produces="text/html")]
    return [
        Mount("ui", ("ui",), ui.serve, case_sensitive=True, describe=describe),
        Mount("ui-root", (), ui.serve, exact=True, describe=lambda: root),
    ]


# The pages of `WebUi._page` (HTML, session cookie; POSTs carry the CSRF form field), for `/openapi.json`.
_PAGES = [
    ("GET", "/ui/", "Tenants"),
    ("POST", "/ui/logout", "Sign out"),
    ("POST", "/ui/tenants/{tenant}/delete", "Delete a tenant"),
    ("GET", "/ui/tenants/{tenant}", "A tenant's mailboxes"),
    ("GET", "/ui/tenants/{tenant}/events", "Live updates (Server-Sent Events)"),
    ("GET", "/ui/tenants/{tenant}/outbound", "The outbound queue"),
    ("GET", "/ui/tenants/{tenant}/outbound/{outbound-id}/mime", "Captured MIME"),
    ("GET", "/ui/tenants/{tenant}/mailboxes/{user}", "A mailbox"),
    ("GET", "/ui/tenants/{tenant}/mailboxes/{user}/list", "A mailbox's message list (fragment)"),
    ("GET", "/ui/tenants/{tenant}/mailboxes/{user}/messages/{message-id}", "A message"),
    ("GET", "/ui/tenants/{tenant}/mailboxes/{user}/messages/{message-id}/body", "A sanitised body"),
    ("GET", "/ui/tenants/{tenant}/mailboxes/{user}/messages/{message-id}/source", "A message's MIME"),
    ("GET", "/ui/tenants/{tenant}/mailboxes/{user}/messages/{message-id}/attachments/{attachment-id}", "An attachment"),
]  # fmt: skip


def describe() -> list[PathOp]:
    """The UI's pages: sign-in and static files without a session, the rest with the session cookie."""
    ops = [
        PathOp("GET", "/ui/login", "Sign-in page", produces="text/html"),
        PathOp("POST", "/ui/login", "Sign in with the admin token", body={"type": "object"},
               body_type="application/x-www-form-urlencoded", responses=(303,), produces="text/html"),
        PathOp("GET", "/ui/static/{name}", "Static files (CSS, JS)", produces="*/*"),
    ]  # fmt: skip
    for method, path, summary in _PAGES:
        stream = "text/event-stream" if path.endswith("/events") else "text/html"
        ops.append(PathOp(method, path, summary, security="ui", produces=stream))
    return ops
