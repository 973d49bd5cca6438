"""Graph `message` JSON: the default property set of spec §3.1 (per version), and request bodies → `MessageChanges`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from mailgraph.api.errors import GraphError
from mailgraph.api.router import quote_key
from mailgraph.api.serialize.values import (
    address_list,
    bad_value,
    boolean,
    email_address,
    recipient,
    recipients,
    string,
    timestamp,
    unknown_property,
)
from mailgraph.domain import extended
from mailgraph.domain.extended import StoredProperty
from mailgraph.domain.model import (
    DateTimeTimeZone,
    FlagStatus,
    FollowupFlag,
    Importance,
    Inference,
    InternetMessageHeader,
    ItemBody,
    Message,
    MessageChanges,
    Unset,
)
from mailgraph.mime.compose import transport_headers

_BODY_HIDDEN = frozenset({"body", "bodyPreview", "uniqueBody"})


def _flag(flag: FollowupFlag) -> dict[str, Any]:
    out: dict[str, Any] = {"flagStatus": flag.flag_status}
    for key, value in (
        ("startDateTime", flag.start),
        ("dueDateTime", flag.due),
        ("completedDateTime", flag.completed),
    ):
        if value is not None:
            out[key] = {"dateTime": value.date_time, "timeZone": value.time_zone}
    return out


def properties(m: Message, base_url: str, version: str) -> dict[str, Any]:
    """Every property a GET returns by default, in Graph's order, plus the $select-only ones last."""
    body = {"contentType": m.body.content_type, "content": m.body.content}
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{m.change_key}"',
        "id": m.rest_id,
        "createdDateTime": timestamp(m.created_at),
        "lastModifiedDateTime": timestamp(m.modified_at),
        "changeKey": m.change_key,
        "categories": m.categories,
        "receivedDateTime": timestamp(m.received_at),
        "sentDateTime": timestamp(m.sent_at),
        "hasAttachments": m.has_attachments,
        "internetMessageId": m.internet_message_id,
        "subject": m.subject,
        "bodyPreview": m.body_preview,
        "importance": m.importance,
        "parentFolderId": m.folder_id,
        "conversationId": m.conversation_id,
        "conversationIndex": m.conversation_index,
        "isDeliveryReceiptRequested": m.is_delivery_receipt_requested,
        "isReadReceiptRequested": m.is_read_receipt_requested,
        "isRead": m.is_read,
        "isDraft": m.is_draft,
        "webLink": f"{base_url}/owa/?ItemID={quote_key(m.rest_id)}&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": m.inference_classification,
        "body": body,
        "sender": recipient(m.sender),
        "from": recipient(m.from_),
        "toRecipients": recipients(m.to),
        "ccRecipients": recipients(m.cc),
        "bccRecipients": recipients(m.bcc),
        "replyTo": recipients(m.reply_to),
        "flag": _flag(m.flag),
    }
    if version == "beta":
        # spec §7: beta adds these to the default set.
        out["mentionsPreview"] = None
        out["unsubscribeData"] = []
        out["unsubscribeEnabled"] = False
    return out


SELECT_ONLY = ("uniqueBody", "internetMessageHeaders")


def _item_body(m: Message) -> dict[str, Any]:
    return {"contentType": m.body.content_type, "content": m.body.content}


def _web_link(m: Message, base_url: str) -> str:
    return f"{base_url}/owa/?ItemID={quote_key(m.rest_id)}&exvsurl=1&viewmodel=ReadMessageItem"


