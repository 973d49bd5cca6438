"""`/_mailgraph/tenants/{t}/…` mail: find and wait for messages, outbound mail, and what a send did.

GET /messages?mailbox&folder&subject&from&to&internetMessageId&since&limit   matching messages now
GET /messages/wait?…&timeout=10        the same, as soon as one matches; 408 after `timeout` s
GET /outbound?subject&to&from&internetMessageId&since&limit   mail that left over SMTP (or was captured)
GET /outbound/wait?…&timeout=10        the same, as soon as one matches; 408 after `timeout` s
GET /outbound/{id}/mime                the message as relayed or captured (message/rfc822)
GET /sends/{key}                       a send by draft id, Sent Items id or internetMessageId
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.control import (
    Control,
    ControlError,
    ControlRoute,
    error,
    iso_time,
    json_response,
    number,
    query,
)
from mailgraph.api.http import Request, Response
from mailgraph.api.serialize.values import recipient, recipients, timestamp
from mailgraph.domain.errors import ItemNotFoundError
from mailgraph.domain.inspection import MessageQuery, Outbound
from mailgraph.domain.model import Message, QueueEntry

MAX_WAIT_S = 300.0


def message_summary(m: Message) -> dict[str, Any]:
    """A message as the control API shows it: Graph's names, plus where it is."""
    return {
        "id": m.rest_id,
        "immutableId": m.id,
        "mailboxId": m.mailbox_id,
        "parentFolderId": m.folder_id,
        "internetMessageId": m.internet_message_id,
        "conversationId": m.conversation_id,
        "subject": m.subject,
        "from": recipient(m.from_),
        "sender": recipient(m.sender),
        "toRecipients": recipients(m.to),
        "ccRecipients": recipients(m.cc),
        "bccRecipients": recipients(m.bcc),
        "receivedDateTime": timestamp(m.received_at),
        "sentDateTime": timestamp(m.sent_at),
        "isRead": m.is_read,
        "hasAttachments": m.has_attachments,
        "bodyPreview": m.body_preview,
        "body": {"contentType": m.body.content_type, "content": m.body.content},
    }


def entry_summary(e: QueueEntry) -> dict[str, Any]:
    """One outbound recipient: status, attempts and the last SMTP reply."""
    return {
        "id": e.id,
        "recipient": e.recipient,
        "status": e.status,
        "attempts": e.attempts,
        "lastReply": None
        if e.last_reply_code is None and not e.last_reply_text
        else {"code": e.last_reply_code, "text": e.last_reply_text},
    }


def outbound_summary(o: Outbound) -> dict[str, Any]:
    """One outbound message with its recipients."""
    m = o.message
    return {
        "id": o.outbound_id,
        "internetMessageId": m.internet_message_id,
        "subject": m.subject,
        "from": recipient(m.from_ or m.sender),
        "createdDateTime": timestamp(o.created_at),
        "recipients": [entry_summary(e) for e in o.entries],
    }


async def _query(req: Request, c: Control, tenant: str) -> MessageQuery:
    params = query(req)
    mailbox_ids, folder_ids = await c.finder.scope(
        tenant, params.get("mailbox") or None, params.get("folder") or None
    )
    since = params.get("since") or None
    return MessageQuery(
        mailbox_ids=mailbox_ids,
        folder_ids=folder_ids,
        subject=params.get("subject") or None,
        sender=params.get("from") or None,
        recipient=params.get("to") or None,
        internet_message_id=params.get("internetMessageId") or None,
        received_after=iso_time(since, "since"),
        limit=int(number(params, "limit", 50, 1, 1000)),
    )


async def messages(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Matching messages now."""
    found = await c.finder.messages(args["tenant"], await _query(req, c, args["tenant"]))
    return json_response({"value": [message_summary(m) for m in found]})


async def wait_messages(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Matching messages as soon as one exists (woken by the commit); 408 after `timeout` seconds."""
    timeout = number(query(req), "timeout", 10.0, 0.0, MAX_WAIT_S)
    found = await c.finder.wait_messages(args["tenant"], await _query(req, c, args["tenant"]), timeout)
    if not found:
        return error(req, 408, "RequestTimeout", f"No matching message arrived within {timeout:g} s.")
    return json_response({"value": [message_summary(m) for m in found]})


async def outbound(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Matching outbound messages now."""
    found = await c.finder.outbound(args["tenant"], await _query(req, c, args["tenant"]))
    return json_response({"value": [outbound_summary(o) for o in found]})


async def wait_outbound(req: Request, c: Control, args: dict[str, str]) -> Response:
    """Matching outbound messages as soon as one exists; 408 after `timeout` seconds."""
    timeout = number(query(req), "timeout", 10.0, 0.0, MAX_WAIT_S)
    found = await c.finder.wait_outbound(args["tenant"], await _query(req, c, args["tenant"]), timeout)
    if not found:
        return error(req, 408, "RequestTimeout", f"No matching outbound message within {timeout:g} s.")
    return json_response({"value": [outbound_summary(o) for o in found]})


async def outbound_mime(req: Request, c: Control, args: dict[str, str]) -> Response:
    """The MIME of one of the tenant's outbound messages, as relayed or captured."""
    owned = await c.finder.outbound(args["tenant"], MessageQuery(limit=1000))
    if not any(o.outbound_id == args["id"] for o in owned):  # never another tenant's mail
        raise ItemNotFoundError()
    mime = await c.queue.mime(args["id"])
    if mime is None:
        raise ItemNotFoundError()
    return Response(200, mime, b"message/rfc822")


async def send_report(req: Request, c: Control, args: dict[str, str]) -> Response:
    """What became of a send: Sent Items copy, local deliveries, outbound recipients, reports."""
    report = await c.finder.inspect(args["tenant"], args["key"])
    if report.sent is None and not report.deliveries and not report.outbound:
        raise ControlError(404, "ErrorItemNotFound", "No such send.")
    return json_response(
        {
            "sentItem": None if report.sent is None else message_summary(report.sent),
            "deliveries": [message_summary(m) for m in report.deliveries],
            "outbound": [outbound_summary(o) for o in report.outbound],
            "reports": [message_summary(m) for m in report.reports],
        }
    )


ROUTES = [
    ControlRoute("GET", "tenants/{tenant}/messages", messages, "Messages matching a filter"),
    ControlRoute("GET", "tenants/{tenant}/messages/wait", wait_messages, "Wait for a matching message"),
    ControlRoute("GET", "tenants/{tenant}/outbound", outbound, "Outbound (relayed or captured) mail"),
    ControlRoute("GET", "tenants/{tenant}/outbound/wait", wait_outbound, "Wait for matching outbound mail"),
    ControlRoute(
        "GET",
        "tenants/{tenant}/outbound/{id}/mime",
        outbound_mime,
        "Outbound MIME",
        produces="message/rfc822",
    ),
    ControlRoute("GET", "tenants/{tenant}/sends/{key}", send_report, "What became of a send"),
]
