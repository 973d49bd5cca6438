"""Graph attachment JSON (spec §2.11, §3.4, §7): request bodies → `NewAttachment`, attachments → JSON.

`@odata.type` is the discriminator (spec §0.4), matched case-insensitively with or without `#`.
An itemAttachment's `item` is validated as a message body and stored as its RFC 5322 MIME (composed
with `mime.compose`), which is what `$value` returns and what the relay attaches as message/rfc822.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, NoReturn

from mailgraph.api.errors import GraphError
from mailgraph.api.serialize.values import bad_value, boolean, string, timestamp, unknown_property
from mailgraph.domain.mime_items import attached_item_mime
from mailgraph.domain.model import Attachment, AttachmentKind, NewAttachment, ReferenceInfo, now

TYPES: dict[str, AttachmentKind] = {
    "microsoft.graph.fileattachment": "file",
    "microsoft.graph.itemattachment": "item",
    "microsoft.graph.referenceattachment": "reference",
}
ODATA_TYPE = {
    "file": "#microsoft.graph.fileAttachment",
    "item": "#microsoft.graph.itemAttachment",
    "reference": "#microsoft.graph.referenceAttachment",
}
_COMMON = frozenset({"name", "contentType", "isInline", "size"})
_READ_ONLY = frozenset({"id", "lastModifiedDateTime"})
_FILE = frozenset({"contentBytes", "contentId", "contentLocation"})
# spec §7: beta-only referenceAttachment properties (v1.0 has none: RequestBodyRead there).
_REFERENCE_BETA = {
    "sourceUrl": "source_url",
    "providerType": "provider_type",
    "permission": "permission",
    "isFolder": "is_folder",
    "previewUrl": "preview_url",
    "thumbnailUrl": "thumbnail_url",
}
_PROVIDERS = {p.lower(): p for p in ("other", "oneDriveBusiness", "oneDriveConsumer", "dropbox")}
_PERMISSIONS = {
    p.lower(): p
    for p in (
        "other",
        "view",
        "edit",
        "anonymousView",
        "anonymousEdit",
        "organizationView",
        "organizationEdit",
    )
}
_BASE64 = re.compile(rb"^[A-Za-z0-9+/\s]*={0,2}\s*$")


def _type_of(data: dict[str, Any]) -> AttachmentKind:
    raw = data.get("@odata.type")
    if raw is None:
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "The attachment needs an '@odata.type' (#microsoft.graph.fileAttachment, itemAttachment or"
            " referenceAttachment).",
        )
    kind = TYPES.get(str(raw).lstrip("#").lower())
    if kind is None:
        raise GraphError(
            400,
            "RequestBodyRead",
            f"A type named '{str(raw).lstrip('#')}' could not be resolved by the model. When a model is"
            " available, each type name must resolve to a valid type.",
        )
    return kind


def decode_content(value: object) -> bytes:
    """contentBytes: strict base64 (whitespace allowed, as wrapped encoders produce)."""
    if not isinstance(value, str):
        bad_value("contentBytes")
    raw = value.encode("ascii", "replace")
    if not _BASE64.match(raw):
        bad_value("contentBytes")
    try:
        return base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        bad_value("contentBytes")


def _missing_content() -> NoReturn:
    # client-wire: @microsoft/msgraph-sdk (TS) preview.90 drops contentBytes; say so plainly.
    raise GraphError(
        400,
        "ErrorRequiredPropertyMissing",
        "The fileAttachment has no 'contentBytes'. Send the file's bytes base64-encoded in 'contentBytes'"
        " (some SDK versions omit it; see docs/graph-coverage.md), or use createUploadSession.",
    )


def _reference(data: dict[str, Any], version: str) -> ReferenceInfo | None:
    found: dict[str, Any] = {}
    for prop, field in _REFERENCE_BETA.items():
        if prop not in data:
            continue
        value = data[prop]
        if version != "beta":
            unknown_property(prop, "referenceAttachment")
        if value is None:
            found[field] = None
        elif prop == "isFolder":
            found[field] = boolean(value, prop)
        elif prop in ("providerType", "permission"):
            table = _PROVIDERS if prop == "providerType" else _PERMISSIONS
            if not isinstance(value, str) or value.lower() not in table:
                bad_value(prop)
            found[field] = table[value.lower()]
        else:
            found[field] = string(value, prop)
    return ReferenceInfo(**found) if version == "beta" else None


def parse_attachment(data: object, version: str, prop: str = "attachment") -> NewAttachment:
    """A JSON attachment → `NewAttachment` (bytes decoded, not yet stored).

    Raises:
        GraphError: unknown/missing @odata.type, unknown or read-only property, wrong value type,
            missing or malformed contentBytes, a bad item.
    """
    from mailgraph.api.serialize.messages import parse_message  # messages imports this module

    if not isinstance(data, dict):
        bad_value(prop)
    kind = _type_of(data)
    type_name = ODATA_TYPE[kind][len("#microsoft.graph.") :]
    allowed = _COMMON | (_FILE if kind == "file" else {"item"} if kind == "item" else set(_REFERENCE_BETA))
    for key in data:
        if key.startswith("@odata."):
            continue
        if key in _READ_ONLY:
            raise GraphError(
                400, "ErrorInvalidPropertySet", f"The property '{key}' is read-only and cannot be set."
            )
        if key not in allowed:
            unknown_property(key, type_name)
    name = "" if data.get("name") is None else string(data["name"], "name")
    content_type = None if data.get("contentType") is None else string(data["contentType"], "contentType")
    inline = data.get("isInline")
    new = NewAttachment(kind, name, content_type or None, inline is not None and boolean(inline, "isInline"))
    if kind == "file":
        if data.get("contentBytes") is None:
            _missing_content()
        new.data = decode_content(data["contentBytes"])
        new.content_id = None if data.get("contentId") is None else string(data["contentId"], "contentId")
        location = data.get("contentLocation")
        new.content_location = None if location is None else string(location, "contentLocation")
    elif kind == "item":
        item = data.get("item")
        if not isinstance(item, dict):
            raise GraphError(400, "ErrorRequiredPropertyMissing", "The itemAttachment has no 'item'.")
        item_type = str(item.get("@odata.type", "microsoft.graph.message")).lstrip("#").lower()
        if item_type != "microsoft.graph.message":
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                f"Attached items of type '{item_type}' are not supported; only messages.",
            )
        new.data = attached_item_mime(parse_message(item, version), now())
        new.name = new.name or str(item.get("subject") or "Untitled")
    else:
        new.reference = _reference(data, version)
    size = data.get("size")
    if size is not None and (not isinstance(size, int) or (new.data is not None and size != len(new.data))):
        bad_value("size")
    if kind == "reference" and isinstance(size, int):
        new.size = size
    return new


def parse_attachments(value: object, version: str) -> list[NewAttachment]:
    """The `attachments` array of a create or sendMail message body."""
    if not isinstance(value, list):
        bad_value("attachments")
    return [parse_attachment(item, version, "attachments") for item in value]


def attachment_json(a: Attachment, version: str, content: bytes | None = None) -> dict[str, Any]:
    """An attachment as Graph returns it; `content` (file bytes) becomes `contentBytes`."""
    out: dict[str, Any] = {
        "@odata.type": ODATA_TYPE[a.kind],
        "@odata.mediaContentType": a.content_type,
        "id": a.id,
        "lastModifiedDateTime": timestamp(a.modified_at),
        "name": a.name,
        "contentType": a.content_type,
        "size": a.size,
        "isInline": a.is_inline,
    }
    if a.kind == "file":
        out["contentId"] = a.content_id
        out["contentLocation"] = a.content_location
        if content is not None:
            out["contentBytes"] = base64.b64encode(content).decode("ascii")
    elif a.kind == "reference" and version == "beta":
        ref = a.reference or ReferenceInfo()
        for prop, field in _REFERENCE_BETA.items():
            out[prop] = getattr(ref, field)
    return out