# One selectable property at a time, for `$select` (a list view asks for five of thirty): the `Message`
# attributes it reads (what the store must fill, see `fields_for`) and its JSON value — the same value
# `properties` writes; tests/api/test_select_lists.py compares the two for random `$select` sets.
_SELECTED: dict[str, tuple[tuple[str, ...], Callable[[Message, str], Any]]] = {
    "id": (("rest_id",), lambda m, b: m.rest_id),
    "createdDateTime": (("created_at",), lambda m, b: timestamp(m.created_at)),
    "lastModifiedDateTime": (("modified_at",), lambda m, b: timestamp(m.modified_at)),
    "changeKey": (("change_key",), lambda m, b: m.change_key),
    "categories": (("categories",), lambda m, b: m.categories),
    "receivedDateTime": (("received_at",), lambda m, b: timestamp(m.received_at)),
    "sentDateTime": (("sent_at",), lambda m, b: timestamp(m.sent_at)),
    "hasAttachments": (("has_attachments",), lambda m, b: m.has_attachments),
    "internetMessageId": (("internet_message_id",), lambda m, b: m.internet_message_id),
    "subject": (("subject",), lambda m, b: m.subject),
    "bodyPreview": (("body_preview",), lambda m, b: m.body_preview),
    "importance": (("importance",), lambda m, b: m.importance),
    "parentFolderId": (("folder_id",), lambda m, b: m.folder_id),
    "conversationId": (("conversation_id",), lambda m, b: m.conversation_id),
    "conversationIndex": (("conversation_index",), lambda m, b: m.conversation_index),
    "isDeliveryReceiptRequested": (
        ("is_delivery_receipt_requested",),
        lambda m, b: m.is_delivery_receipt_requested,
    ),
    "isReadReceiptRequested": (("is_read_receipt_requested",), lambda m, b: m.is_read_receipt_requested),
    "isRead": (("is_read",), lambda m, b: m.is_read),
    "isDraft": (("is_draft",), lambda m, b: m.is_draft),
    "webLink": (("rest_id",), _web_link),
    "inferenceClassification": (("inference_classification",), lambda m, b: m.inference_classification),
    "body": (("body",), lambda m, b: _item_body(m)),
    "uniqueBody": (("body",), lambda m, b: _item_body(m)),
    "sender": (("sender",), lambda m, b: recipient(m.sender)),
    "from": (("from_",), lambda m, b: recipient(m.from_)),
    "toRecipients": (("to",), lambda m, b: recipients(m.to)),
    "ccRecipients": (("cc",), lambda m, b: recipients(m.cc)),
    "bccRecipients": (("bcc",), lambda m, b: recipients(m.bcc)),
    "replyTo": (("reply_to",), lambda m, b: recipients(m.reply_to)),
    "flag": (("flag",), lambda m, b: _flag(m.flag)),
}


def fields_for(select: tuple[str, ...] | None) -> frozenset[str] | None:
    """The `Message` attributes `message_json(…, select)` reads (for `Page.fields`); None: all of them.

    `internetMessageHeaders` of a sent or received item is rebuilt from most of the message (its MIME
    header block), so it asks for everything; so does any name this module does not know.
    """
    if select is None:
        return None
    out: set[str] = {"change_key", "rest_id"}  # @odata.etag and id are always written
    for name in select:
        found = _SELECTED.get(name)
        if found is None:
            return None
        out.update(found[0])
    return frozenset(out)


def message_json(
    m: Message, base_url: str, version: str, select: tuple[str, ...] | None = None, hide_body: bool = False
) -> dict[str, Any]:
    """A message as Graph returns it; with `select`, only `@odata.etag`, `id` and the selected properties.

    A `$select` writes only what it names, property by property (`_SELECTED`): building all thirty
    default properties of every listed item to keep five was most of a list view's serialising cost.
    """
    if select is None:
        out = properties(m, base_url, version)
    else:
        out = {"@odata.etag": f'W/"{m.change_key}"', "id": m.rest_id}
        for name in select:
            found = _SELECTED.get(name)
            if found is not None:
                out[name] = found[1](m, base_url)
            elif name == "internetMessageHeaders":
                # Spec §3.1: a draft shows its custom x- headers; a sent or received item the full
                # header block of its MIME (mime.compose; Bcc never shown here).
                shown = m.headers if m.is_draft else transport_headers(m)
                out[name] = [{"name": h.name, "value": h.value} for h in shown]
            else:
                full = properties(m, base_url, version)  # beta's extra defaults, when selected
                if name in full:
                    out[name] = full[name]
    if hide_body:
        # Mail.ReadBasic hides body, bodyPreview and uniqueBody (spec §2.4).
        for name in _BODY_HIDDEN:
            out.pop(name, None)
    return out


