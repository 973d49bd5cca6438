"""What each mount serves, as data: the operations `/openapi.json` is generated from (issue 14).

A `PathOp` is one method on one OpenAPI path template. Every mount of api/mounts.py carries a
`describe()` that returns its operations: the Graph mount derives them from THE route table
(api/routes.py: every `Route` × method × version × mailbox root), the control namespace from its
`ControlRoute`s (api/control), and the mounts whose dispatch is hand-written (identity, ops, UI, admin,
upload, token) declare them beside the dispatch. A route added to any of those tables appears without
edits here; tests/api/test_openapi.py fails when a mount describes nothing or a described path is not
served.

Request bodies: `BODIES` maps a Graph handler to a light JSON schema of what it reads (the shapes of
the Graph docs' request-body sections); a handler not listed gets a free-form JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailgraph.api.router import KEY, VERSIONS, Handler, Route
from mailgraph.auth.permissions import Operation, granting

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PathOp:
    """One operation: `method` on `path` (an OpenAPI template, `{name}` for a path parameter)."""

    method: str
    path: str
    summary: str
    security: str | None = None
    """"graph" (a Graph bearer token), "admin" (the admin token), "ui" (the UI session cookie) or None."""
    operation: Operation | None = None
    """For Graph routes: the operation the token's permissions must allow (auth/permissions.py)."""
    query: tuple[str, ...] = ()
    body: Schema | None = None
    body_type: str = "application/json"
    responses: tuple[int, ...] = (200,)
    produces: str = "application/json"
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Further fields of the OpenAPI operation object (`x-…` extensions)."""


Describe = Callable[[], Sequence[PathOp]]

# Graph's spelling of the segment names the router compares lower-cased (client-wire fact 4).
_CASED = {
    n.lower(): n
    for n in (
        "mailFolders", "childFolders", "sendMail", "createReply", "createReplyAll", "createForward",
        "replyAll", "createUploadSession", "messageRules", "masterCategories", "inferenceClassification",
        "mailboxSettings", "automaticRepliesSetting", "permanentDelete", "overrides", "outlook",
        "translateExchangeIds", "$count", "$metadata",
    )
}  # fmt: skip
# OData query options per kind of GET (spec §1): collections page, filter, sort and search; items select.
COLLECTION_QUERY = ("$top", "$skip", "$filter", "$orderby", "$select", "$count", "$search", "$expand")
ITEM_QUERY = ("$select", "$expand")
DELTA_QUERY = ("$select", "$top", "$filter", "$deltatoken", "$skiptoken", "changeType")

_RECIPIENT: Schema = {
    "type": "object",
    "properties": {
        "emailAddress": {
            "type": "object",
            "properties": {"address": {"type": "string"}, "name": {"type": "string"}},
        }
    },
}
_RECIPIENTS: Schema = {"type": "array", "items": _RECIPIENT}
MESSAGE: Schema = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "body": {
            "type": "object",
            "properties": {"contentType": {"enum": ["text", "html"]}, "content": {"type": "string"}},
        },
        "toRecipients": _RECIPIENTS,
        "ccRecipients": _RECIPIENTS,
        "bccRecipients": _RECIPIENTS,
        "replyTo": _RECIPIENTS,
        "from": _RECIPIENT,
        "importance": {"enum": ["low", "normal", "high"]},
        "isRead": {"type": "boolean"},
        "categories": {"type": "array", "items": {"type": "string"}},
        "internetMessageHeaders": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
}
ATTACHMENT: Schema = {
    "type": "object",
    "properties": {
        "@odata.type": {"enum": ["#microsoft.graph.fileAttachment", "#microsoft.graph.itemAttachment"]},
        "name": {"type": "string"},
        "contentType": {"type": "string"},
        "contentBytes": {"type": "string"},
        "isInline": {"type": "boolean"},
        "contentId": {"type": "string"},
    },
}


def body_schemas() -> dict[Handler, Schema]:
    """The request body of each Graph handler that reads one (imported late: resources import the router)."""
    from mailgraph.api import batch
    from mailgraph.api.resources import attachments, messages, moves, replies, send_mail, subscriptions
    from mailgraph.api.resources import upload_sessions as uploads

    comment: Schema = {"type": "object", "properties": {"comment": {"type": "string"}, "message": MESSAGE}}
    comment["properties"]["toRecipients"] = _RECIPIENTS
    destination: Schema = {"type": "object", "properties": {"destinationId": {"type": "string"}}}
    bodies: dict[Handler, Schema] = {
        messages.create_message: MESSAGE,
        messages.update_message: MESSAGE,
        send_mail.send_mail: {
            "type": "object",
            "properties": {"message": MESSAGE, "saveToSentItems": {"type": "boolean"}},
        },
        attachments.add_attachment: ATTACHMENT,
        uploads.create_upload_session: {
            "type": "object",
            "properties": {
                "AttachmentItem": {
                    "type": "object",
                    "properties": {
                        "attachmentType": {"enum": ["file"]},
                        "name": {"type": "string"},
                        "size": {"type": "integer"},
                        "contentType": {"type": "string"},
                    },
                }
            },
        },
        moves.move: destination,
        moves.copy: destination,
        subscriptions.create: {
            "type": "object",
            "properties": {
                "changeType": {"type": "string"},
                "notificationUrl": {"type": "string"},
                "resource": {"type": "string"},
                "expirationDateTime": {"type": "string"},
                "clientState": {"type": "string"},
                "includeResourceData": {"type": "boolean"},
            },
        },
        subscriptions.update: {"type": "object", "properties": {"expirationDateTime": {"type": "string"}}},
        batch.run_batch: {
            "type": "object",
            "properties": {
                "requests": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "method": {"enum": ["GET", "POST", "PATCH", "DELETE", "PUT"]},
                            "url": {"type": "string"},
                            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                            "body": {},
                            "dependsOn": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                }
            },
        },
    }
    for handler in (replies.reply, replies.reply_all, replies.forward):
        bodies[handler] = comment
    for handler in (replies.create_reply, replies.create_reply_all, replies.create_forward):
        bodies[handler] = comment
    return bodies


def _name(segment: str) -> str:
    return _CASED.get(segment, segment)


def parameter_name(collection: str) -> str:
    """`mailFolders` → `mailFolder-id` (the Graph docs' naming of a key below a collection)."""
    name = _name(collection)
    if name.endswith("ies"):
        name = name[:-3] + "y"
    elif name.endswith("s"):
        name = name[:-1]
    return f"{name}-id"


def graph_template(pattern: Sequence[str]) -> str:
    """A route pattern as an OpenAPI path below its root: keys after a collection become parameters,
    a key after a function name is the function call's empty parentheses (`delta()`)."""
    out: list[str] = []
    for i, seg in enumerate(pattern):
        if seg != KEY:
            out.append(_name(seg))
        elif i and pattern[i - 1] == "delta":
            out[-1] += "()"
        else:
            out.append("{" + parameter_name(pattern[i - 1]) + "}")
    return "/".join(out)


def _query(route: Route, method: str) -> tuple[str, ...]:
    if method != "GET" or route.pattern[-1] == "$value":
        return ()
    if "delta" in route.pattern:
        return DELTA_QUERY
    return ITEM_QUERY if route.pattern[-1] == KEY else COLLECTION_QUERY


def _responses(method: str, operation: Operation, route: Route) -> tuple[int, ...]:
    if method == "DELETE":
        return (204,)
    if method == "POST" and operation == "send":
        return (202,)
    if method == "POST":
        return (200, 201)
    return (200,)


def permissions_extension(operation: Operation) -> dict[str, list[str]]:
    """The permissions that allow `operation`, as Graph's docs list them per kind of caller."""
    return {
        "delegated": sorted(granting("user", operation)),
        "delegatedOtherMailbox": sorted(granting("user", operation, other_mailbox=True)),
        "application": sorted(granting("app", operation)),
    }


def graph_ops(routes: Sequence[Route]) -> list[PathOp]:
    """Every Graph route × method × version, mailbox routes below both `/me` and `/users/{user-id}`."""
    bodies = body_schemas()
    ops: list[PathOp] = []
    for route in routes:
        below = graph_template(route.pattern)
        roots = [""] if route.root else ["/me", "/users/{user-id}"]
        for method, (handler, operation) in route.methods.items():
            doc = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            wants_body = method in ("POST", "PATCH", "PUT")
            for version in VERSIONS:
                for root in roots:
                    ops.append(
                        PathOp(
                            method,
                            f"/{version}{root}/{below}",
                            doc,
                            security="graph",
                            operation=operation,
                            query=_query(route, method),
                            body=bodies.get(handler, {"type": "object"}) if wants_body else None,
                            responses=_responses(method, operation, route),
                            produces="application/octet-stream"
                            if route.pattern[-1] == "$value"
                            else "application/json",
                            extra={
                                "x-mailgraph-operation": operation,
                                "x-mailgraph-permissions": permissions_extension(operation),
                            },
                        )
                    )
    return ops
