"""Upload sessions for large attachments (spec §2.12): createUploadSession, then PUT chunks, DELETE.

`POST …/messages/{id}/attachments/createUploadSession` (Mail.ReadWrite) answers 201 with an
`uploadUrl` on this server: `{scheme://host}/upload/{version}/attachmentSessions/{id}?authtoken=…`,
built from the host the client called (like nextLinks). That URL is served by `handle_upload` (the
`upload` mount of api/mounts.py, no bearer check): it needs no Authorization header, as in Graph; the
token it carries is checked against the session instead.

Chunk answers: 200 `{expirationDateTime, nextExpectedRanges}` while bytes are missing, and 201 with
`Location` (the new attachment's URL) and no body for the last one (outlook-large-attachments.md).
`nextExpectedRanges` lists `"{next}-{last}"` (the initial answer `"0-"`, as Graph writes it).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, quote

from mailgraph.api.context import Ctx, Services, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import VERSIONS, Match
from mailgraph.api.serialize.values import bad_value, boolean, read_json, string, unknown_property
from mailgraph.domain.errors import UploadRangeError
from mailgraph.domain.model import SECOND, AttachmentKind, Timestamp, UploadSession
from mailgraph.domain.uploads import UploadSpec
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

_RANGE = re.compile(r"^\s*bytes\s+(\d{1,12})-(\d{1,12})/(\d{1,12})\s*$", re.IGNORECASE)
_KINDS: dict[str, AttachmentKind] = {"file": "file", "item": "item", "reference": "reference"}
_ITEM_PROPS = {
    "attachmenttype": "attachmentType",
    "name": "name",
    "size": "size",
    "contenttype": "contentType",
    "isinline": "isInline",
    "contentid": "contentId",
}


def expiration(value: Timestamp) -> str:
    """UTC with 7 fractional digits, as Graph writes upload-session times (spec §0.4)."""
    seconds, micros = divmod(value, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}0Z"


def _spec(data: dict[str, Any]) -> UploadSpec:
    item: object = None
    for key, value in data.items():
        if key.lower() == "attachmentitem":  # the docs capitalise it; accept any case (spec §2.12)
            item = value
        elif not key.startswith("@odata."):
            unknown_property(key, "createUploadSession")
    if not isinstance(item, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The 'AttachmentItem' parameter is required.")
    found: dict[str, object] = {}
    for key, value in item.items():
        prop = _ITEM_PROPS.get(key.lower())
        if prop is None:
            if key.startswith("@odata."):
                continue
            unknown_property(key, "attachmentItem")
        found[prop] = value
    kind = found.get("attachmentType", "file")
    if not isinstance(kind, str) or kind.lower() not in _KINDS:
        bad_value("attachmentType")
    size = found.get("size")
    if not isinstance(size, int) or isinstance(size, bool):
        raise GraphError(400, "ErrorInvalidRequest", "AttachmentItem.size (the total bytes) is required.")
    name = found.get("name")
    if name is None:
        raise GraphError(400, "ErrorInvalidRequest", "AttachmentItem.name is required.")
    content_type, content_id = found.get("contentType"), found.get("contentId")
    return UploadSpec(
        attachment_type=_KINDS[kind.lower()],
        name=string(name, "name"),
        size=size,
        content_type=None if content_type is None else string(content_type, "contentType") or None,
        is_inline=found.get("isInline") is not None and boolean(found.get("isInline"), "isInline"),
        content_id=None if content_id is None else string(content_id, "contentId"),
    )


async def create_upload_session(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/attachments/createUploadSession: 201 with the session (spec §2.12)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    spec = _spec(read_json(req, required=True) or {})
    folder_key = m.keys[0] if len(m.keys) == 2 else None
    created = await ctx.services.uploads.create(ctx.actor, m.user_key, m.keys[-1], folder_key, spec)
    url = (
        f"{req.base_url}/upload/{m.version}/attachmentSessions/{created.session.id}"
        f"?authtoken={quote(created.token, safe='')}"
    )
    body = {
        "@odata.context": ctx.context("microsoft.graph.uploadSession"),
        "uploadUrl": url,
        "expirationDateTime": expiration(created.session.expires_at),
        "nextExpectedRanges": ["0-"],
    }
    return json_response(body, 201)


def _session_json(session: UploadSession) -> dict[str, object]:
    return {
        "expirationDateTime": expiration(session.expires_at),
        "nextExpectedRanges": [f"{session.received}-{session.size - 1}"],
    }


async def handle_upload(req: Request, services: Services, parts: list[str]) -> Response:
    """`PUT|DELETE /upload/{version}/attachmentSessions/{id}?authtoken=…` (no Authorization)."""
    if len(parts) != 4 or parts[1].lower() not in VERSIONS or parts[2].lower() != "attachmentsessions":
        raise GraphError(404, "ResourceNotFound", "Resource not found for the segment 'upload'.")
    version, session_id = parts[1].lower(), parts[3]
    token = (parse_qs(req.query).get("authtoken") or [""])[0]
    if req.method == "DELETE":
        await services.uploads.cancel(session_id, token)
        return no_content()
    if req.method != "PUT":
        raise GraphError(
            405,
            "BadRequest",
            f"The HTTP method '{req.method}' is not allowed on this resource.",
            [(b"allow", b"DELETE, PUT")],
        )
    found = _RANGE.match(req.headers.get("content-range", ""))
    if found is None:
        raise UploadRangeError("A chunk needs a 'Content-Range: bytes {start}-{end}/{total}' header.")
    start, end, total = (int(g) for g in found.groups())
    result = await services.uploads.put_chunk(session_id, token, start, end, total, req.body)
    if result.session is not None:
        return json_response(_session_json(result.session))
    attachment = result.attachment
    assert attachment is not None
    location = (
        f"{req.base_url}/{version}/users('{result.mailbox_id}')/messages('{quote(result.message_rest_id, safe='')}')"
        f"/attachments('{quote(attachment.id, safe='')}')"
    )
    return Response(201, b"", None, [(b"location", location.encode())])