def message_list_json(
    items: list[Message], base_url: str, version: str, select: tuple[str, ...] | None, hide_body: bool
) -> list[dict[str, Any]]:
    """`message_json` of every item of a list page; a `$select` is resolved to its writers once per page."""
    if select is None or not all(name in _SELECTED for name in select):
        return [message_json(m, base_url, version, select, hide_body) for m in items]
    writers = [(n, _SELECTED[n][1]) for n in select if not (hide_body and n in _BODY_HIDDEN)]
    out = []
    for m in items:
        shown = {"@odata.etag": f'W/"{m.change_key}"', "id": m.rest_id}
        for name, write in writers:
            shown[name] = write(m, base_url)
        out.append(shown)
    return out


# Graph property name -> MessageChanges field, for the writable properties.
_WRITABLE = {
    "subject": "subject",
    "body": "body",
    "importance": "importance",
    "inferenceClassification": "inference_classification",
    "from": "from_",
    "sender": "sender",
    "toRecipients": "to",
    "ccRecipients": "cc",
    "bccRecipients": "bcc",
    "replyTo": "reply_to",
    "categories": "categories",
    "flag": "flag",
    "internetMessageHeaders": "headers",
    "internetMessageId": "internet_message_id",
    "isRead": "is_read",
    "isDeliveryReceiptRequested": "is_delivery_receipt_requested",
    "isReadReceiptRequested": "is_read_receipt_requested",
}
_READ_ONLY = frozenset(
    {
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "receivedDateTime",
        "sentDateTime",
        "hasAttachments",
        "bodyPreview",
        "uniqueBody",
        "parentFolderId",
        "conversationId",
        "conversationIndex",
        "isDraft",
        "webLink",
    }
)
_BETA_READ_ONLY = frozenset({"mentionsPreview", "unsubscribeData", "unsubscribeEnabled"})
# Real message properties this server does not store yet: refused loudly, never accepted and dropped.
_NOT_YET = frozenset({"extensions", "mentions"})
_EXTENDED = {"singleValueExtendedProperties": "single", "multiValueExtendedProperties": "multi"}
_IMPORTANCE = {"low": "low", "normal": "normal", "high": "high"}
_INFERENCE = {"focused": "focused", "other": "other"}
_FLAG_STATUS = {"notflagged": "notFlagged", "flagged": "flagged", "complete": "complete"}


def _enum(value: object, prop: str, allowed: dict[str, str]) -> str:
    # spec §0.4: enums are matched case-insensitively on input.
    if not isinstance(value, str) or value.lower() not in allowed:
        bad_value(prop)
    return allowed[value.lower()]


def _body(value: object) -> ItemBody:
    if not isinstance(value, dict):
        bad_value("body")
    kind, content = "text", ""
    for key, item in value.items():
        if key == "contentType":
            kind = _enum(item, "body.contentType", {"text": "text", "html": "html"})
        elif key == "content":
            content = "" if item is None else string(item, "body.content")
        elif not key.startswith("@odata."):
            unknown_property(key, "itemBody")
    return ItemBody("html" if kind == "html" else "text", content)


def _dttz(value: object, prop: str) -> DateTimeTimeZone | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        bad_value(prop)
    date_time = value.get("dateTime")
    zone = value.get("timeZone", "UTC")
    if set(value) - {"dateTime", "timeZone", "@odata.type"}:
        unknown_property(next(iter(set(value) - {"dateTime", "timeZone", "@odata.type"})), "dateTimeTimeZone")
    return DateTimeTimeZone(string(date_time, f"{prop}.dateTime"), string(zone, f"{prop}.timeZone"))


def _flag_in(value: object) -> FollowupFlag:
    if not isinstance(value, dict):
        bad_value("flag")
    status: FlagStatus = "notFlagged"
    parts: dict[str, DateTimeTimeZone | None] = {}
    for key, item in value.items():
        if key == "flagStatus":
            status = cast(FlagStatus, _enum(item, "flag.flagStatus", _FLAG_STATUS))
        elif key in ("startDateTime", "dueDateTime", "completedDateTime"):
            parts[key] = _dttz(item, f"flag.{key}")
        elif not key.startswith("@odata."):
            unknown_property(key, "followupFlag")
    return FollowupFlag(
        status, parts.get("startDateTime"), parts.get("dueDateTime"), parts.get("completedDateTime")
    )


