"""`/_mailgraph/tenants…`: ephemeral tenants (create, show, delete), reset and seed (docs/workbench.md).

GET    /_mailgraph/templates                       the named templates
GET    /_mailgraph/tenants                         every hosted tenant
POST   /_mailgraph/tenants                         {"template": "default"} or a full spec → 201
GET    /_mailgraph/tenants/{t}                     the tenant with its users and apps (no secrets)
PATCH  /_mailgraph/tenants/{t}                     {"spoofedInternalMail": "junk"|"inbox"|"reject"}
DELETE /_mailgraph/tenants/{t}                     all its data gone → 204
POST   /_mailgraph/tenants/{t}/reset               {"mailboxes": [...], "to": "empty"|"seed"}
POST   /_mailgraph/tenants/{t}/messages            seed: {"messages": [...]} or one MIME message
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any

import orjson

from mailgraph.api.control import (
    Control,
    ControlError,
    ControlRoute,
    iso_time,
    json_body,
    json_response,
    query,
)
from mailgraph.api.control.mail import message_summary
from mailgraph.api.http import Request, Response
from mailgraph.api.serialize.messages import parse_message
from mailgraph.auth.permissions import canonical_permission
from mailgraph.domain.directory import AppSpec, UserSpec
from mailgraph.domain.errors import ItemNotFoundError
from mailgraph.domain.mime_items import new_attachments
from mailgraph.domain.model import MessageChanges, Unset
from mailgraph.domain.workbench import TEMPLATES, Created, EphemeralSpec, SeedMessage
from mailgraph.mime.parse import parse as parse_mime


async def templates(req: Request, c: Control, args: dict[str, str]) -> Response:
    """The named templates and their users."""
    return json_response(
        {"value": [{"name": n, "users": [u for u, _ in users]} for n, users in TEMPLATES.items()]}
    )


async def list_tenants(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Every hosted tenant; `?ephemeral=true` only the workbench's."""
    only = query(req).get("ephemeral", "").lower() == "true"
    infos = [i for i in await c.workbench.tenants() if i.ephemeral or not only]
    return json_response(
        {
            "value": [
                {"id": i.tenant.id, "displayName": i.tenant.display_name, "domains": list(i.tenant.domains), "ephemeral": i.ephemeral}
                for i in infos
            ]
        }
    )  # fmt: skip