def _headers(value: object) -> list[InternetMessageHeader]:
    if not isinstance(value, list):
        bad_value("internetMessageHeaders")
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"name", "value", "@odata.type"}:
            bad_value("internetMessageHeaders")
        out.append(
            InternetMessageHeader(
                string(item.get("name"), "internetMessageHeaders.name"),
                string(item.get("value", ""), "internetMessageHeaders.value"),
            )
        )
    return out


def _value(prop: str, value: object) -> object:
    match prop:
        case "subject" | "internetMessageId":
            return "" if value is None and prop == "subject" else string(value, prop)
        case "body":
            return _body(value)
        case "importance":
            return cast(Importance, _enum(value, prop, _IMPORTANCE))
        case "inferenceClassification":
            return cast(Inference, _enum(value, prop, _INFERENCE))
        case "from" | "sender":
            return None if value is None else email_address(value, prop)
        case "toRecipients" | "ccRecipients" | "bccRecipients" | "replyTo":
            return address_list(value, prop)
        case "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                bad_value(prop)
            return list(value)
        case "flag":
            return _flag_in(value)
        case "internetMessageHeaders":
            return _headers(value)
        case _:
            return boolean(value, prop)


def _extended(prop: str, value: object) -> list[StoredProperty]:
    """`[{"id": "String {guid} Name X", "value": "…"}]` (multi: `"value": ["…"]`), checked by domain/extended.py."""
    if not isinstance(value, list):
        bad_value(prop)
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"id", "value", "@odata.type"}:
            bad_value(prop)
        prop_id, data = item.get("id"), item.get("value")
        if not isinstance(prop_id, str):
            bad_value(f"{prop}.id")
        if prop == "singleValueExtendedProperties":
            if not isinstance(data, str):
                bad_value(f"{prop}.value")
            out.append(extended.single_value(prop_id, data))
        else:
            if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
                bad_value(f"{prop}.value")
            out.append(extended.multi_value(prop_id, data))
    return out


def parse_message(data: dict[str, Any], version: str, *, extended_ok: bool = False) -> MessageChanges:
    """A JSON message body → typed changes; shape errors are Graph 400s (spec §5).

    Raises:
        GraphError: RequestBodyRead for unknown properties, BadRequest for wrong types,
            ErrorInvalidPropertySet for read-only properties.
    """
    changes = MessageChanges()
    for prop, value in data.items():
        if prop.startswith("@odata."):
            continue  # client-wire fact 5: Kiota adds "@odata.type" to every message body
        field = _WRITABLE.get(prop)
        if field is not None:
            setattr(changes, field, _value(prop, value))
        elif prop in _READ_ONLY or (version == "beta" and prop in _BETA_READ_ONLY):
            raise GraphError(
                400, "ErrorInvalidPropertySet", f"The property '{prop}' is read-only and cannot be set."
            )
        elif prop == "attachments":
            # Inline attachments of create/sendMail (spec §2.2); the handler stages their bytes.
            from mailgraph.api.serialize.attachments import parse_attachments  # imports this module

            changes.attachments = parse_attachments(value, version)
        elif prop in _EXTENDED and not extended_ok:
            # Only create, PATCH and sendMail store them; elsewhere (reply bodies, item attachments)
            # they are refused rather than dropped.
            raise GraphError(400, "ErrorInvalidRequest", f"The property '{prop}' is not supported here.")
        elif prop in _EXTENDED:
            found = [] if isinstance(changes.extended_properties, Unset) else changes.extended_properties
            changes.extended_properties = found + _extended(prop, value)
        elif prop in _NOT_YET:
            raise GraphError(
                400, "ErrorInvalidRequest", f"The property '{prop}' is not supported by this server yet."
            )
        else:
            unknown_property(prop, "message")
    return changes