async def create(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Make an ephemeral tenant; 201 with its ids, domains, users, app credentials and token URL."""
    data = json_body(req, required=False)
    seed_raw = data.get("messages")
    spec = EphemeralSpec(
        template=_text(data, "template") or "default",
        name=_text(data, "displayName") or _text(data, "name"),
        domains=tuple(_strings(data, "domains")),
        users=None if "users" not in data else tuple(_user(u) for u in _objects(data, "users")),
        apps=None if "apps" not in data else tuple(_app(a) for a in _objects(data, "apps")),
        seed_text=None if seed_raw is None else orjson.dumps(seed_raw).decode(),
        tenant_id=_new_id(),
    )
    # The signing key row is written in the tenant's own unit (one commit per create), then installed.
    key, row = await c.keyring.shared(spec.tenant_id or "")
    created = await c.workbench.create(spec, row)
    c.keyring.adopt(created.tenant.id, key)
    if seed_raw is not None:
        try:
            items = await _seed_items(c, created.tenant.domains[0], seed_raw)
            created.seeded.extend(await c.workbench.seed(created.tenant.id, items))
        except BaseException:
            await _drop(c, created.tenant.id)  # no half-made tenant left behind
            raise
    return json_response(_created_json(req, created), 201)


async def show(req: Request, c: Control, args: dict[str, str]) -> Response:
    """The tenant, its users and apps (secrets are never shown again)."""
    tenant, users = await c.finder.mailboxes(args["tenant"])
    return json_response(
        {
            **_tenant_json(req, tenant.id, tenant.display_name, tenant.domains),
            "spoofedInternalMail": tenant.spoofed_mail,
            "users": [{"id": u.id, "userPrincipalName": u.user_principal_name, "mail": u.mail, "displayName": u.display_name} for u in users],
        }
    )  # fmt: skip


async def update(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Change a tenant's settings: `spoofedInternalMail` (domain/spoofing.py); 200 with the tenant."""
    data = json_body(req)
    unknown = sorted(set(data) - {"spoofedInternalMail"})
    if unknown or "spoofedInternalMail" not in data:
        raise ControlError(400, "BadRequest", "Only spoofedInternalMail can be changed.")
    tenant = await c.workbench.set_spoofed_mail(args["tenant"], _text(data, "spoofedInternalMail"))
    return json_response(
        {**_tenant_json(req, tenant.id, tenant.display_name, tenant.domains), "spoofedInternalMail": tenant.spoofed_mail}
    )  # fmt: skip


async def delete(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Remove the tenant with all its data; 204, or 404 when there is no such tenant."""
    if not await _drop(c, args["tenant"]):
        raise ItemNotFoundError()
    return Response(204)


async def reset(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Empty the tenant's mailboxes (or the listed ones); `"to": "seed"` writes its seed again."""
    data = json_body(req, required=False)
    tenant = args["tenant"]
    to = _text(data, "to") or "empty"
    if to not in ("empty", "seed"):
        raise ControlError(400, "BadRequest", 'to must be "empty" or "seed".')
    removed = await c.workbench.reset(tenant, tuple(_strings(data, "mailboxes")))
    seeded = []
    if to == "seed":
        text = await c.workbench.stored_seed(tenant)
        if text:
            domain = (await c.finder.mailboxes(tenant))[0].domains[0]
            seeded = await c.workbench.seed(tenant, await _seed_items(c, domain, orjson.loads(text)))
    return json_response(
        {"deletedMessages": removed.messages, "deletedOutbound": removed.outbound, "seeded": len(seeded)}
    )


async def seed(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Write messages straight into folders: `{"messages": [...]}`, or one `message/rfc822` body
    with `?mailbox=…&folder=…`. 201 with the new messages."""
    tenant_id = args["tenant"]
    tenant, _ = await c.finder.mailboxes(tenant_id)
    if req.content_type == "message/rfc822":
        params = query(req)
        raw: Any = [
            {
                "mailbox": params.get("mailbox", ""),
                "folder": params.get("folder") or "inbox",
                "mime": req.body,
            }
        ]
    else:
        raw = json_body(req).get("messages")
    items = await _seed_items(c, tenant.domains[0], raw)
    written = await c.workbench.seed(tenant_id, items)
    return json_response({"value": [message_summary(m) for m in written]}, 201)


async def _drop(c: Control, tenant_id: str) -> bool:
    removed = await c.workbench.delete(tenant_id)
    c.tokens.forget_tenant(tenant_id)
    return removed is not None


async def _seed_items(c: Control, domain: str, raw: object) -> list[SeedMessage]:
    """Seed messages from their JSON: `{"mailbox", "folder", "message": {Graph JSON} | "mime": text}`."""
    if not isinstance(raw, list):
        raise ControlError(400, "BadRequest", "messages must be a list.")
    items: list[SeedMessage] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ControlError(400, "BadRequest", "each seed message must be an object.")
        mailbox = _text(entry, "mailbox")
        if not mailbox:
            raise ControlError(400, "BadRequest", "each seed message needs a mailbox.")
        imid: str | None = _text(entry, "internetMessageId") or None
        received = iso_time(entry.get("receivedDateTime"), "receivedDateTime")
        mime = entry.get("mime")
        if mime is not None:
            parsed = parse_mime(_mime_bytes(mime))
            changes = replace(parsed.changes, attachments=new_attachments(parsed))
            imid = imid or parsed.internet_message_id
            received = received if received is not None else parsed.date
        else:
            message = entry.get("message", {})
            if not isinstance(message, dict):
                raise ControlError(400, "BadRequest", "message must be a Graph message object.")
            changes = parse_message(message, "v1.0")
        await c.attachments.stage(changes)
        is_read = entry.get("isRead", False if isinstance(changes.is_read, Unset) else changes.is_read)
        items.append(
            SeedMessage(
                mailbox=mailbox if "@" in mailbox else f"{mailbox}@{domain}",
                changes=replace(changes, is_read=MessageChanges().is_read),
                folder=_text(entry, "folder") or "inbox",
                received_at=received,
                sent_at=iso_time(entry.get("sentDateTime"), "sentDateTime"),
                is_read=bool(is_read),
                internet_message_id=imid,
            )
        )
    return items


def _mime_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        if value.lstrip().startswith(
            ("From", "Subject", "To", "Date", "Message-ID", "MIME", "Received", "Content")
        ):
            return value.encode()
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value.encode()
    raise ControlError(400, "BadRequest", "mime must be the message text (or its base64).")


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ControlError(400, "BadRequest", f"{name} must be a string.")
    return value


def _strings(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ControlError(400, "BadRequest", f"{name} must be a list of strings.")
    return value


def _objects(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ControlError(400, "BadRequest", f"{name} must be a list of objects.")
    return value


def _user(data: dict[str, Any]) -> UserSpec:
    upn = _text(data, "userPrincipalName")
    if not upn:
        raise ControlError(400, "BadRequest", "each user needs a userPrincipalName.")
    return UserSpec(
        upn,
        _text(data, "displayName") or upn.split("@")[0],
        _text(data, "password") or None,
        _text(data, "mail") or None,
    )


def _app(data: dict[str, Any]) -> AppSpec:
    perms: dict[str, tuple[str, ...]] = {}
    for name in ("applicationPermissions", "delegatedPermissions"):
        given = _strings(data, name)
        known = [canonical_permission(p) for p in given]
        if None in known:
            raise ControlError(400, "BadRequest", f"{name}: unknown permission {given[known.index(None)]!r}.")
        perms[name] = tuple(p for p in known if p is not None)
    return AppSpec(
        client_id=_text(data, "clientId") or _new_id(),
        display_name=_text(data, "displayName"),
        client_secret=_text(data, "clientSecret") or None,
        application_permissions=perms["applicationPermissions"],
        delegated_permissions=perms["delegatedPermissions"],
    )


def _new_id() -> str:
    from mailgraph.domain.ids import guid

    return guid().lower()


def _tenant_json(req: Request, tenant_id: str, name: str, domains: tuple[str, ...]) -> dict[str, Any]:
    base = req.base_url
    return {
        "id": tenant_id,
        "displayName": name,
        "domains": list(domains),
        "authority": f"{base}/{tenant_id}",
        "tokenUrl": f"{base}/{tenant_id}/oauth2/v2.0/token",
        "graphUrl": f"{base}/v1.0",
    }


def _created_json(req: Request, created: Created) -> dict[str, Any]:
    t = created.tenant
    return {
        **_tenant_json(req, t.id, t.display_name, t.domains),
        "ephemeral": True,
        "users": [
            {"id": u.id, "userPrincipalName": u.user_principal_name, "mail": u.mail, "displayName": u.display_name, "password": secret}
            for u, secret in created.users
        ],
        "apps": [
            {"clientId": a.client_id, "clientSecret": secret, "applicationPermissions": list(a.application_permissions), "delegatedPermissions": list(a.delegated_permissions)}
            for a, secret in created.apps
        ],
        "seeded": [message_summary(m) for m in created.seeded],
    }  # fmt: skip


ROUTES = [
    ControlRoute("GET", "templates", templates, "The named tenant templates"),
    ControlRoute("GET", "tenants", list_tenants, "List hosted tenants"),
    ControlRoute("POST", "tenants", create, "Create an ephemeral tenant"),
    ControlRoute("GET", "tenants/{tenant}", show, "A tenant with its users"),
    ControlRoute("PATCH", "tenants/{tenant}", update, "Change a tenant's settings (spoofedInternalMail)"),
    ControlRoute("DELETE", "tenants/{tenant}", delete, "Delete a tenant and all its data"),
    ControlRoute("POST", "tenants/{tenant}/reset", reset, "Empty (or re-seed) a tenant's mailboxes"),
    ControlRoute("POST", "tenants/{tenant}/messages", seed, "Seed messages into folders"),
]
